"""`enpar convert` and `enpar stats` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enpar.cli import main
from enpar.readers import read_dataset
from enpar.schema import read_jsonl


def test_convert_dygie_to_canonical(
    fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out" / "d.jsonl"
    assert main(["convert", str(fixtures_dir / "dygie_small.json"), str(out)]) == 0
    assert read_jsonl(out) == read_dataset(fixtures_dir / "dygie_small.json")
    text = capsys.readouterr().out
    assert "(dygie)" in text and "sentences 3" in text and "entities 5" in text and "relations 3" in text
    assert "1 overlapping entity pairs" in text and "D1:1: nested [4, 9) ORG" in text
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["id"] == "D1:0" and first["entities"] == [[0, 1, "PER"], [3, 5, "ORG"]]


def test_convert_explicit_format_and_overlap_limit(
    fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "many.jsonl"
    line = {"tokens": ["a", "b", "c"], "entities": [[0, 3, "X"], [1, 2, "Y"]], "relations": []}
    src.write_text("".join(json.dumps({**line, "id": str(i)}) + "\n" for i in range(5)), encoding="utf-8")
    assert (
        main(["convert", str(src), str(tmp_path / "o.jsonl"), "--format", "unified", "--max-overlaps", "2"])
        == 0
    )
    text = capsys.readouterr().out
    assert "(canonical)" in text and "5 overlapping entity pairs" in text and "3 more" in text
    assert text.count(": nested [0, 3) X") == 2
    assert main(["convert", str(src), str(tmp_path / "o.jsonl"), "--max-overlaps", "0"]) == 0
    assert capsys.readouterr().out.count(": nested [0, 3) X") == 5


def test_convert_reports_bad_data(fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.jsonl"
    assert main(["convert", str(fixtures_dir / "bad_dygie_relation.json"), str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad_dygie_relation.json:2: field 'relations[1][0]'" in err and not out.exists()
    assert main(["convert", str(tmp_path / "missing.json"), str(out)]) == 2


def test_stats_prints_and_writes_json(
    fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    report = tmp_path / "stats.json"
    paths = [str(fixtures_dir / "dygie_small.json"), str(fixtures_dir / "nere_small.jsonl")]
    assert main(["stats", *paths, "--json", str(report)]) == 0
    text = capsys.readouterr().out
    header = text.splitlines()[0].split()
    assert header == ["split", "fixtures/dygie_small", "fixtures/nere_small", "total"]
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line and line[0].isalpha()}
    assert rows["sentences"] == ["3", "2", "5"] and rows["entities"] == ["5", "5", "10"]
    assert rows["overlaps_nested"] == ["1", "1", "2"] and rows["PER-SOC"] == ["0", "2", "2"]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["total"]["relations"] == 6 and data["total"]["documents"] == 3
    assert data["splits"]["fixtures/nere_small"]["relation_types"] == {"PER-SOC": 2, "PHYS": 1}


def test_stats_single_file_has_no_total(fixtures_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["stats", str(fixtures_dir / "unified_small.jsonl"), "--format", "canonical"]) == 0
    text = capsys.readouterr().out
    assert "total" not in text and text.splitlines()[2].split() == ["documents", "-"]


def test_stats_scierc(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [str(shared_data / "scierc" / f"{s}.json") for s in ("train", "dev", "test")]
    assert main(["stats", *paths]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if line}
    assert rows["sentences"] == ["1,861", "275", "551", "2,687"]
    assert rows["entities"] == ["5,598", "811", "1,685", "8,094"]
    assert rows["relations"] == ["3,219", "455", "974", "4,648"]
    assert rows["COMPARE"] == ["166", "29", "38", "233"]


def test_help_lists_data_commands(capsys: pytest.CaptureFixture) -> None:
    for cmd in ("convert", "stats"):
        with pytest.raises(SystemExit) as info:
            main([cmd, "--help"])
        assert info.value.code == 0
        assert "--format" in capsys.readouterr().out


def test_cli_reports_a_broken_checkpoint_without_a_traceback(tmp_path, capsys) -> None:
    from enpar.cli import main

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text('{"format": "something else"}')
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"")
    assert main(["predict", str(tmp_path / "ckpt"), "Some text."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "config.json" in err and "Traceback" not in err
    assert main(["predict", str(tmp_path / "missing"), "Some text."]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_predict_reports_an_unreadable_text_file_by_name(tmp_path, capsys) -> None:
    from enpar.cli import main

    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    for path, why in ((tmp_path / "latin1.txt", "not UTF-8"), (tmp_path, "cannot read")):
        assert main(["predict", str(tmp_path / "ckpt"), "--file", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: {why}") and "Traceback" not in err
