"""ENPAR pre-training instances from one entity-annotated sentence (spec sections 1.2 and 7), and MLM's.

    MET  masked entity typing: per entity 15% all pieces [MASK], 5% a random entity with as many pieces,
         else kept; every entity (full span, spec 7.4) is a typing target.
    MEP  masked entity prediction: BERT-style, whole entities up to a piece budget, 80/10/10.
    PP   permutation prediction: the parts (L, E1, M, E2, R) of an entity pair reordered; 120 classes, the
         permutations of (0..4) in lexicographic order (class 0 = identity); np per pair, gold included.
    ACD  adversarial (confused) context discrimination: (negative, positive) pairs; negatives swap E1 and E2
         or move E1 / E2 left or right past s = min(ns, available) words, correctly re-indexed (spec 7.6).
    MLM  the control arm: BERT's masked language model, 15% of the pieces, 80/10/10, entities ignored.

`limit` (PretrainDataConfig.per_sentence) bounds the instances one sentence gives per pass: PP and ACD
then take `limit` random entity pairs and one instance each (PP: the identity order with probability
1/np, as among np instances per pair), so every objective's draws spread over the whole corpus.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from enpar.config import JsonConfig

TASKS: tuple[str, ...] = ("mep", "met", "pp", "acd")  # the code's order within a micro-step
MLM = "mlm"  # the control arm: alone, never mixed with the four
OBJECTIVES: tuple[str, ...] = (*TASKS, MLM)

# spaCy's 18 OntoNotes types in the order of the authors' entity_labels.json
SPACY_LABELS: tuple[str, ...] = (
    "CARDINAL", "DATE", "ORG", "PERSON", "NORP", "FAC", "GPE", "EVENT", "MONEY",
    "ORDINAL", "WORK_OF_ART", "LANGUAGE", "TIME", "PRODUCT", "LAW", "PERCENT", "LOC", "QUANTITY",
)  # fmt: skip

PERMUTATIONS: tuple[tuple[int, ...], ...] = tuple(itertools.permutations(range(5)))  # lexicographic
IDENTITY = 0
assert PERMUTATIONS[IDENTITY] == (0, 1, 2, 3, 4) and PERMUTATIONS[119] == (4, 3, 2, 1, 0)


@dataclass(frozen=True)
class PretrainDataConfig(JsonConfig):
    """Instance-building options; defaults follow the paper, or section 7's reading where they differ."""

    min_entities: int = 3  # paper; the authors' code used 2
    max_pieces: int = 256  # [CLS]/[SEP] included; also capped by the encoder's limit
    met_mask: float = 0.15
    met_random: float = 0.05
    mep_rate: float = 0.15  # budget B = min(mep_max, max(1, round(mep_rate * L)))
    mep_max: int = 20
    mep_mask: float = 0.8  # of the selected entities: 80% [MASK], 10% random, 10% kept
    mep_random: float = 0.1
    pp_entities: int = 5  # entities per sentence that form pairs (<= 10 pairs)
    pp_np: int = 5  # instances per pair, the gold order included
    acd_entities: int = 8  # <= 28 pairs
    acd_ns: int = 5  # shift entities by s = min(ns, available words)
    acd_mask_family: bool = False  # the code's progressive-mask negatives (not in the paper)
    # coverage: each pass visits a stream's sentences in a fresh shuffled order per objective, and one
    # sentence gives at most `per_sentence` instances per pass (0 = all, the authors' code: PP up to 50,
    # ACD up to 140, which kept 400 steps on a few hundred sentences)
    per_sentence: int = 1
    shuffle_buffer: int = 0  # instances mixed after building (useful only with per_sentence = 0)
    mlm_rate: float = 0.15  # MLM: each piece is a target with this probability (at least one per sentence)
    mlm_mask: float = 0.8  # of the targets: 80% [MASK], 10% a random vocabulary id, 10% kept
    mlm_random: float = 0.1
    pool_sentences: int = 50_000  # sentences scanned for the random-entity pool and the label set
    pool_per_length: int = 5_000  # mentions kept per piece length (reservoir, frequency-weighted)
    seed: int = 0


# --- sentences ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """An annotated sentence with the pieces of every word."""

    uid: int  # line number in the corpus (0-based over all files): seeds its instances
    tokens: tuple[str, ...]
    pieces: tuple[tuple[int, ...], ...]  # per word, >= 1 piece each
    entities: tuple[tuple[int, int, int], ...]  # (start, end, label id), label -1 = not a typing class

    @property
    def n_pieces(self) -> int:
        return sum(len(p) for p in self.pieces)


