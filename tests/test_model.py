"""The network: span CNN semantics, encoder shapes and prefixes, joint model candidates and decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from enpar.config import FinetuneConfig, Labels, ModelConfig
from enpar.data import Specials, build_labels, collate, make_examples
from enpar.decoding import Decoding
from enpar.encoding import load_tokenizer, windows
from enpar.model import (
    ContextEncoder,
    EnparEncoder,
    EntityEncoder,
    JointModel,
    JointOutput,
    PairEncoder,
    SpanCNN,
)
from enpar.schema import Entity, Relation, Sentence
from enpar.tagging import TAG_INDEX

pytestmark = pytest.mark.usefixtures("one_thread")

A, B, C = Entity(0, 2, "Method"), Entity(3, 4, "Task"), Entity(5, 6, "Task")
SENTS = [
    Sentence(
        "s1",
        ("we", "use", "deep", "nets", "for", "parsing", "text", "."),
        (A, B, C),
        (Relation(A, B, "USED-FOR"), Relation(C, B, "CONJUNCTION")),
    ),
    Sentence("s2", ("hello", "world")),
]


@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir: Path) -> tuple[JointModel, object, Labels]:
    labels = build_labels(SENTS)
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels)
    return model, load_tokenizer(str(tiny_encoder_dir)), labels


def test_span_cnn_matches_literal_convolution_and_padding_is_exact() -> None:
    torch.manual_seed(0)
    words = torch.randn(3, 12, 16, requires_grad=True)
    spans = torch.tensor([[0, 0, 5], [1, 3, 4], [2, 0, 12], [0, 5, 5], [1, 0, 1], [2, 6, 11], [0, 2, 9]])
    for columns in (8, 4096):  # many small width groups vs one padded group
        cnn = SpanCNN(16, (3, 4, 5), 8, dropout=0.0, group_columns=columns)
        out, ref = cnn(words, spans), cnn.reference_forward(words, spans)
        assert out.shape == (7, 24)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        g_out = torch.autograd.grad(out.sum(), [words, cnn.convs[0].weight])
        g_ref = torch.autograd.grad(ref.sum(), [words, cnn.convs[0].weight])
        for a, b in zip(g_out, g_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # an empty span is max over the all-zero windows = gelu(bias)
    cnn = SpanCNN(16, (2,), 4, dropout=0.0)
    empty = cnn(words, torch.tensor([[0, 3, 3]]))
    torch.testing.assert_close(empty[0], torch.nn.functional.gelu(cnn.convs[0].bias))


def test_span_input_is_reversed() -> None:
    torch.manual_seed(0)
    cnn = SpanCNN(4, (2,), 3, dropout=0.0)
    words = torch.randn(1, 5, 4)
    flipped = words[:, [0, 3, 2, 1, 4]]  # span [1, 4) reversed in place
    a, b = cnn(words, torch.tensor([[0, 1, 4]])), cnn(flipped, torch.tensor([[0, 1, 4]]))
    assert not torch.allclose(a, b)
    with torch.no_grad():  # a flipped kernel on the flipped span gives the same result
        cnn.convs[0].weight.copy_(cnn.convs[0].weight.flip(-1))
    torch.testing.assert_close(cnn(flipped, torch.tensor([[0, 1, 4]])), a)


def test_empty_context_rules() -> None:
    torch.manual_seed(0)
    words = torch.randn(1, 6, 8)
    spans = torch.tensor([[0, 2, 2], [0, 1, 4]])
    zero = ContextEncoder(8, ModelConfig(dropout=0.0, empty_context="zero")).eval()
    cnn = ContextEncoder(8, ModelConfig(dropout=0.0, empty_context="cnn")).eval()
    learned = ContextEncoder(8, ModelConfig(dropout=0.0)).eval()
    cnn.load_state_dict(zero.state_dict())
    learned.load_state_dict(zero.state_dict(), strict=False)
    expected_empty = zero.ff(torch.zeros(1, 300))[0]  # FF of a zero 300-vector
    torch.testing.assert_close(zero(words, spans)[0], expected_empty)
    assert not torch.allclose(cnn(words, spans)[0], expected_empty)
    torch.testing.assert_close(zero(words, spans)[1], cnn(words, spans)[1])
    # learned: equal to the zero rule at init, for empty and non-empty contexts alike
    torch.testing.assert_close(learned(words, spans), zero(words, spans))
    with pytest.raises(ValueError, match="empty_context"):
        ContextEncoder(8, ModelConfig(empty_context="bias"))


def test_learned_empty_context_has_sane_gradients() -> None:
    # The spec's FF(zero vector) runs LayerNorm on a constant: its bias gradient is scaled by ~1e6.
    torch.manual_seed(0)
    words = torch.randn(1, 6, 8)
    spans = torch.tensor([[0, 2, 2], [0, 1, 4]])
    norms = {}
    for mode in ("zero", "learned"):
        torch.manual_seed(1)
        enc = ContextEncoder(8, ModelConfig(dropout=0.0, empty_context=mode))  # at init: zero FF bias
        (enc(words, spans) * torch.randn(2, 128)).sum().backward()
        norms[mode] = enc.ff.linear.bias.grad.norm().item()
    assert norms["learned"] < 100
    assert norms["zero"] > 1e4 * norms["learned"]


def test_extra_encoder_parameter_count_matches_spec_for_bert_base() -> None:
    cfg = ModelConfig(empty_context="zero")  # "learned" adds its 128-vector
    n = sum(
        p.numel()
        for m in (EntityEncoder(768, cfg), ContextEncoder(768, cfg), PairEncoder(cfg))
        for p in m.parameters()
    )
    assert n == 1_907_736  # spec section 8
    assert PairEncoder(cfg).input_dim == 128 + 192 + 128 + 192 + 128


def test_enpar_encoder_shapes_and_prefixes(tiny) -> None:
    model, tok, labels = tiny
    enc: EnparEncoder = model.encoder
    prefixes = {k.split(".")[1] for k in model.state_dict() if k.startswith("encoder.")}
    assert prefixes == {"sentence", "entity", "context", "pair"}
    assert {k.split(".")[0] for k in model.state_dict()} == {
        "encoder",
        "tagger",
        "entity_head",
        "relation_head",
    }
    assert not any("pooler" in k for k in model.state_dict())
    batch = collate(make_examples(SENTS, tok), Specials.of(tok, 128), with_gold=False)
    model.eval()
    with torch.no_grad():
        words = enc.encode_batch(batch)
        assert words.shape == (2, 8, 32)
        assert torch.all(words[1, 2:] == 0)  # padding words
        spans = torch.tensor([[0, 0, 2], [0, 3, 4], [1, 0, 1]])
        assert enc.entities(words, spans).shape == (3, 192)
        left, right = torch.tensor([[0, 0, 2], [1, 0, 1]]), torch.tensor([[0, 3, 4], [1, 1, 2]])
        lengths = torch.tensor(batch.lengths)
        pairs = enc.pairs(words, lengths, left, right)
        assert pairs.shape == (2, 256)
        given = enc.pairs(words, lengths, left, right, enc.entities(words, left), enc.entities(words, right))
        torch.testing.assert_close(pairs, given)


def test_joint_forward_shapes_loss_and_candidates(tiny) -> None:
    model, tok, labels = tiny
    assert labels.relation == ("None", "CONJUNCTION@<", "USED-FOR@>")
    examples = make_examples(SENTS, tok, labels)
    batch = collate(examples, Specials.of(tok, 128))
    model.train()
    out = model(batch, gold_tags=[True, True], gold_entities=[True, True])
    assert out.loss is not None and out.loss.requires_grad
    torch.testing.assert_close(out.loss, out.tag_loss + out.entity_loss + out.relation_loss)
    assert out.tag_logits.shape == (2, 8, 6)
    # gold coins: candidates are exactly the gold spans; pairs are the start-ordered gold pairs
    assert sorted(map(tuple, out.spans.tolist())) == [(0, 0, 2), (0, 3, 4), (0, 5, 6)]
    assert out.pairs.shape == (3, 2) and out.relation_logits.shape == (3, 3)
    out.loss.backward()
    assert model.relation_head.weight.grad is not None
    model.zero_grad()
    # no gold: no loss, predictions only
    model.eval()
    with torch.no_grad():
        pred = model(collate(examples, Specials.of(tok, 128), with_gold=False))
    assert pred.loss is None and pred.entity_loss is None
    assert len(model.decode(pred)) == 2


def test_predicted_candidates_always_include_gold(tiny) -> None:
    model, tok, labels = tiny
    batch = collate(make_examples(SENTS, tok, labels), Specials.of(tok, 128))
    model.eval()
    with torch.no_grad():
        out = model(batch, gold_tags=[False, False], gold_entities=[False, False])
    spans = {tuple(s) for s in out.spans.tolist()}
    assert {(0, 0, 2), (0, 3, 4), (0, 5, 6)} <= spans
    rows = out.spans.tolist()
    pairs = {(tuple(rows[a][1:]), tuple(rows[b][1:])) for a, b in out.pairs.tolist()}
    assert {((0, 2), (3, 4)), ((3, 4), (5, 6))} <= pairs  # gold pairs, left span first
    assert all(rows[a][1] <= rows[b][1] for a, b in out.pairs.tolist())


def test_decode_restores_direction(tiny) -> None:
    model, _, labels = tiny

    ent = torch.full((2, len(labels.entity)), -5.0)
    ent[0, labels.entity.index("Method")] = 5
    ent[1, labels.entity.index("Task")] = 5
    rel = torch.full((2, len(labels.relation)), -5.0)
    rel[0, labels.relation.index("CONJUNCTION@<")] = 5
    rel[1, 0] = 5  # None
    out = JointOutput(
        torch.zeros(1, 6, 6),
        torch.tensor([[0, 0, 2], [0, 3, 4]]),
        ent,
        torch.tensor([[0, 1], [1, 0]]),
        rel,
        1,
    )
    ((ents, rels),) = model.decode(out)
    assert ents == [Entity(0, 2, "Method"), Entity(3, 4, "Task")]
    assert rels == [Relation(Entity(3, 4, "Task"), Entity(0, 2, "Method"), "CONJUNCTION")]


def test_sliding_windows_encode_every_word(tiny) -> None:
    model, tok, labels = tiny
    long = Sentence("long", tuple(f"word{i}" for i in range(40)), (Entity(35, 37, "Task"),))
    examples = make_examples([long, SENTS[1]], tok, labels)
    specials = Specials.of(tok, 12)  # 10 pieces per window
    spans = windows(len(examples[0].pieces), 10)
    assert len(spans) > 2 and spans[-1][1] == len(examples[0].pieces)
    batch = collate(examples, specials)
    assert batch.input_ids.shape[1] <= 12 and batch.input_ids.shape[0] == len(spans) + 1
    assert batch.word_mask[0].sum() == 40
    assert len(set(batch.word_index[0].tolist())) == 40  # every word has its own piece
    model.eval()
    with torch.no_grad():
        out = model(batch, gold_tags=[True, True], gold_entities=[True, True])
        # a short sentence gives the same word vectors alone or beside windowed neighbours
        alone = model.encoder.encode_batch(collate(examples[1:], specials))
        mixed = model.encoder.encode_batch(batch)
    assert out.tag_logits.shape[:2] == (2, 40)
    torch.testing.assert_close(alone[0, :2], mixed[1, :2], rtol=1e-4, atol=1e-5)


def test_words_without_pieces_become_unk(tiny) -> None:
    _, tok, _ = tiny
    (ex,) = make_examples([Sentence("z", ("a", "\u200b", "b"))], tok)
    assert len(ex.pieces.starts) == 3
    assert ex.pieces.ids[ex.pieces.starts[1]] == tok.unk_token_id


def test_removed_options_load_at_their_paper_value_only() -> None:
    """An old config naming a removed option still loads while the option was off; otherwise the error
    names it. The document type vote moved to decoding.json and is dropped from the model config."""
    old = {"encoder": "minilm", "span_candidates": 0, "tag_decoder": "lenient", "document_type_vote": True}
    assert ModelConfig.from_dict(old) == ModelConfig()
    with pytest.raises(ValueError, match="'tag_decoder' = 'viterbi' was not adopted"):
        ModelConfig.from_dict({**old, "tag_decoder": "viterbi"})
    with pytest.raises(ValueError, match="ema_decay"):
        FinetuneConfig.from_dict({"ema_decay": 0.999})
    assert FinetuneConfig.from_dict({"head_lr": None, "teacher": None}) == FinetuneConfig()
    with pytest.raises(ValueError, match="unknown settings"):
        ModelConfig.from_dict({"no_such_option": 1})


def test_document_type_vote_retypes_repeated_strings_only(tiny, tiny_encoder_dir: Path) -> None:
    from enpar.document_vote import mention_key, vote_document_types
    from enpar.predict import run_inference

    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels).eval()
    with torch.no_grad():  # every word a one-word span, typed (never None)
        model.tagger.bias[TAG_INDEX["U"]] += 100.0
        model.entity_head.bias[0] -= 100.0
    doc = [
        Sentence("d1", ("nets", "help", "parsing"), doc_id="D"),
        Sentence("d2", ("parsing", "needs", "nets", "nets"), doc_id="D"),
        Sentence("e1", ("nets", "parsing"), doc_id="E"),
    ]
    examples = make_examples(doc, tok, labels)
    specials = Specials.of(tok, 128)
    cpu = torch.device("cpu")
    plain = run_inference(model, examples, specials, device=cpu, bf16=False)
    voted = run_inference(model, examples, specials, device=cpu, bf16=False, decoding=Decoding(True))
    off = Decoding(document_type_vote=False)
    assert run_inference(model, examples, specials, device=cpu, bf16=False, decoding=off) == plain

    # the same spans and relation labels, and one type per (document, words)
    for (pe, pr), (ve, vr) in zip(plain, voted, strict=True):
        assert [(e.start, e.end) for e in pe] == [(e.start, e.end) for e in ve]
        assert [(r.head.start, r.tail.start, r.label) for r in pr] == [
            (r.head.start, r.tail.start, r.label) for r in vr
        ]
    groups: dict = {}
    for sent, (ents, _) in zip(doc, voted, strict=True):
        for e in ents:
            groups.setdefault(mention_key(sent, e), set()).add(e.label)
    assert all(len(types) == 1 for types in groups.values())
    # and exactly the vote over the model's own type distributions
    out = model(collate(examples, specials, with_gold=False))
    decoded = model.decode_with_type_probs(out)
    assert [(e, r) for e, r, _ in decoded] == model.decode(out) == plain
    expected = vote_document_types(doc, plain, [p for _, _, p in decoded], labels.entity[1:])
    assert voted == expected
    assert voted != plain  # the random tiny model types the repeated words inconsistently
