"""The BIEOU CRF (ModelConfig.tag_loss="crf"): its likelihood and decoder against brute force, and its use
in the joint model."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pytest
import torch

from enpar.config import ModelConfig
from enpar.crf import TagCRF
from enpar.data import Specials, build_labels, collate, make_examples
from enpar.encoding import load_tokenizer
from enpar.model import JointModel
from enpar.schema import Entity, Relation, Sentence
from enpar.tagging import CAN_END, CAN_FOLLOW, CAN_START, PAD_ID, REAL_TAGS, TAGS, viterbi

pytestmark = pytest.mark.usefixtures("one_thread")


def _valid_sequences(n: int) -> list[tuple[int, ...]]:
    return [
        seq
        for seq in itertools.product(REAL_TAGS, repeat=n)
        if CAN_START[seq[0]]
        and CAN_END[seq[-1]]
        and all(CAN_FOLLOW[a][b] for a, b in itertools.pairwise(seq))
    ]


def _path_score(crf: TagCRF, emissions: torch.Tensor, seq: tuple[int, ...]) -> float:
    trans, start, end = crf.transitions.tolist(), crf.start.tolist(), crf.end.tolist()
    score = start[seq[0]] + end[seq[-1]] + sum(emissions[i, t].item() for i, t in enumerate(seq))
    return score + sum(trans[a][b] for a, b in itertools.pairwise(seq))


def _random_crf(seed: int) -> TagCRF:
    torch.manual_seed(seed)
    crf = TagCRF()
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_()
    return crf


def test_nll_is_the_log_partition_over_valid_sequences_minus_the_gold_score() -> None:
    crf = _random_crf(0)
    lengths, width = [4, 1, 3], 5
    emissions = torch.randn(len(lengths), width, len(TAGS))
    rng = random.Random(0)
    gold = [rng.choice(_valid_sequences(n)) for n in lengths]
    tags = torch.full((len(lengths), width), PAD_ID)
    for b, seq in enumerate(gold):
        tags[b, : len(seq)] = torch.tensor(seq)
    expected = 0.0
    for b, seq in enumerate(gold):
        scores = [_path_score(crf, emissions[b], s) for s in _valid_sequences(len(seq))]
        log_z = max(scores) + math.log(sum(math.exp(s - max(scores)) for s in scores))
        expected += log_z - _path_score(crf, emissions[b], seq)
    with torch.no_grad():
        got = crf.nll(emissions, tags).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # a sentence with no words adds nothing
    empty = torch.cat([tags, torch.full((1, width), PAD_ID)])
    with torch.no_grad():
        more = torch.cat([emissions, torch.randn(1, width, len(TAGS))])
        assert crf.nll(more, empty).item() == pytest.approx(got)


def test_nll_trains_the_transitions_and_the_emissions() -> None:
    crf = TagCRF()
    emissions = torch.randn(2, 3, len(TAGS), requires_grad=True)
    b, e, o, u = (TAGS.index(t) for t in "BEOU")
    tags = torch.tensor([[b, e, o], [u, PAD_ID, PAD_ID]])
    loss = crf.nll(emissions, tags)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(emissions.grad).all()
    assert crf.transitions.grad[b, e] < 0  # the gold move is made likelier
    assert crf.transitions.grad[b, o] == 0  # a forbidden move is never learned
    assert emissions.grad[1, 1:].abs().sum() == 0  # padding words take no part


def test_viterbi_with_learned_scores_is_the_best_path_by_brute_force() -> None:
    for seed in range(5):
        crf = _random_crf(seed)
        for n in range(1, 5):
            emissions = torch.randn(n, len(TAGS))
            best = max(_valid_sequences(n), key=lambda s, e=emissions: _path_score(crf, e, s))
            assert viterbi(emissions.tolist(), **crf.decode_scores()) == list(best)


def test_joint_model_with_a_crf_tagger(tiny_encoder_dir: Path) -> None:
    a, b = Entity(0, 2, "Method"), Entity(3, 4, "Task")
    sents = [Sentence("s1", ("we", "use", "deep", "nets", "."), (a, b), (Relation(a, b, "USED-FOR"),))]
    labels = build_labels(sents)
    tok = load_tokenizer(str(tiny_encoder_dir))
    torch.manual_seed(0)
    model = JointModel.build(
        ModelConfig(encoder=str(tiny_encoder_dir), tag_loss="crf", tag_decoder="viterbi"), labels
    )
    specials = Specials.of(tok, 128)
    out = model(collate(make_examples(sents, tok, labels), specials))
    out.loss.backward()
    assert model.crf is not None and model.crf.transitions.grad.abs().sum() > 0
    # prediction decodes with the learned scores: every word leans to O, but a start score for U makes the
    # first word a U
    model.eval()
    with torch.no_grad():
        model.tagger.weight.zero_()
        model.tagger.bias.zero_()
        model.tagger.bias[TAGS.index("O")] = 1.0
        model.crf.transitions.zero_()
        model.crf.start.zero_()
        model.crf.start[TAGS.index("U")] = 5.0
        model.crf.end.zero_()
        spans = model(collate(make_examples(sents, tok), specials, with_gold=False)).spans.tolist()
    assert spans == [[0, 0, 1]]
    with pytest.raises(ValueError, match="tag_loss"):
        JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir), tag_loss="hinge"), labels)
