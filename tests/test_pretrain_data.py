"""Pre-training instance builders on hand-made sentences: masked positions, permutations and their class
ids, shifted spans pointing at the right words, swaps, reproducibility, streams and batches."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from enpar.pretrain_data import (
    IDENTITY,
    PERMUTATIONS,
    SPACY_LABELS,
    Builders,
    Encoded,
    EntityPool,
    PretrainData,
    PretrainDataConfig,
    iter_corpus,
)

MASK = 103

# w0 w1 [Marie Curie] w4 [Paris] w6 w7 [1867] w9  -- "Curie" has two pieces, "1867" has two pieces
TOKENS = ("In", "the", "Marie", "Curie", "lab", "Paris", "was", "cold", "1867", ".")
PIECES = ((11,), (12,), (13,), (14, 15), (16,), (17,), (18,), (19,), (20, 21), (22,))
ENTS = ((2, 4, 3), (5, 6, 6), (8, 9, 1))  # PERSON, GPE, DATE (ids in SPACY_LABELS)
SENT = Encoded(7, TOKENS, PIECES, ENTS)


def flat(enc: Encoded) -> list[int]:
    return [p for w in enc.pieces for p in w]


def make(cfg: PretrainDataConfig | None = None, pool: EntityPool | None = None) -> Builders:
    pool = pool or EntityPool({1: [(901,), (902,)], 2: [(903, 904)], 3: [(905, 906, 907)]})
    return Builders(cfg or PretrainDataConfig(), pool, MASK, 1000)


def words(inst_seq, span: tuple[int, int]) -> tuple[str, ...]:
    return inst_seq.tokens[span[0] : span[1]]


def test_label_order_and_permutation_classes() -> None:
    assert SPACY_LABELS[:4] == ("CARDINAL", "DATE", "ORG", "PERSON") and len(SPACY_LABELS) == 18
    assert len(PERMUTATIONS) == 120 and PERMUTATIONS[0] == (0, 1, 2, 3, 4)
    assert PERMUTATIONS[1] == (0, 1, 2, 4, 3) and PERMUTATIONS[119] == (4, 3, 2, 1, 0)
    assert list(PERMUTATIONS) == sorted(PERMUTATIONS)


# --- MET --------------------------------------------------------------------------------------------


def test_met_mask_all_entities() -> None:
    b = make(PretrainDataConfig(met_mask=1.0, met_random=0.0))
    inst = b.met(SENT, random.Random(0))
    ids = list(inst.seq.ids)
    # entity pieces: Marie(2) Curie(3,4) Paris(6) 1867(9,10)
    assert [i for i, x in enumerate(ids) if x == MASK] == [2, 3, 4, 6, 9, 10]
    assert [x for x in ids if x != MASK] == [11, 12, 16, 18, 19, 22]
    assert inst.spans == ((2, 4), (5, 6), (8, 9)) and inst.labels == (3, 6, 1)  # full spans, every entity
    assert inst.seq.starts == (0, 1, 2, 3, 5, 6, 7, 8, 9, 11) and inst.seq.tokens == TOKENS


def test_met_random_replacement_keeps_lengths() -> None:
    b = make(PretrainDataConfig(met_mask=0.0, met_random=1.0))
    ids = list(b.met(SENT, random.Random(0)).seq.ids)
    assert len(ids) == len(flat(SENT))
    assert ids[2:5] == [905, 906, 907]  # the 3-piece entity "Marie Curie" from the pool
    assert ids[6] in (901, 902) and ids[9:11] == [903, 904]
    keep = make(PretrainDataConfig(met_mask=0.0, met_random=0.0)).met(SENT, random.Random(0))
    assert list(keep.seq.ids) == flat(SENT)  # "keep": unchanged but still typed
    assert keep.labels == (3, 6, 1)


def test_met_rates_and_reproducibility() -> None:
    b = make()
    outcome = Counter()
    for uid in range(3000):
        enc = replace(SENT, uid=uid)
        ids = b.build("met", enc, epoch=0)[0].seq.ids
        outcome["mask" if ids[6] == MASK else "random" if ids[6] in (901, 902) else "keep"] += 1
    assert 0.13 < outcome["mask"] / 3000 < 0.17 and 0.035 < outcome["random"] / 3000 < 0.065
    assert b.build("met", SENT, 0) == b.build("met", SENT, 0)  # seeded by (seed, task, uid, epoch)
    assert any(b.build("met", SENT, 0) != b.build("met", SENT, e) for e in range(1, 10))
    other = make(PretrainDataConfig(seed=1))
    assert any(b.build("met", replace(SENT, uid=u), 0) != other.build("met", replace(SENT, uid=u), 0)
               for u in range(10))  # fmt: skip


# --- MEP --------------------------------------------------------------------------------------------


def test_mep_budget_whole_entities_and_targets() -> None:
    cfg = PretrainDataConfig(mep_mask=1.0, mep_random=0.0)
    b = make(cfg)
    original = flat(SENT)
    budget = min(20, max(1, round(0.15 * (len(original) + 2))))  # L = 12 + 2 -> 2
    entity_pieces = [{2, 3, 4}, {6}, {9, 10}]
    for uid in range(50):
        inst = b.mep(replace(SENT, uid=uid), random.Random(uid))
        assert inst is not None
        pos = set(inst.positions)
        assert 0 < len(pos) <= budget
        assert all(e <= pos or not (e & pos) for e in entity_pieces)  # whole entities only
        assert list(inst.targets) == [original[p] for p in inst.positions]
        assert all(inst.seq.ids[p] == MASK for p in pos)
        assert all(inst.seq.ids[p] == original[p] for p in range(len(original)) if p not in pos)
    # the 3-piece "Marie Curie" never fits a budget of 2; the scan skips it and goes on
    seen = {
        inst.positions for uid in range(50) if (inst := b.mep(replace(SENT, uid=uid), random.Random(uid)))
    }
    assert seen <= {(6,), (9, 10)} and len(seen) == 2


def test_mep_none_when_no_entity_fits() -> None:
    enc = Encoded(0, ("a", "b"), ((1, 2, 3, 4),  (5,)), ((0, 1, 0),))  # fmt: skip
    assert make().mep(enc, random.Random(0)) is None


# --- PP ---------------------------------------------------------------------------------------------


def test_pp_permutations_spans_and_classes() -> None:
    b = make(PretrainDataConfig(pp_np=5))
    insts = b.pp(SENT, random.Random(3))
    assert len(insts) == 3 * 5  # 3 entities -> 3 pairs, 5 instances each
    for k in range(0, len(insts), 5):
        group = insts[k : k + 5]
        assert group[0].label == IDENTITY and len({g.label for g in group}) == 5
        assert group[0].seq.tokens == TOKENS
    # pair (Marie Curie, Paris): L = In the, E1 = Marie Curie, M = lab, E2 = Paris, R = was cold 1867 .
    parts = [("In", "the"), ("Marie", "Curie"), ("lab",), ("Paris",), ("was", "cold", "1867", ".")]
    pair = [i for i in insts if {words(i.seq, s) for s in i.spans} == {parts[1], parts[3]}]
    assert len(pair) == 5
    for inst in pair:
        order = PERMUTATIONS[inst.label]
        assert inst.seq.tokens == tuple(t for p in order for t in parts[p])
        assert inst.spans[0][0] < inst.spans[1][0]  # spans in permuted order
        first = parts[1] if order.index(1) < order.index(3) else parts[3]
        assert words(inst.seq, inst.spans[0]) == first
        # pieces follow the words
        assert len(inst.seq.ids) == 12 and len(inst.seq.starts) == 10


def test_pp_known_class() -> None:
    """Class 119 = (4, 3, 2, 1, 0): R E2 M E1 L."""
    b = make()
    words_order, spans = b._arrange(b._parts(SENT, 0, 1), PERMUTATIONS[119])
    assert [TOKENS[w] for w in words_order] == ["was", "cold", "1867", ".", "Paris", "lab", "Marie", "Curie",
                                               "In", "the"]  # fmt: skip
    assert spans == [(4, 5), (6, 8)]


def test_pp_caps_entities_and_skips_overlaps() -> None:
    toks = tuple(f"w{i}" for i in range(20))
    enc = Encoded(0, toks, tuple((i,) for i in range(20)), tuple((2 * i, 2 * i + 1, 0) for i in range(8)))
    insts = make(PretrainDataConfig(pp_np=1)).pp(enc, random.Random(0))
    assert len(insts) == 10  # 5 entities kept -> 10 pairs
    overl = Encoded(0, toks[:5], tuple((i,) for i in range(5)), ((0, 3, 0), (1, 2, 0), (3, 4, 0)))
    pairs = make().build("pp", overl, 0)
    assert len(pairs) == 2 * 5  # (0-3, 3-4) and (1-2, 3-4); the nested pair is skipped


# --- ACD --------------------------------------------------------------------------------------------


def _acd_by_family(b: Builders, enc: Encoded, e1: str, e2: str) -> dict[str, object]:
    out = {}
    for inst in b.acd(enc, random.Random(0)):
        if {words(inst.positive, s) for s in inst.positive_spans} == {(e1,), (e2,)}:
            out[inst.family] = inst
    return out


def test_acd_shifts_are_reindexed() -> None:
    # a b c [X] d e f g [Y] h i   (ns = 2)
    toks = ("a", "b", "c", "X", "d", "e", "f", "g", "Y", "h", "i")
    enc = Encoded(0, toks, tuple((100 + i, 200 + i) if t in "Xe" else (100 + i,) for i, t in enumerate(toks)),
                  ((3, 4, 0), (8, 9, 0), (10, 11, 0)))  # fmt: skip
    fams = _acd_by_family(make(PretrainDataConfig(acd_ns=2)), enc, "X", "Y")
    assert set(fams) == {"swap", "e1_left", "e1_right", "e2_left", "e2_right"}
    expect = {
        "swap": "a b c Y d e f g X h i",
        "e1_left": "a X b c d e f g Y h i",
        "e1_right": "a b c d e X f g Y h i",
        "e2_left": "a b c X d e Y f g h i",
        "e2_right": "a b c X d e f g h i Y",
    }
    for fam, inst in fams.items():
        assert " ".join(inst.negative.tokens) == expect[fam], fam
        assert inst.positive.tokens == toks and inst.positive_spans == ((3, 4), (8, 9))
        left, right = inst.negative_spans
        assert left[0] < right[0]
        got = {words(inst.negative, left), words(inst.negative, right)}
        assert got == {("X",), ("Y",)}  # the spans point at the moved entities
        # word pieces were moved with their words: every word's first piece is its own
        for w, tok in enumerate(inst.negative.tokens):
            assert inst.negative.ids[inst.negative.starts[w]] == 100 + toks.index(tok)
        assert len(inst.negative.ids) == len(inst.positive.ids) == 13
    assert fams["swap"].negative_spans == ((3, 4), (8, 9))
    assert fams["e2_right"].negative_spans == ((3, 4), (10, 11))


def test_acd_shift_clipped_to_available_context_and_mask_family() -> None:
    toks = ("X", "m", "Y")  # no left / right context, one middle word
    enc = Encoded(0, toks, ((1, 2), (3,), (4,)), ((0, 1, 0), (2, 3, 0)))
    fams = [i.family for i in make(PretrainDataConfig(acd_ns=5)).acd(enc, random.Random(0))]
    assert sorted(fams) == ["e1_right", "e2_left", "swap"]
    masked = [i for i in make(PretrainDataConfig(acd_mask_family=True)).acd(enc, random.Random(0))
              if i.family == "mask"]  # fmt: skip
    assert [list(i.negative.ids) for i in masked] == [
        [MASK, 2, 3, 4],
        [MASK, MASK, 3, 4],
        [1, 2, 3, MASK],  # E2 is masked separately, from the original
    ]
    assert all(i.negative_spans == ((0, 1), (2, 3)) for i in masked)


def test_acd_identical_swap_is_not_a_negative() -> None:
    toks = ("Paris", "and", "Paris")
    enc = Encoded(0, toks, ((1,), (2,), (1,)), ((0, 1, 6), (2, 3, 6)))
    fams = [i.family for i in make().acd(enc, random.Random(0))]
    assert "swap" not in fams and sorted(fams) == ["e1_right", "e2_left"]


def test_acd_pairs_cap() -> None:
    toks = tuple(f"w{i}" for i in range(30))
    enc = Encoded(0, toks, tuple((i,) for i in range(30)), tuple((3 * i, 3 * i + 1, 0) for i in range(10)))
    insts = make().acd(enc, random.Random(0))
    assert len({i.positive_spans for i in insts}) == 28  # 8 entities kept -> 28 pairs


# --- corpus, streams and batches --------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    lines = []
    for i in range(12):
        toks = ["Marie", "Curie", "visited", "Paris", "in", str(1890 + i), "with", "Pierre", "."]
        ents = [[0, 2, "PERSON"], [3, 4, "GPE"], [5, 6, "DATE"], [7, 8, "PERSON"]]
        lines.append({"id": f"s{i}", "tokens": toks, "entities": ents if i % 4 else ents[:2]})
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_iter_corpus_streams_partition(corpus: Path) -> None:
    all_uids = [u for u, _ in iter_corpus([corpus])]
    parts = [[u for u, _ in iter_corpus([corpus], [s], 3)] for s in range(3)]
    assert sorted(sum(parts, [])) == all_uids == list(range(12))
    assert parts[1] == [1, 4, 7, 10]


def test_pretrain_data_batches(corpus: Path) -> None:
    from enpar.encoding import load_tokenizer

    tok = load_tokenizer("minilm")
    cfg = PretrainDataConfig(shuffle_buffer=4, mep_mask=1.0, mep_random=0.0)
    data = PretrainData(corpus, tok, cfg, max_pieces=128, streams=[0, 1], n_streams=2)
    assert data.labels == SPACY_LABELS
    met = data.micro_batch(0, "met", 3)
    assert met.batch.input_ids.shape[0] == 3 and met.spans.shape == (12, 3) and met.labels.shape == (12,)
    assert met.labels.tolist()[:4] == [3, 6, 1, 3]
    mep = data.micro_batch(1, "mep", 2)
    rows, cols = mep.positions[:, 0], mep.positions[:, 1]
    assert (mep.batch.input_ids[rows, cols] == tok.mask_token_id).all()
    pp = data.micro_batch(0, "pp", 5)
    assert pp.spans.shape == pp.right.shape == (5, 3) and (pp.spans[:, 1] < pp.right[:, 1]).all()
    acd = data.micro_batch(1, "acd", 4)
    assert acd.batch.input_ids.shape[0] == 8 and acd.size == 4
    # the same seed gives the same stream; a fresh object reproduces it
    again = PretrainData(corpus, tok, cfg, max_pieces=128, streams=[0, 1], n_streams=2)
    assert again.micro_batch(0, "met", 3).batch.input_ids.equal(
        PretrainData(corpus, tok, cfg, max_pieces=128, streams=[0, 1], n_streams=2)
        .micro_batch(0, "met", 3).batch.input_ids
    )  # fmt: skip
    # sentences with < 3 entities (every 4th line has 2) never appear; uids 0, 4, 8 are filtered
    uids = {e.uid for e in data.encoder.encode(iter_corpus(data.paths))}
    assert uids == set(range(12)) - {0, 4, 8}


# --- coverage -------------------------------------------------------------------------------------------


def _data(corpus: Path, **cfg) -> PretrainData:
    from enpar.encoding import load_tokenizer

    tasks = ("mep", "met", "pp", "acd")
    return PretrainData(
        corpus, load_tokenizer("minilm"), PretrainDataConfig(**cfg), max_pieces=128, tasks=tasks
    )


def test_every_objective_covers_the_corpus_each_pass(corpus: Path) -> None:
    kept = set(range(12)) - {0, 4, 8}  # the sentences with >= 3 entities
    data = _data(corpus)
    for task in ("mep", "met", "pp", "acd"):
        stream = data.streams[(0, task)]
        orders = []
        for epoch in range(3):  # one instance per sentence per pass: each pass draws every sentence once
            before = set(stream.drawn)
            stream.drawn.clear()
            data.take(0, task, len(kept))
            assert stream.drawn == kept, (task, epoch)
            stream.drawn |= before
            orders.append(stream.order(epoch))
        assert data.distinct(task) == len(kept) and data.passes(task) >= 2
        assert orders[0] != orders[1] != orders[2]  # a fresh order each pass
    # uncapped (the authors' code), PP would spend a whole batch of 9 on a sentence or two
    uncapped = _data(corpus, per_sentence=0)
    uncapped.take(0, "pp", 9)
    assert uncapped.distinct("pp") <= 2


def test_streams_are_seeded_and_resume_replays(corpus: Path) -> None:
    def ids(data: PretrainData, task: str, n: int) -> list[tuple[int, ...]]:
        return [tuple(i.negative.ids) if task == "acd" else tuple(i.seq.ids) for i in data.take(0, task, n)]

    a, b = _data(corpus), _data(corpus)
    for task in ("mep", "met", "pp", "acd"):
        assert ids(a, task, 20) == ids(b, task, 20)  # same seed, same stream (across passes)
    resumed = _data(corpus)
    for task in ("mep", "met", "pp", "acd"):
        resumed.skip(0, task, 13)
        assert ids(resumed, task, 7) == ids(_skip_then(corpus, task, 13), task, 7)
        assert resumed.distinct(task) == 9
    assert ids(_data(corpus, seed=1), "pp", 9) != ids(_data(corpus), "pp", 9)


def _skip_then(corpus: Path, task: str, n: int) -> PretrainData:
    data = _data(corpus)
    data.take(0, task, n)
    return data


def test_limited_pp_keeps_the_identity_rate_and_acd_one_pair_each() -> None:
    b = make(PretrainDataConfig(per_sentence=1))
    labels = [inst.label for e in range(2000) for inst in b.build("pp", SENT, e, limit=1)]
    assert len(labels) == 2000 and abs(labels.count(IDENTITY) / 2000 - 0.2) < 0.03
    assert len(set(labels)) > 60
    assert all(len(b.build("acd", SENT, e, limit=2)) == 2 for e in range(50))  # 3 usable pairs
    assert len(b.build("acd", SENT, 0, limit=0)) > 3


def test_mlm_masks_pieces_bert_style() -> None:
    b = make(PretrainDataConfig(mlm_rate=0.5))
    flat_ids = flat(SENT)
    seen = Counter()
    for e in range(300):
        (inst,) = b.build("mlm", SENT, e)
        assert inst.positions and list(inst.targets) == [flat_ids[p] for p in inst.positions]
        for p in inst.positions:
            got = inst.seq.ids[p]
            seen["mask" if got == MASK else "kept" if got == flat_ids[p] else "random"] += 1
        unmasked = set(range(len(flat_ids))) - set(inst.positions)
        assert all(inst.seq.ids[p] == flat_ids[p] for p in unmasked)
    total = sum(seen.values())
    assert abs(seen["mask"] / total - 0.8) < 0.05 and seen["random"] > 0 and seen["kept"] > 0


def test_long_micro_batches_are_cut_into_length_sorted_chunks(corpus: Path) -> None:
    from enpar.pretrain_data import chunk_instances

    data = _data(corpus)
    inst = data.take(0, "acd", 6)
    assert chunk_instances("acd", inst, 0) == [inst]
    chunks = chunk_instances("acd", inst, 2 * 2 * 14)  # room for two pairs of ~13 pieces
    assert sorted(map(id, sum(chunks, []))) == sorted(map(id, inst)) and len(chunks) == 3
    assert data.batches("acd", inst, 60)[0].batch.input_ids.shape[0] == 4
