"""Pre-training heads and losses on a tiny random BERT: shapes, tying, finite losses, the ACD forms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from enpar.objectives import AcdHead, MepHead, MetHead, PpHead, PretrainModel, acd_loss
from enpar.pretrain_data import TASKS, PretrainData, PretrainDataConfig

CORPUS = Path(__file__).parent / "fixtures" / "pretrain_corpus.jsonl"


@pytest.fixture(scope="module")
def parts(tiny_encoder_dir: Path):
    from enpar.encoding import load_tokenizer
    from enpar.model import EnparEncoder
    from enpar.pretrain import pretraining_model_config

    torch.manual_seed(0)
    cfg = pretraining_model_config(encoder=str(tiny_encoder_dir), dropout=0.0)
    tok = load_tokenizer(str(tiny_encoder_dir))
    data = PretrainData(CORPUS, tok, PretrainDataConfig(shuffle_buffer=0), max_pieces=128)
    return EnparEncoder.build(cfg), data


def test_head_shapes() -> None:
    assert MetHead(192, 18).linear.weight.shape == (18, 192)
    assert PpHead(256).linear.weight.shape == (120, 256)
    assert AcdHead(256).linear.weight.shape == (1, 256)
    head = MepHead(32, 50)
    emb = torch.randn(50, 32, requires_grad=True)
    logits = head(torch.randn(7, 32), emb)
    assert logits.shape == (7, 50)
    logits.sum().backward()
    assert emb.grad is not None  # the output weight is the (tied) embedding matrix


def test_acd_loss_forms() -> None:
    neg, pos = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([0.5, 0.0, 3.0])
    # paper: [1 - s+ + s-]_+ = [0.5, 3, 0]
    assert math.isclose(float(acd_loss(neg, pos, "paper")), 3.5 / 3, rel_tol=1e-6)
    # code: relu(5 - |s- - s+|) = [4.5, 3, 1]
    assert math.isclose(float(acd_loss(neg, pos, "code")), 8.5 / 3, rel_tol=1e-6)
    assert math.isclose(float(acd_loss(neg, pos, "paper", margin=2.0)), (1.5 + 4 + 0) / 3, rel_tol=1e-6)
    with pytest.raises(ValueError):
        acd_loss(neg, pos, "hinge")
    # the paper's form is directional: scoring the negative higher is what costs
    assert float(acd_loss(torch.tensor([5.0]), torch.tensor([0.0]))) == 6.0
    assert float(acd_loss(torch.tensor([0.0]), torch.tensor([5.0]))) == 0.0


def test_met_loss_ignores_unknown_types() -> None:
    logits = torch.randn(3, 18)
    labels = torch.tensor([2, -1, 5])
    expect = F.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert torch.allclose(MetHead.loss(logits, labels), expect)
    assert float(MetHead.loss(logits, torch.tensor([-1, -1, -1]))) == 0.0


def test_each_objective_finite_and_backprops(parts) -> None:
    encoder, data = parts
    model = PretrainModel(encoder, TASKS, len(data.labels))
    assert set(model.heads) == set(TASKS)
    for task in TASKS:
        model.zero_grad()
        out = model(data.micro_batch(0, task, 3))
        assert torch.isfinite(out.loss) and out.loss.item() > 0 and out.count > 0
        out.loss.backward()
        head_grads = [p.grad for p in model.heads[task].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
        # every objective trains the sentence encoder
        assert model.encoder.sentence.model.embeddings.word_embeddings.weight.grad is not None
    # untrained: MEP ~ ln(vocab), PP ~ ln(120), MET ~ ln(18)
    with torch.no_grad():
        mep = model(data.micro_batch(0, "mep", 4)).loss.item()
        pp = model(data.micro_batch(0, "pp", 8)).loss.item()
    assert abs(mep - math.log(model.word_embeddings.shape[0])) < 1.0
    assert abs(pp - math.log(120)) < 1.0


def test_mep_equals_scoring_every_position(parts) -> None:
    """Scoring only the masked positions gives the code's loss (all positions scored, masked ones kept)."""
    encoder, data = parts
    model = PretrainModel(encoder, ("mep",), len(data.labels)).eval()
    tb = data.micro_batch(0, "mep", 3)
    with torch.no_grad():
        ours = model(tb).loss
        states = encoder.sentence.model(
            input_ids=tb.batch.input_ids, attention_mask=tb.batch.attention_mask
        ).last_hidden_state
        all_logits = model.heads["mep"](states.reshape(-1, states.shape[-1]), model.word_embeddings)
        flat = tb.positions[:, 0] * states.shape[1] + tb.positions[:, 1]
        ref = F.cross_entropy(all_logits[flat], tb.targets)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_subset_model_and_state_dict(parts) -> None:
    encoder, data = parts
    model = PretrainModel(encoder, ("met", "pp"), len(data.labels))
    assert set(model.heads) == {"met", "pp"}
    keys = list(model.state_dict())
    assert all(k.startswith(("encoder.", "heads.")) for k in keys)
    assert any(k.startswith("encoder.sentence.") for k in keys)
    assert any(k.startswith("encoder.pair.") for k in keys)
    with pytest.raises(ValueError, match="not part of this model"):
        model(data.micro_batch(0, "acd", 2))
    full = PretrainModel(encoder, TASKS, len(data.labels))
    vocab = full.word_embeddings.shape[0]
    # MEP's output matrix is the embedding itself (not a copy in the state dict); only its bias is new
    assert [k for k, v in full.state_dict().items() if v.shape[:1] == (vocab,) and v.dim() == 2] == [
        "encoder.sentence.model.embeddings.word_embeddings.weight"
    ]
    assert full.heads["mep"].bias.shape == (vocab,)


def test_acd_code_form_switch(parts) -> None:
    encoder, data = parts
    tb = data.micro_batch(0, "acd", 4)
    paper = PretrainModel(encoder, ("acd",), 18, acd_form="paper").eval()
    code = PretrainModel(encoder, ("acd",), 18, acd_form="code").eval()
    code.load_state_dict(paper.state_dict())
    with torch.no_grad():
        lp, lc = paper(tb).loss.item(), code(tb).loss.item()
    # untrained scores are ~0: paper ~ 1 (margin), code ~ 5 (margin)
    assert abs(lp - 1.0) < 0.5 and abs(lc - 5.0) < 0.5