@dataclass(frozen=True)
class Seq:
    """A word sequence and its pieces (no [CLS]/[SEP]); starts[i] = index of word i's first piece."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    starts: tuple[int, ...]


def _seq(enc: Encoded, order: Sequence[int], ids: Sequence[int] | None = None) -> Seq:
    """The sentence's words in `order` (word indices), optionally with corrupted piece ids."""
    tokens, starts, out_ids = [], [], []
    for w in order:
        starts.append(len(out_ids))
        tokens.append(enc.tokens[w])
        out_ids.extend(enc.pieces[w])
    if ids is not None:
        out_ids = list(ids)
    return Seq(tuple(tokens), tuple(out_ids), tuple(starts))


def _piece_range(enc: Encoded, start: int, end: int) -> tuple[int, int]:
    """Word span -> piece span [a, b) in the unpermuted sentence."""
    a = sum(len(p) for p in enc.pieces[:start])
    return a, a + sum(len(p) for p in enc.pieces[start:end])


@dataclass(frozen=True)
class MetInstance:
    seq: Seq
    spans: tuple[tuple[int, int], ...]  # every entity, full word span
    labels: tuple[int, ...]  # label ids (-1: ignored)


@dataclass(frozen=True)
class MepInstance:
    seq: Seq  # corrupted
    positions: tuple[int, ...]  # piece positions (no [CLS]) to predict
    targets: tuple[int, ...]  # their original ids


@dataclass(frozen=True)
class PpInstance:
    seq: Seq  # permuted
    spans: tuple[tuple[int, int], tuple[int, int]]  # the two entities, in their order in `seq`
    label: int  # index into PERMUTATIONS


@dataclass(frozen=True)
class AcdInstance:
    negative: Seq
    negative_spans: tuple[tuple[int, int], tuple[int, int]]  # left, right in the negative
    positive: Seq
    positive_spans: tuple[tuple[int, int], tuple[int, int]]
    family: str  # "swap" | "e1_left" | "e1_right" | "e2_left" | "e2_right" | "mask"


# --- the random-entity pool ---------------------------------------------------------------------------


class EntityPool:
    """Entity mentions' piece ids by piece length (the code's entity2tokens.json): a replacement keeps the
    sequence length, so every index stays valid. Duplicates are kept: sampling is frequency-weighted."""

    def __init__(self, by_length: dict[int, list[tuple[int, ...]]] | None = None) -> None:
        self.by_length = by_length or {}

    @classmethod
    def build(cls, sentences: Iterable[Encoded], per_length: int, seed: int) -> EntityPool:
        rng = random.Random(f"{seed}:pool")
        pool: dict[int, list[tuple[int, ...]]] = {}
        seen: dict[int, int] = {}
        for enc in sentences:
            for st, ed, _ in enc.entities:
                a, b = _piece_range(enc, st, ed)
                mention = tuple(itertools.chain.from_iterable(enc.pieces[st:ed]))
                n = b - a
                seen[n] = seen.get(n, 0) + 1
                bucket = pool.setdefault(n, [])
                if len(bucket) < per_length:
                    bucket.append(mention)
                else:  # reservoir sampling keeps a uniform sample of all mentions of this length
                    j = rng.randrange(seen[n])
                    if j < per_length:
                        bucket[j] = mention
        return cls(pool)

    def replace(self, original: Sequence[int], rng: random.Random, tries: int = 10) -> tuple[int, ...]:
        """A different mention of the same piece length; the original if none exists (spec 7.21: no retry
        on the same index)."""
        bucket = self.by_length.get(len(original))
        original = tuple(original)
        if bucket:
            for _ in range(tries):
                pick = bucket[rng.randrange(len(bucket))]
                if pick != original:
                    return pick
        return original


