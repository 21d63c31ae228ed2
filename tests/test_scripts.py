"""The scripts: valid bash; the fine-tuning presets, as the app shows them, are CLI input."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from studio_helpers import load_script

from app.ui import make_checkpoint_commands
from enpar import metrics
from enpar.cli import build_parser
from enpar.commands.finetune import _overrides
from enpar.presets import PRESETS, get_preset, preset_args
from enpar.schema import DataError, Entity, Relation, Sentence

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_args_are_the_presets_settings_as_cli_input(name: str) -> None:
    """preset_args (what the app shows) parses to exactly what --preset NAME gives."""
    parser = build_parser()
    _, shown = _overrides(parser.parse_args(["finetune", "--out", "x", *preset_args(name)]))
    _, preset = _overrides(parser.parse_args(["finetune", "--out", "x", "--preset", name]))
    assert shown == preset == {"epochs": get_preset(name).epochs, **get_preset(name).finetune}


def test_the_apps_checkpoint_commands_are_valid_cli_input() -> None:
    """Every `enpar ...` line the app prints for making checkpoints parses; fine-tuning uses the preset."""
    lines = [ln for ln in make_checkpoint_commands().splitlines() if ln.startswith("enpar ")]
    assert lines
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        if args.command == "finetune":
            assert args.preset == "scierc-cpu"


def test_scripts_fine_tune_through_the_preset() -> None:
    for name in ("finetune_scierc.sh", "demo.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert '--preset "$PRESET"' in text and "finetune_setting" not in text, name


def test_relations_rebuilt_from_a_metrics_report_score_like_the_predictions(tmp_path: Path) -> None:
    # compare_from_results.py runs the paired test on relations rebuilt from test_metrics.json; they must
    # score exactly as the predictions the report was computed from (every convention but entities).
    script = load_script("compare_from_results")
    toks = tuple("abcdefgh")
    e = [Entity(0, 1, "X"), Entity(2, 4, "Y"), Entity(5, 6, "X"), Entity(7, 8, "Y")]
    gold = [
        Sentence("s1", toks, (e[0], e[1], e[2]), (Relation(e[0], e[1], "R"), Relation(e[2], e[1], "S"))),
        Sentence("s2", toks, (e[0], e[3]), (Relation(e[3], e[0], "R"),)),
        Sentence("s3", toks, (e[1],), ()),
    ]
    pred = [
        gold[0].with_predictions(
            [e[0], e[1], e[2], e[3]], [Relation(e[0], e[1], "R"), Relation(e[2], e[3], "S")]
        ),
        gold[1].with_predictions([e[0], Entity(7, 8, "X")], [Relation(Entity(7, 8, "X"), e[0], "R")]),
        gold[2].with_predictions([e[1]], []),
    ]
    path = tmp_path / "test_metrics.json"
    path.write_text(json.dumps(metrics.report(gold, pred, n_bootstrap=0)))
    rebuilt = script.predicted_relations(path, gold)
    assert [s.relations for s in rebuilt] == [s.relations for s in pred]
    for conv in ("relation", "relation_strict"):
        assert metrics.score(gold, rebuilt)[conv] == metrics.score(gold, pred)[conv]

    report = json.loads(path.read_text())
    report["systems"]["A"]["taxonomy"]["items"] = []  # scored with --no-items: nothing to rebuild from
    path.write_text(json.dumps(report))
    with pytest.raises(DataError, match="n_pred"):
        script.predicted_relations(path, gold)


def test_summarize_seeds_reads_metrics_and_rescores_symmetric_relations(tmp_path: Path) -> None:
    # The per-seed summary every fine-tuning script ends with, and the same predictions scored again with a
    # symmetric relation counted in either direction (SpERT's convention): a reversed CONJUNCTION is wrong
    # as the paper counts it and right as SpERT does.
    from enpar.schema import write_jsonl

    script = load_script("summarize_seeds")
    toks = tuple("abcdef")
    a, b, c = Entity(0, 1, "Method"), Entity(2, 3, "Task"), Entity(4, 5, "Method")
    gold = [Sentence("s1", toks, (a, b, c), (Relation(a, c, "CONJUNCTION"), Relation(a, b, "USED-FOR")))]
    gold_path = tmp_path / "scierc" / "test.json"
    write_jsonl(gold, gold_path)
    preds = {
        "1": gold[0].with_predictions([a, b, c], [Relation(c, a, "CONJUNCTION"), Relation(a, b, "USED-FOR")]),
        "2": gold[0].with_predictions([a, b], [Relation(a, b, "USED-FOR")]),
    }
    results = tmp_path / "results"
    for seed, pred in preds.items():
        (results / f"seed{seed}").mkdir(parents=True)
        write_jsonl([pred], results / f"seed{seed}" / "predictions.jsonl")
        report = metrics.report(gold, [pred], n_bootstrap=0)
        (results / f"seed{seed}" / "test_metrics.json").write_text(json.dumps(report))

    assert script.main([str(results), "1", "2"]) == 0
    summary = json.loads((results / "summary.json").read_text())
    # seed 1: relations 1 of 2 right either way; seed 2: 1 of 1 predicted, 1 of 2 gold (F1 2/3)
    assert summary["seeds"]["1"]["relation_strict"] == pytest.approx(50.0)
    assert summary["mean"]["relation_strict"] == pytest.approx(round((50 + 200 / 3) / 2, 2))
    assert summary["mean"]["entity"] == pytest.approx(round((100 + 80) / 2, 2))

    args = [str(results), "1", "2", "--rescore", "predictions.jsonl", "--gold", str(gold_path)]
    assert script.main([*args, "--out", "directed.json"]) == 0
    directed = json.loads((results / "directed.json").read_text())
    assert directed["seeds"] == summary["seeds"]
    assert script.main([*args, "--symmetric", "unordered", "--out", "unordered.json"]) == 0
    unordered = json.loads((results / "unordered.json").read_text())
    assert unordered["seeds"]["1"]["relation_strict"] == pytest.approx(100.0)
    assert unordered["seeds"]["2"] == summary["seeds"]["2"]

    with pytest.raises(SystemExit, match="seed3"):
        script.main([str(results), "1", "3"])
