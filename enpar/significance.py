"""Sentence-level resampling for `enpar.metrics`: bootstrap CIs and paired tests (pure Python).

Everything here works on per-sentence count triples `(tp, n_pred, n_gold)`. A micro score of any resample
of sentences is a function of the summed triples, so sentences are matched once and only the sums are
resampled. For speed each triple is packed into one integer (`_pack`), so one C-level `sum` adds all three.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import compress, repeat
from operator import itemgetter, mul

Counts = tuple[int, int, int]  # (tp, n_pred, n_gold)
METRICS = ("precision", "recall", "f1")

_SHIFT = 48  # bits per packed field: sums stay far below 2**48 for any real test set
_FIELD = (1 << _SHIFT) - 1
_PARITY = bytes(i & 1 for i in range(256))  # random bytes -> fair 0/1 coins


def _pack(c: Counts) -> int:
    return c[0] | c[1] << _SHIFT | c[2] << 2 * _SHIFT


def _unpack(x: int) -> Counts:
    return x & _FIELD, (x >> _SHIFT) & _FIELD, x >> 2 * _SHIFT


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall, F1 as fractions.

    Zero division: nothing predicted and nothing to find is perfect (1, 1, 1), so gold scored against
    itself is 1.0 even without relations; otherwise an empty denominator gives 0.
    """
    if n_pred == 0 and n_gold == 0:
        return 1.0, 1.0, 1.0
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    # 2tp/(pred+gold) equals 2PR/(P+R) and stays exact (gold vs gold is exactly 1.0).
    return precision, recall, 2 * tp / (n_pred + n_gold)


def add_counts(counts: Sequence[Counts]) -> Counts:
    return sum(c[0] for c in counts), sum(c[1] for c in counts), sum(c[2] for c in counts)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    if not sorted_values:
        return math.nan
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def percentile_interval(values: Sequence[float], confidence: float) -> list[float]:
    ordered = sorted(values)
    alpha = (1 - confidence) / 2
    return [quantile(ordered, alpha), quantile(ordered, 1 - alpha)]


class Resampler:
    """`n_resamples` bootstrap resamples of `n_items` sentences, stored as per-sentence multiplicities.

    Fixed by the seed and shared, so every statistic, bucket and both systems of a paired test see the
    same resamples.
    """

    def __init__(self, n_items: int, n_resamples: int = 1000, seed: int = 0) -> None:
        if n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
        self.n_items, self.n_resamples, self.seed = n_items, n_resamples, seed
        rng = random.Random(seed)
        self.weights: list[list[int]] = []
        for _ in range(n_resamples):
            # n uniform draws with replacement: 64-bit random words mod n (bias < n / 2**64), counted in C.
            draws = Counter(map(n_items.__rmod__, array("Q", rng.randbytes(8 * n_items)))) if n_items else {}
            self.weights.append(list(map(draws.get, range(n_items), repeat(0))))
        self._memo: dict[tuple[Counts, ...], list[Counts]] = {}

    def sums(self, counts: Sequence[Counts]) -> list[Counts]:
        """The summed triple of every resample."""
        if len(counts) != self.n_items:
            raise ValueError(f"expected {self.n_items} per-sentence counts, got {len(counts)}")
        memo_key = tuple(counts)
        if memo_key in self._memo:
            return self._memo[memo_key]
        nonzero = [i for i, c in enumerate(counts) if c != (0, 0, 0)]
        if not nonzero:
            out = [(0, 0, 0)] * self.n_resamples
        else:
            # Only sentences that count contribute; itemgetter pulls their weights in C.
            pick = itemgetter(*nonzero) if len(nonzero) > 1 else (lambda w, i=nonzero[0]: (w[i],))
            packed = [_pack(counts[i]) for i in nonzero]
            out = [_unpack(sum(map(mul, pick(w), packed))) for w in self.weights]
        self._memo[memo_key] = out
        return out

    def ci(self, counts: Sequence[Counts], confidence: float = 0.95) -> dict[str, list[float]]:
        """Percentile bootstrap intervals of micro precision, recall and F1.

        Resamples with nothing predicted and nothing to find (possible for a small bucket) say nothing
        about the score and are skipped rather than counted as perfect.
        """
        scores = [prf(*s) for s in self.sums(counts) if s[1] or s[2]]
        if not scores:
            point = prf(*add_counts(counts))
            return {m: [point[k], point[k]] for k, m in enumerate(METRICS)}
        return {m: percentile_interval([s[k] for s in scores], confidence) for k, m in enumerate(METRICS)}


def paired_bootstrap(
    resampler: Resampler,
    counts_a: Sequence[Counts],
    counts_b: Sequence[Counts],
    *,
    metric: str = "f1",
    confidence: float = 0.95,
) -> dict[str, float | list[float]]:
    """Two-sided paired bootstrap on the difference of a micro metric (A - B).

    p = (1 + #{|d* - d| >= |d|}) / (n + 1): the resampled differences, centred on the observed one,
    approximate the null distribution (the two-sided form of Berg-Kirkpatrick et al. 2012).
    """
    k = METRICS.index(metric)
    delta = prf(*add_counts(counts_a))[k] - prf(*add_counts(counts_b))[k]
    pairs = zip(resampler.sums(counts_a), resampler.sums(counts_b), strict=True)
    diffs = [prf(*a)[k] - prf(*b)[k] for a, b in pairs]
    extreme = sum(abs(d - delta) >= abs(delta) - 1e-12 for d in diffs)
    return {
        "delta": delta,
        "p_value": (extreme + 1) / (len(diffs) + 1),
        "delta_ci": percentile_interval(diffs, confidence),
    }


def approximate_randomization(
    counts_a: Sequence[Counts],
    counts_b: Sequence[Counts],
    *,
    metric: str = "f1",
    n_trials: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Two-sided approximate randomisation: swap the two systems' outputs per sentence by fair coins.

    p = (1 + #{|d'| >= |d|}) / (n_trials + 1) (Noreen 1989; Riezler and Maxwell 2005).
    """
    if len(counts_a) != len(counts_b):
        raise ValueError("both systems need counts for the same sentences")
    k = METRICS.index(metric)
    total_a, total_b = add_counts(counts_a), add_counts(counts_b)
    delta = prf(*total_a)[k] - prf(*total_b)[k]
    # Swapping a sentence where both systems agree changes nothing, so only differing ones are drawn.
    differ = [(_pack(a), _pack(b)) for a, b in zip(counts_a, counts_b, strict=True) if a != b]
    packed_a, packed_b = [d[0] for d in differ], [d[1] for d in differ]
    rng = random.Random(seed)
    extreme = 0
    for _ in range(n_trials):
        coins = rng.randbytes(len(differ)).translate(_PARITY)
        moved_a, moved_b = _unpack(sum(compress(packed_a, coins))), _unpack(sum(compress(packed_b, coins)))
        a = prf(*(t - ma + mb for t, ma, mb in zip(total_a, moved_a, moved_b, strict=True)))[k]
        b = prf(*(t - mb + ma for t, ma, mb in zip(total_b, moved_a, moved_b, strict=True)))[k]
        extreme += abs(a - b) >= abs(delta) - 1e-12
    return {"delta": delta, "p_value": (extreme + 1) / (n_trials + 1)}