# --- instance builders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builders:
    """The four builders with what they share: options, the pool, the [MASK] id, the vocabulary size."""

    config: PretrainDataConfig
    pool: EntityPool
    mask_id: int
    vocab_size: int

    def rng(self, task: str, enc: Encoded, epoch: int) -> random.Random:
        return random.Random(f"{self.config.seed}:{task}:{enc.uid}:{epoch}")

    def build(self, task: str, enc: Encoded, epoch: int, limit: int = 0) -> list[Any]:
        """The sentence's instances for this pass; at most `limit` of them (0 = no bound)."""
        rng = self.rng(task, enc, epoch)
        if task == "met":
            return [self.met(enc, rng)]
        if task in ("mep", MLM):
            inst = self.mep(enc, rng) if task == "mep" else self.mlm(enc, rng)
            return [inst] if inst is not None else []
        if task == "pp":
            return self.pp(enc, rng, limit)
        if task == "acd":
            return self.acd(enc, rng, limit)
        raise ValueError(f"unknown task {task!r}; expected one of {OBJECTIVES}")

    def met(self, enc: Encoded, rng: random.Random) -> MetInstance:
        cfg = self.config
        ids = list(itertools.chain.from_iterable(enc.pieces))
        for st, ed, _ in enc.entities:  # one independent draw per entity
            a, b = _piece_range(enc, st, ed)
            r = rng.random()
            if r < cfg.met_mask:
                ids[a:b] = [self.mask_id] * (b - a)
            elif r < cfg.met_mask + cfg.met_random:
                ids[a:b] = self.pool.replace(ids[a:b], rng)
        spans = tuple((st, ed) for st, ed, _ in enc.entities)
        labels = tuple(lab for _, _, lab in enc.entities)
        return MetInstance(_seq(enc, range(len(enc.tokens)), ids), spans, labels)

    def mep(self, enc: Encoded, rng: random.Random) -> MepInstance | None:
        cfg = self.config
        ids = list(itertools.chain.from_iterable(enc.pieces))
        budget = min(cfg.mep_max, max(1, round(cfg.mep_rate * (len(ids) + 2))))  # L counts [CLS]/[SEP]
        order = list(range(len(enc.entities)))
        rng.shuffle(order)
        chosen: list[tuple[int, int]] = []
        used = 0
        taken: set[int] = set()
        for k in order:  # an entity that would overflow the budget is skipped; the scan goes on
            a, b = _piece_range(enc, *enc.entities[k][:2])
            if used + (b - a) > budget or taken & set(range(a, b)):
                continue
            chosen.append((a, b))
            taken |= set(range(a, b))
            used += b - a
        if not chosen:
            return None
        original = list(ids)
        for a, b in chosen:
            r = rng.random()
            if r < cfg.mep_mask:
                ids[a:b] = [self.mask_id] * (b - a)
            elif r < cfg.mep_mask + cfg.mep_random:
                ids[a:b] = self.pool.replace(ids[a:b], rng)
        positions = tuple(sorted(taken))
        return MepInstance(
            _seq(enc, range(len(enc.tokens)), ids), positions, tuple(original[p] for p in positions)
        )

    def mlm(self, enc: Encoded, rng: random.Random) -> MepInstance:
        """BERT's masking over all pieces: targets with probability mlm_rate (at least one), of which
        80% [MASK], 10% a uniformly random vocabulary id, 10% kept."""
        cfg = self.config
        ids = list(itertools.chain.from_iterable(enc.pieces))
        positions = [p for p in range(len(ids)) if rng.random() < cfg.mlm_rate] or [rng.randrange(len(ids))]
        original = list(ids)
        for p in positions:
            r = rng.random()
            if r < cfg.mlm_mask:
                ids[p] = self.mask_id
            elif r < cfg.mlm_mask + cfg.mlm_random:
                ids[p] = rng.randrange(self.vocab_size)
        seq = _seq(enc, range(len(enc.tokens)), ids)
        return MepInstance(seq, tuple(positions), tuple(original[p] for p in positions))

    def _pairs(self, enc: Encoded, rng: random.Random, keep: int) -> list[tuple[int, int]]:
        """Shuffle the entities, keep `keep`, and pair them up (e1 = the earlier mention); overlapping
        mentions cannot be cut into L, E1, M, E2, R and are skipped."""
        chosen = list(range(len(enc.entities)))
        rng.shuffle(chosen)
        chosen = sorted(chosen[:keep], key=lambda k: enc.entities[k][:2])
        out = []
        for i, j in itertools.combinations(chosen, 2):
            if enc.entities[i][1] <= enc.entities[j][0]:
                out.append((i, j))
        return out

    @staticmethod
    def _parts(enc: Encoded, i: int, j: int) -> list[list[int]]:
        """Word indices of L, E1, M, E2, R for the pair (i, j)."""
        (s1, e1, _), (s2, e2, _) = enc.entities[i], enc.entities[j]
        n = len(enc.tokens)
        return [
            list(range(0, s1)),
            list(range(s1, e1)),
            list(range(e1, s2)),
            list(range(s2, e2)),
            list(range(e2, n)),
        ]

    @staticmethod
    def _arrange(
        parts: Sequence[Sequence[int]], order: Sequence[int]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Concatenate parts in `order`; return the word order and the spans of parts 1 and 3 (E1, E2),
        sorted by position in the new sequence."""
        words: list[int] = []
        where: dict[int, tuple[int, int]] = {}
        for p in order:
            where[p] = (len(words), len(words) + len(parts[p]))
            words.extend(parts[p])
        spans = sorted([where[1], where[3]])
        return words, spans

    def _limited_pairs(
        self, enc: Encoded, rng: random.Random, keep: int, limit: int
    ) -> list[tuple[int, int]]:
        """The usable pairs; with a limit, that many of them at random."""
        pairs = self._pairs(enc, rng, keep)
        if limit:
            rng.shuffle(pairs)
            pairs = pairs[:limit]
        return pairs

    def pp(self, enc: Encoded, rng: random.Random, limit: int = 0) -> list[PpInstance]:
        cfg = self.config
        out = []
        for i, j in self._limited_pairs(enc, rng, cfg.pp_entities, limit):
            parts = self._parts(enc, i, j)
            if limit:  # one of the pair's np instances: the gold order with probability 1/np
                classes = [IDENTITY if rng.random() < 1 / cfg.pp_np else rng.randrange(1, len(PERMUTATIONS))]
            else:
                classes = [IDENTITY, *rng.sample(range(1, len(PERMUTATIONS)), cfg.pp_np - 1)]
            for c in classes:
                words, spans = self._arrange(parts, PERMUTATIONS[c])
                out.append(PpInstance(_seq(enc, words), (spans[0], spans[1]), c))
        return out

    def acd(self, enc: Encoded, rng: random.Random, limit: int = 0) -> list[AcdInstance]:
        out = []
        for i, j in self._limited_pairs(enc, rng, self.config.acd_entities, limit):
            found = self._acd_pair(enc, i, j)
            if limit and found:
                found = [found[rng.randrange(len(found))]]  # one negative family per pair
            out.extend(found)
        return out

    def _acd_pair(self, enc: Encoded, i: int, j: int) -> list[AcdInstance]:
        """Every negative of one entity pair, with its positive."""
        cfg = self.config
        out = []
        L, E1, M, E2, R = parts = self._parts(enc, i, j)
        pos_words, pos_spans = self._arrange(parts, range(5))
        positive = _seq(enc, pos_words)
        negatives: list[tuple[str, list[int] | None, list[tuple[int, int]]]] = []
        # each as five new parts whose 1 and 3 are the entities: E1/E2 moved past s words of context
        variants = [("swap", [L, E2, M, E1, R])]
        if (s := min(cfg.acd_ns, len(L))) > 0:
            variants.append(("e1_left", [L[: len(L) - s], E1, L[len(L) - s :] + M, E2, R]))
        if (s := min(cfg.acd_ns, len(M))) > 0:
            variants.append(("e1_right", [L + M[:s], E1, M[s:], E2, R]))
            variants.append(("e2_left", [L, E1, M[: len(M) - s], E2, M[len(M) - s :] + R]))
        if (s := min(cfg.acd_ns, len(R))) > 0:
            variants.append(("e2_right", [L, E1, M + R[:s], E2, R[s:]]))
        for family, new_parts in variants:
            words, spans = self._arrange(new_parts, range(5))
            negatives.append((family, words, spans))
        if cfg.acd_mask_family:  # progressive masking of E1's, then E2's pieces, spans unchanged
            base = list(positive.ids)
            for s, e in pos_spans:
                a = positive.starts[s]
                b = positive.starts[e] if e < len(positive.starts) else len(base)
                masked = list(base)
                for p in range(a, b):
                    masked[p] = self.mask_id
                    negatives.append(("mask", list(masked), list(pos_spans)))
        for family, words_or_ids, spans in negatives:
            if family == "mask":
                neg = Seq(positive.tokens, tuple(words_or_ids), positive.starts)  # type: ignore[arg-type]
            else:
                neg = _seq(enc, words_or_ids)  # type: ignore[arg-type]
                if neg.tokens == positive.tokens and spans == pos_spans:
                    continue  # e.g. swapping two identical mentions: no corruption at all
            out.append(AcdInstance(neg, (spans[0], spans[1]), positive, (pos_spans[0], pos_spans[1]), family))
        return out
