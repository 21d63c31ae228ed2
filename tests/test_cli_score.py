"""`enpar score`: tables on stdout, the JSON report, symmetric-label defaults and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enpar import metrics
from enpar.cli import main
from enpar.commands.score import parse_edges, system_names
from enpar.schema import Entity, Relation, Sentence, write_jsonl


def _sentence(sid: str, labels: tuple[str, str], relation: str | None, reverse: bool = False) -> Sentence:
    a, b = Entity(0, 1, labels[0]), Entity(3, 4, labels[1])
    head, tail = (b, a) if reverse else (a, b)
    rels = (Relation(head, tail, relation),) if relation else ()
    return Sentence(sid, ("x", "y", "z", "u", "v"), (a, b), rels)


GOLD = [
    _sentence("s1", ("Method", "Task"), "USED-FOR"),
    _sentence("s2", ("Method", "Method"), "COMPARE"),
    _sentence("s3", ("Task", "Task"), None),
]
PRED = [
    _sentence("s1", ("Method", "Task"), "USED-FOR"),
    _sentence("s2", ("Method", "Method"), "COMPARE", True),
    _sentence("s3", ("Task", "Task"), "PART-OF"),
]


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "scierc"  # a SciERC-like path: COMPARE and CONJUNCTION are symmetric by default
    out = {
        "gold": root / "test.jsonl",
        "pred": tmp_path / "runs" / "a" / "predictions.jsonl",
        "vs": tmp_path / "runs" / "b" / "predictions.jsonl",
    }
    write_jsonl(GOLD, out["gold"])
    write_jsonl(PRED[::-1], out["pred"])  # any order: aligned by id
    write_jsonl(GOLD, out["vs"])
    return out


def test_score_prints_tables_and_writes_json(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "metrics.json"
    rc = main(["score", str(files["gold"]), str(files["pred"]), "--json", str(out), "--bootstrap", "50"])
    assert rc == 0
    text = capsys.readouterr().out
    for needle in (
        "== Overall",
        "== Per type: relation ==",
        "== Breakdown by length",
        "== Relation error taxonomy",
        "symmetric labels: COMPARE, CONJUNCTION",
        "50 resamples",
    ):
        assert needle in text, needle
    assert "Paired test" not in text
    rep = json.loads(out.read_text())
    assert rep == json.loads(
        json.dumps(
            metrics.report(
                GOLD, PRED, names=["predictions"], n_bootstrap=50, symmetric_labels={"COMPARE", "CONJUNCTION"}
            )
        )
    )
    rel = rep["systems"]["predictions"]["scores"]["relation"]["micro"]
    assert (rel["tp"], rel["n_pred"], rel["n_gold"]) == (1, 3, 2)  # directed: reversed COMPARE is wrong
    assert rep["systems"]["predictions"]["taxonomy"]["pred"]["reversed"] == 1


def test_score_symmetric_modes_and_labels(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    args = ["score", str(files["gold"]), str(files["pred"]), "--json", str(out), "--bootstrap", "0"]

    def relation_tp(*extra: str) -> int:
        assert main([*args, *extra]) == 0
        return json.loads(out.read_text())["systems"]["predictions"]["scores"]["relation"]["micro"]["tp"]

    assert relation_tp() == 1
    assert relation_tp("--symmetric", "unordered") == 2  # the dataset default makes COMPARE symmetric
    assert relation_tp("--symmetric", "unordered", "--symmetric-labels") == 1  # none given: none symmetric
    assert relation_tp("--symmetric", "unordered", "--symmetric-labels", "USED-FOR,COMPARE") == 2
    assert json.loads(out.read_text())["settings"]["symmetric_labels"] == ["COMPARE", "USED-FOR"]
    assert relation_tp("--symmetric", "doubled", "--edges", "distance=1,4", "--no-items") == 3
    rep = json.loads(out.read_text())
    assert rep["breakdowns"]["distance"]["edges"] == [1, 4]
    assert rep["systems"]["predictions"]["taxonomy"]["items"] == []


def test_score_vs_runs_the_paired_test(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    rc = main(
        [
            "score",
            str(files["gold"]),
            str(files["pred"]),
            "--vs",
            str(files["vs"]),
            "--bootstrap",
            "40",
            "--test",
            "bootstrap",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "== Paired test on F1, A - B (paired bootstrap" in text and "F1 a/predictions" in text
    rep = json.loads(out.read_text())
    assert list(rep["systems"]) == ["a/predictions", "b/predictions"]
    test = rep["paired_test"]["relation"]
    assert test["value_b"] == 1.0 and test["delta"] < 0 and 0 < test["p_value"] <= 1
    assert (
        main(
            [
                "score",
                str(files["gold"]),
                str(files["pred"]),
                "--vs",
                str(files["vs"]),
                "--bootstrap",
                "0",
                "--names",
                "mine",
                "oracle",
            ]
        )
        == 0
    )
    assert "F1 oracle" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--edges", "width=1,2"], "--edges 'width=1,2'"),
        (["--edges", "distance=3,2"], "strictly increasing"),
        (["--edges", "distance=a"], "integers"),
        (["--bootstrap", "-5"], "at least 1"),
        (["--names", "a", "b"], "--names needs 1"),
    ],
)
def test_score_bad_options(
    files: dict[str, Path], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", str(files["gold"]), str(files["pred"]), *extra]) == 2
    assert message in capsys.readouterr().err


def test_score_mismatched_sentences(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "partial.jsonl"
    write_jsonl(PRED[:2], partial)
    assert main(["score", str(files["gold"]), str(partial)]) == 2
    assert "'s3'" in capsys.readouterr().err
    assert main(["score", str(files["gold"]), str(tmp_path / "missing.jsonl")]) == 2


def test_helpers() -> None:
    assert parse_edges(["distance=1,2,5", "length=1, 21"]) == {"distance": [1, 2, 5], "length": [1, 21]}
    assert system_names([Path("x/a.jsonl"), Path("y/b.jsonl")]) == ["a", "b"]
    assert system_names([Path("x/p.jsonl"), Path("y/p.jsonl")]) == ["x/p", "y/p"]
    assert system_names([Path("p.jsonl")]) == ["p"]


def test_score_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--help"])
    assert exit_info.value.code == 0
    assert "--symmetric-labels" in capsys.readouterr().out


def test_score_files_without_ids_line_up_by_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two files with no sentence ids get ids from their own names, so none match; same tokens in the same
    # order still score, and the command says how it lined them up.
    def unified(sents: list[Sentence], path: Path) -> Path:
        rows = [
            {"tokens": list(s.tokens), "entities": [[e.start, e.end, e.label] for e in s.entities]}
            for s in sents
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    gold = unified(GOLD, tmp_path / "gold" / "test.json")
    pred = unified(PRED, tmp_path / "other" / "pred.json")
    assert main(["score", str(gold), str(pred), "--bootstrap", "0"]) == 0
    out = capsys.readouterr()
    assert "by position" in out.err and "6 gold entities" in out.out
    fewer = unified(PRED[:2], tmp_path / "other" / "fewer.json")
    assert main(["score", str(gold), str(fewer)]) == 2
    assert "by position, 2 sentences against 3 in gold" in capsys.readouterr().err
