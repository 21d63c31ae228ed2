"""The network: span CNN semantics, encoder shapes and prefixes, joint model candidates and decoding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from enpar.config import Labels, ModelConfig
from enpar.data import (
    Specials,
    build_labels,
    collate,
    context_coverage,
    document_contexts,
    fit_context,
    make_examples,
)
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
from enpar.predict import Predictor
from enpar.schema import Entity, Relation, Sentence
from enpar.tagging import O_ID

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
    from enpar.model import JointOutput

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


def test_enumerate_spans_and_sample_negatives() -> None:
    from enpar.model import enumerate_spans, sample_negatives

    assert enumerate_spans(3, 2) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    assert enumerate_spans(2, 5) == [(0, 1), (0, 2), (1, 2)]
    assert enumerate_spans(4, 0) == []
    spans = enumerate_spans(8, 3)
    gold = {(0, 2): 1, (3, 4): 2}
    assert sample_negatives(spans, gold, 0) == [s for s in spans if s not in gold]
    torch.manual_seed(1)
    first = sample_negatives(spans, gold, 5)
    torch.manual_seed(1)
    assert sample_negatives(spans, gold, 5) == first  # seeded: a resumed run draws the same
    assert len(first) == 5 and not set(first) & set(gold) and first == sorted(first, key=spans.index)


def test_span_candidates_add_every_short_span(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    cfg = ModelConfig(encoder=str(tiny_encoder_dir), span_candidates=3, span_negatives=4)
    model = JointModel.build(cfg, labels)
    examples = make_examples(SENTS, tok, labels)
    model.eval()
    with torch.no_grad():
        pred = model(collate(examples, Specials.of(tok, 128), with_gold=False))
    spans = {tuple(s) for s in pred.spans.tolist()}
    expected = {(0, st, st + w) for st in range(8) for w in (1, 2, 3) if st + w <= 8}
    assert expected | {(1, 0, 1), (1, 0, 2), (1, 1, 2)} <= spans  # plus whatever the tagger proposes
    # training with gold coins: the gold spans plus at most 4 sampled non-gold spans per sentence
    model.train()
    out = model(collate(examples, Specials.of(tok, 128)), gold_tags=[True, True], gold_entities=[True, True])
    rows = [tuple(s) for s in out.spans.tolist()]
    first = [r for r in rows if r[0] == 0]
    assert len(rows) == len(set(rows)) and len(first) == 3 + 4 and len(rows) == 7 + 3
    assert {(0, 0, 2), (0, 3, 4), (0, 5, 6)} <= set(first)
    assert out.entity_loss is not None and out.entity_loss.requires_grad


def test_separate_negative_loss_averages_sampled_spans_on_their_own(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    batch = collate(make_examples(SENTS, tok, labels), Specials.of(tok, 128))
    coins = {"gold_tags": [True, True], "gold_entities": [True, True]}
    losses = {}
    for mode in ("pooled", "separate"):
        torch.manual_seed(0)
        cfg = ModelConfig(
            encoder=str(tiny_encoder_dir), span_candidates=3, span_negatives=4, span_negative_loss=mode
        )
        model = JointModel.build(cfg, labels).eval()  # eval: no dropout, so both modes see equal logits
        torch.manual_seed(1)  # the same negatives drawn in both modes
        out = model(batch, **coins)
        losses[mode] = out.entity_loss
    # gold coins: the candidates are the gold spans and at most 4 sampled negatives per sentence
    ce = torch.nn.functional.cross_entropy
    logits = out.entity_logits.float()
    rows = [tuple(r) for r in out.spans.tolist()]
    gold_of = {r: i for i, r in enumerate(rows)}
    target = torch.zeros(len(rows), dtype=torch.long)
    for b, ex in enumerate(batch.gold):
        for (st, ed), label in ex.entities.items():
            target[gold_of[(b, st, ed)]] = label
    positive = target != 0
    assert positive.sum() == sum(len(ex.entities) for ex in batch.gold)
    assert (~positive).sum() == 4 + 3  # the 2-word sentence has only 3 spans
    assert torch.allclose(losses["pooled"], ce(logits, target))
    expected = ce(logits[positive], target[positive]) + ce(logits[~positive], target[~positive])
    assert torch.allclose(losses["separate"], expected)
    with pytest.raises(ValueError, match="span_negative_loss"):
        JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), span_negative_loss="sum"), labels)


def _threshold_effect(
    model: JointModel, tok, labels: Labels, field: str, coins: dict
) -> tuple[dict[float, JointOutput], dict[float, float]]:
    """Prediction outputs and training losses (same coins, same sampling seed) at thresholds 0 and +-100."""
    examples = make_examples(SENTS, tok, labels)
    plain, with_gold = (
        collate(examples, Specials.of(tok, 128), with_gold=False),
        collate(examples, Specials.of(tok, 128)),
    )
    outs, losses = {}, {}
    for value in (0.0, 100.0, -100.0):
        model.set_thresholds(**{field: value})
        with torch.no_grad():
            outs[value] = model(plain)
            torch.manual_seed(1)
            losses[value] = float(model(with_gold, **coins).loss)
    return outs, losses


def test_entity_none_bias_moves_predictions_only(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), span_candidates=2), labels).eval()
    coins = {"gold_tags": [True, True], "gold_entities": [False, False]}  # pairs from predicted entities
    outs, losses = _threshold_effect(model, tok, labels, "entity_none_bias", coins)
    found = {}
    for bias, out in outs.items():
        model.set_thresholds(entity_none_bias=bias)  # decode applies the threshold too
        found[bias] = sum(len(ents) for ents, _ in model.decode(out))
    n_candidates = outs[0.0].spans.shape[0]
    assert found[100.0] == 0 and found[-100.0] == n_candidates  # None always / never wins
    assert losses[100.0] == losses[0.0] == losses[-100.0]  # training does not see the threshold


def test_relation_none_bias_moves_relation_predictions_only(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), span_candidates=2), labels).eval()
    coins = {"gold_tags": [True, True], "gold_entities": [True, True]}
    model.set_thresholds(entity_none_bias=-100.0)  # every candidate typed, so every pair can be related
    outs, losses = _threshold_effect(model, tok, labels, "relation_none_bias", coins)
    found = {}
    for bias, out in outs.items():
        model.set_thresholds(relation_none_bias=bias)  # decode applies the threshold
        decoded = model.decode(out)
        found[bias] = (sum(len(e) for e, _ in decoded), sum(len(r) for _, r in decoded))
    n_pairs = outs[0.0].pairs.shape[0]
    assert n_pairs > 0
    assert found[100.0][1] == 0 and found[-100.0][1] == n_pairs  # None always / never wins
    assert found[100.0][0] == found[0.0][0] == found[-100.0][0]  # entities do not move
    assert losses[100.0] == losses[0.0] == losses[-100.0]  # training does not see the threshold


def test_document_type_vote_retypes_repeated_strings_only(tiny, tiny_encoder_dir: Path) -> None:
    from enpar.document_vote import mention_key, vote_document_types
    from enpar.predict import run_inference

    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), span_candidates=1), labels).eval()
    model.set_thresholds(entity_none_bias=-100.0)  # every one-word candidate is an entity
    doc = [
        Sentence("d1", ("nets", "help", "parsing"), doc_id="D"),
        Sentence("d2", ("parsing", "needs", "nets", "nets"), doc_id="D"),
        Sentence("e1", ("nets", "parsing"), doc_id="E"),
    ]
    examples = make_examples(doc, tok, labels)
    specials = Specials.of(tok, 128)
    plain = run_inference(model, examples, specials, device=torch.device("cpu"), bf16=False)
    model.set_thresholds(document_type_vote="on")
    voted = run_inference(model, examples, specials, device=torch.device("cpu"), bf16=False)
    model.set_thresholds(document_type_vote=False)
    assert run_inference(model, examples, specials, device=torch.device("cpu"), bf16=False) == plain

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


def test_entity_boundary_features_feed_the_entity_head(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), entity_boundary=True), labels)
    hidden = model.encoder.hidden_size
    assert model.entity_head.in_features == model.encoder.entity.output_dim + 2 * hidden + 25
    batch = collate(make_examples(SENTS, tok, labels), Specials.of(tok, 128))
    model.train()
    out = model(batch, gold_tags=[True, True], gold_entities=[True, True])
    out.loss.backward()
    assert model.width_embedding.weight.grad is not None
    # only the widths present (2, 1, 1) receive a gradient
    touched = model.width_embedding.weight.grad.abs().sum(-1).nonzero().flatten().tolist()
    assert touched == [1, 2]


def test_relation_type_prior_feeds_type_distributions_without_training_typing(
    tiny, tiny_encoder_dir: Path
) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), relation_type_prior=True), labels)
    n_ent = len(labels.entity)
    assert model.relation_head.in_features == model.encoder.pair.output_dim + 2 * n_ent + n_ent * n_ent
    batch = collate(make_examples(SENTS, tok, labels), Specials.of(tok, 128))
    model.train()
    out = model(batch, gold_tags=[True, True], gold_entities=[True, True])
    assert out.pairs.shape[0] > 0
    # the features by hand: pair vector, p_left, p_right, p_left (x) p_right
    probs = out.entity_logits.detach().softmax(-1)
    left, right = probs[out.pairs[:, 0]], probs[out.pairs[:, 1]]
    pair_dim = model.encoder.pair.output_dim
    feats = model._relation_features(torch.zeros(out.pairs.shape[0], pair_dim), out.entity_logits, out.pairs)
    torch.testing.assert_close(feats[:, pair_dim : pair_dim + n_ent], left)
    torch.testing.assert_close(feats[:, pair_dim + n_ent : pair_dim + 2 * n_ent], right)
    torch.testing.assert_close(feats[:, -1], left[:, -1] * right[:, -1])
    torch.testing.assert_close(feats[:, pair_dim + 2 * n_ent + 1], left[:, 0] * right[:, 1])
    # the relation loss alone reaches the prior's weights but not the entity head (detached)
    out.relation_loss.backward()
    prior_grad = model.relation_head.weight.grad[:, pair_dim:]
    assert prior_grad.abs().sum() > 0
    assert model.entity_head.weight.grad is None or model.entity_head.weight.grad.abs().sum() == 0


def test_tag_outside_bias_adds_spans_at_prediction_only(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels).eval()
    with torch.no_grad():
        model.tagger.bias[O_ID] = 5.0  # the tagger says O everywhere unless pushed
    coins = {"gold_tags": [False, False], "gold_entities": [False, False]}  # candidates from predicted tags
    outs, losses = _threshold_effect(model, tok, labels, "tag_outside_bias", coins)
    spans = {bias: out.spans.shape[0] for bias, out in outs.items()}
    assert spans[0.0] == spans[100.0] == 0 and spans[-100.0] > 0  # a negative bias makes spans appear
    assert losses[100.0] == losses[0.0] == losses[-100.0]  # training does not see the threshold
    with pytest.raises(ValueError, match="unknown thresholds"):
        model.set_thresholds(relation_bias=1.0)


def test_document_contexts_take_neighbouring_words_of_the_same_document() -> None:
    def sent(sid: str, words: str, doc: str | None) -> Sentence:
        return Sentence(sid, tuple(words.split()), doc_id=doc)

    sents = [
        sent("a0", "a b c", "A"),
        sent("b0", "x y", "B"),
        sent("a1", "d e", "A"),  # documents may interleave: list order within a document counts
        sent("n", "lonely words", None),
        sent("a2", "f g h i", "A"),
    ]
    got = document_contexts(sents, 3)
    assert got[0] == ((), ("d", "e", "f"))
    assert got[1] == ((), ())  # B has one sentence
    assert got[2] == (("a", "b", "c"), ("f", "g", "h"))
    assert got[3] == ((), ())  # no doc_id, no context
    assert got[4] == (("c", "d", "e"), ())
    assert document_contexts(sents, 0) == [((), ())] * 5


def test_fit_context_keeps_the_nearest_pieces_and_shares_unused_room() -> None:
    left, right = [1, 2, 3, 4, 5], [6, 7, 8]
    assert fit_context(left, right, 100) == (left, right)
    assert fit_context(left, right, 4) == ([4, 5], [6, 7])
    assert fit_context(left, [9], 4) == ([3, 4, 5], [9])  # the right side's unused room goes left
    assert fit_context([1], right, 4) == ([1], [6, 7, 8])
    assert fit_context(left, right, 0) == ([], [])


def test_document_context_is_encoded_but_only_the_sentence_is_read(tiny) -> None:
    model, tok, labels = tiny
    doc = [replace(s, doc_id="d") for s in (SENTS[1], SENTS[0], SENTS[1])]
    plain = make_examples(doc, tok, labels)
    ctx = make_examples(doc, tok, labels, context_words=50)
    assert plain[1].left == plain[1].right == ()
    assert ctx[1].left == plain[0].pieces.ids and ctx[1].right == plain[2].pieces.ids
    assert ctx[1].gold == plain[1].gold and len(ctx[1]) > len(plain[1])
    assert context_coverage(ctx) == "document context: 3 of 3 sentences have neighbouring text"
    assert context_coverage(plain).startswith("document context: 0 of 3")
    specials = Specials.of(tok, 128)
    batch = collate(ctx[1:2], specials)
    first_pieces = [ctx[1].pieces.ids[s] for s in ctx[1].pieces.starts]
    assert batch.input_ids.flatten()[batch.word_index[0]].tolist() == first_pieces
    assert batch.input_ids[0, 1 : 1 + len(ctx[1].left)].tolist() == list(ctx[1].left)
    # too little room: the context is trimmed to fit, the sentence never is
    room = len(ctx[1].pieces) + 2 + 3
    tight = collate(ctx[1:2], Specials.of(tok, room))
    assert tight.input_ids.shape == (1, room)
    assert tight.input_ids.flatten()[tight.word_index[0]].tolist() == first_pieces
    # a sentence that needs sliding windows is encoded alone
    windowed = collate(ctx[1:2], Specials.of(tok, len(ctx[1].pieces)))
    assert windowed.input_ids.shape[0] > 1 and tight.word_mask.sum() == windowed.word_mask.sum()
    model.eval()
    with torch.no_grad():
        alone = model.encoder.encode_batch(collate(plain[1:2], specials))
        with_context = model.encoder.encode_batch(batch)
    assert alone.shape == with_context.shape and not torch.allclose(alone, with_context)


def test_predictor_reads_sentences_with_the_models_context(tiny_encoder_dir: Path) -> None:
    labels = build_labels(SENTS)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), context_words=4), labels)
    predictor = Predictor(model, load_tokenizer(str(tiny_encoder_dir)), device="cpu")
    doc = [replace(s, doc_id="d") for s in SENTS]
    examples = predictor.examples(doc)
    assert examples[0].right and examples[1].left and not examples[0].left
    assert [len(s.tokens) for s in predictor.predict_sentences(doc)] == [8, 2]


def _word_pieces(ex) -> list[list[int]]:
    ends = (*ex.pieces.starts[1:], len(ex.pieces.ids))
    return [list(ex.pieces.ids[a:b]) for a, b in zip(ex.pieces.starts, ends, strict=True)]


def test_collate_lists_every_piece_of_every_word(tiny) -> None:
    _, tok, labels = tiny
    sent = Sentence("p", ("we", "use", "backpropagation", "and", "hyperparameterisation", "."))
    (ex,) = make_examples([sent], tok, labels)
    pieces = _word_pieces(ex)
    assert max(len(p) for p in pieces) > 2  # the test needs words of several pieces
    batch = collate([ex, *make_examples(SENTS[1:], tok, labels)], Specials.of(tok, 128))
    flat = batch.input_ids.flatten()
    n = batch.word_index.shape[1]
    for w, want in enumerate(pieces):
        assert flat[batch.piece_index[batch.piece_word == w]].tolist() == want
    hello = _word_pieces(make_examples(SENTS[1:], tok)[0])[0]
    assert flat[batch.piece_index[batch.piece_word == n]].tolist() == hello  # sentence 2, word 0
    assert batch.piece_index.numel() == len(ex.pieces) + 2  # "hello world": one piece each
    # sliding windows: each word keeps its pieces inside the window that holds its first piece
    windowed = collate([ex], Specials.of(tok, 5))
    assert windowed.input_ids.shape[0] > 1
    flat = windowed.input_ids.flatten()
    got = [flat[windowed.piece_index[windowed.piece_word == w]].tolist() for w in range(6)]
    assert all(g and g == p[: len(g)] for g, p in zip(got, pieces, strict=True))


def test_mean_word_pooling_averages_a_words_pieces(tiny_encoder_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_encoder_dir))
    labels = build_labels(SENTS)
    sent = Sentence("p", ("we", "use", "backpropagation", "."))
    (ex,) = make_examples([sent], tok, labels)
    torch.manual_seed(0)
    first = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels).eval()
    mean = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), word_pooling="mean"), labels).eval()
    mean.load_state_dict(first.state_dict())  # same weights: only the pooling differs
    batch = collate([ex, *make_examples(SENTS[1:], tok, labels)], Specials.of(tok, 128))
    with torch.no_grad():
        states = first.encoder.sentence.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask
        ).last_hidden_state[0]
        a, b = first.encoder.encode_batch(batch), mean.encoder.encode_batch(batch)
    start, end = ex.pieces.starts[2] + 1, ex.pieces.starts[3] + 1  # +1: [CLS]
    assert end - start > 1
    torch.testing.assert_close(b[0, 2], states[start:end].mean(0))
    torch.testing.assert_close(a[0, 2], states[start])
    torch.testing.assert_close(a[0, [0, 1, 3]], b[0, [0, 1, 3]])  # one-piece words are unchanged
    assert (b[1, 2:] == 0).all()  # padding words stay exact zeros
    with pytest.raises(ValueError, match="word_pooling"):
        JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), word_pooling="max"), labels)


def test_tag_decoder_viterbi_decodes_valid_spans_and_is_checked(tiny, tiny_encoder_dir: Path) -> None:
    _, tok, labels = tiny
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels).eval()
    batch = collate(make_examples(SENTS, tok, labels), Specials.of(tok, 128), with_gold=False)

    def spans(decoder: str, bias: list[float]) -> list[list[int]]:  # bias over PAD B I E O U
        with torch.no_grad():
            model.tagger.weight.zero_()
            model.tagger.bias.copy_(torch.tensor(bias))
            model.set_thresholds(tag_decoder=decoder)
            return sorted(model(batch).spans.tolist())

    # every word's argmax is I: the lenient chunker reads each sentence as one span, viterbi finds that
    # O everywhere (8 x 2.5) beats any valid span (B, E cost 3 each against O)
    assert spans("lenient", [0, 0, 3, 0, 2.5, 0]) == [[0, 0, 8], [1, 0, 2]]
    assert spans("viterbi", [0, 0, 3, 0, 2.5, 0]) == []
    # with B and E at 2, "B I I I I I I E" (22) beats 8 O (20) but "B E" (4) not 2 O (5)
    assert spans("viterbi", [0, 2, 3, 2, 2.5, 0]) == [[0, 0, 8]]
    with pytest.raises(ValueError, match="tag_decoder"):
        model.set_thresholds(tag_decoder="crf")
    with pytest.raises(ValueError, match="tag_decoder"):
        JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), tag_decoder="greedy"), labels)
