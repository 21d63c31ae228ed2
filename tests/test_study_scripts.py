"""The study helpers: the 10% split list, the subset it writes, the paired intervals and verdict words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studio_helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_verdict_words_follow_the_interval() -> None:
    report = load_script("study_report")
    assert report.interval([0.02, 0.03, 0.025, 0.028])["verdict"] == "gain"
    assert report.interval([-0.02, -0.03, -0.025, -0.028])["verdict"] == "loss"
    assert report.interval([0.02, -0.01, 0.015, -0.02])["verdict"] == "no detectable difference"
    out = report.interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2) = 4.303
    assert out["ci95"] == pytest.approx([2 - 4.303 / 3**0.5, 2 + 4.303 / 3**0.5])
    assert report.interval([0.5])["verdict"] == "too few seeds"


def test_subset_by_document(tmp_path: Path) -> None:
    subset = load_script("subset_docs")
    source = tmp_path / "train.json"
    docs = [{"doc_key": f"d{i}", "sentences": [["a"]] * (i + 1)} for i in range(20)]
    source.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    listing = tmp_path / "ten.txt"
    assert (
        subset.main(
            [str(listing), "--source", str(source), "--make", "0.1", "--out", str(tmp_path / "a.json")]
        )
        == 0
    )
    keys = [ln for ln in listing.read_text().splitlines() if not ln.startswith("#")]
    assert len(keys) == 2
    got = [json.loads(x)["doc_key"] for x in (tmp_path / "a.json").read_text().splitlines()]
    assert sorted(got) == sorted(keys)
    listing.write_text("d1\nnope\n")
    assert subset.main([str(listing), "--source", str(source), "--out", str(tmp_path / "b.json")]) == 2


def test_committed_split_is_ten_percent_of_scierc_train(shared_data: Path) -> None:
    subset = load_script("subset_docs")
    keys = [k for _, k in subset.read_list(ROOT / "splits" / "scierc-train-10pct.txt")]
    train = {k for k, _ in subset.read_docs(shared_data / "scierc" / "train.json")}
    assert len(keys) == len(set(keys)) == round(0.1 * len(train)) and set(keys) <= train
