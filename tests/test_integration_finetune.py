"""The real embedded MiniLM encoder, a few steps on a small SciERC sample, then evaluate and predict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_finetune_evaluate_predict_on_scierc_sample(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from enpar.cli import main
    from enpar.metrics import score
    from enpar.readers import read_dataset
    from enpar.schema import read_jsonl, write_jsonl

    monkeypatch.setenv("ENPAR_THREADS", "2")
    scierc = shared_data / "scierc"
    train = read_dataset(scierc / "train.json")[:32]
    dev = read_dataset(scierc / "dev.json")[:16]
    test = read_dataset(scierc / "test.json")[:16]
    for name, part in (("train", train), ("dev", dev), ("test", test)):
        write_jsonl(part, tmp_path / f"{name}.jsonl")
    run = tmp_path / "run"
    rc = main(
        [
            "finetune",
            "--train",
            str(tmp_path / "train.jsonl"),
            "--dev",
            str(tmp_path / "dev.jsonl"),
            "--out",
            str(run),
            "--preset",
            "scierc-cpu",
            "--epochs",
            "3",
            "--seed",
            "1",
            "--set",
            "eval_from_epoch=3",
            "--no-progress",
        ]
    )
    assert rc == 0
    epochs = [json.loads(x) for x in (run / "dev_metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["train_loss"] < 0.8 * epochs[0]["train_loss"]  # it learns
    assert "dev" in epochs[-1] and (run / "best" / "model.safetensors").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "scierc-cpu" and config["finetune"]["batch_size"] == 8
    assert json.loads((run / "best" / "decoding.json").read_text()) == {"document_type_vote": True}

    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                str(run / "best"),
                str(tmp_path / "test.jsonl"),
                "--out",
                str(out),
                "--no-progress",
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )
    preds = read_jsonl(out / "predictions.jsonl")
    assert [p.id for p in preds] == [s.id for s in test]
    assert all(p.tokens == s.tokens for p, s in zip(preds, test, strict=True))
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads((out / "progress.json").read_text())["stage"] == "done"
    direct = score(test, preds)
    assert direct["entity"]["micro"]["n_gold"] == sum(len(s.entities) for s in test)  # nothing dropped
    assert metrics["source"]["document_type_vote"] is True  # the preset's decoding, from decoding.json

    text = tmp_path / "abstract.txt"
    text.write_text("We present a statistical parser for English. It is evaluated on the Penn Treebank.")
    assert main(["predict", str(run / "best"), "--file", str(text), "--out", str(tmp_path / "p.jsonl")]) == 0
    predicted = read_jsonl(tmp_path / "p.jsonl")
    assert len(predicted) == 2 and predicted[0].tokens[:2] == ("We", "present")
