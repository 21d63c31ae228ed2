"""Paired tests between two committed SciERC result folders, from their test_metrics.json alone.

    .venv/bin/python scripts/compare_from_results.py baseline-bs8 enpar400-bs8 [--seeds 5216 5217 5218]

`scripts/compare_scierc.sh` needs both runs' test predictions; this one needs only what
`scripts/finetune_scierc.sh` commits under results/scierc-NAME/seedS/. Every predicted relation (spans, both
entity types, label) is listed once in the metrics' error taxonomy (side "pred"), so each system's
predicted relations are rebuilt from it and the same approximate-randomisation test as `enpar score --vs`
runs on the two relation conventions. Entities outside relations are not in the taxonomy, so there is no
entity test here. Writes results/scierc-compare-A-vs-B/summary-from-metrics.json (the same p-values as
`compare_scierc.sh` gives from the predictions: checked on baseline-bs8 vs enpar-bs8).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from enpar.datasets import default_data_root
from enpar.metrics import paired_test
from enpar.readers import read_dataset
from enpar.schema import DataError, Entity, Relation, Sentence, read_text

ROOT = Path(__file__).resolve().parents[1]
CONVENTIONS = ("relation", "relation_strict")


def predicted_relations(metrics_path: Path, gold: list[Sentence]) -> list[Sentence]:
    """The gold sentences carrying the system's predicted relations (and their argument entities)."""
    try:
        taxonomy = json.loads(read_text(metrics_path))["systems"]["A"]["taxonomy"]
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not an `enpar evaluate` metrics file
        raise DataError(
            f"not an `enpar evaluate` metrics file ({exc!r})", path=metrics_path, field="systems.A.taxonomy"
        ) from exc
    if taxonomy["symmetric"] != "directed":
        raise DataError("needs the directed convention", path=metrics_path, field="taxonomy.symmetric")
    by_sentence: dict[str, set[Relation]] = defaultdict(set)
    for item in taxonomy.get("items") or []:
        if item["side"] == "pred":
            rel = item["relation"]
            head, tail = Entity(*rel["head"]), Entity(*rel["tail"])
            by_sentence[item["sentence"]].add(Relation(head, tail, rel["label"]))
    if sum(map(len, by_sentence.values())) != taxonomy["n_pred"]:
        raise DataError(
            "items do not add up to n_pred (scored with --no-items?)",
            path=metrics_path,
            field="taxonomy.items",
        )
    out = []
    for sent in gold:
        rels = by_sentence.pop(sent.id, set())
        out.append(sent.with_predictions({e for r in rels for e in (r.head, r.tail)}, rels))
    if by_sentence:
        missing = sorted(by_sentence)[:3]
        raise DataError(f"sentences not in the gold: {missing}", path=metrics_path, field="taxonomy.items")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", help="results/scierc-A (system A)")
    parser.add_argument("b", help="results/scierc-B (system B)")
    parser.add_argument("--seeds", nargs="+", default=["5216", "5217", "5218"])
    parser.add_argument("--gold", type=Path, default=default_data_root() / "scierc" / "test.json")
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()

    gold = read_dataset(args.gold)
    summary: dict[str, Any] = {
        "method": "approximate randomisation (two-sided, sentence-level swaps) on relations rebuilt "
        "from each seed's test_metrics.json error taxonomy; delta = A - B",
        "a": args.a,
        "b": args.b,
        "seeds": {},
    }
    for seed in args.seeds:
        preds = [
            predicted_relations(
                ROOT / "results" / f"scierc-{name}" / f"seed{seed}" / "test_metrics.json", gold
            )
            for name in (args.a, args.b)
        ]
        row = {}
        for conv in CONVENTIONS:
            test = paired_test(gold, *preds, convention=conv, n_resamples=args.trials, seed=0)
            row[conv] = {k: test[k] for k in ("value_a", "value_b", "delta", "p_value", "delta_ci")}
        summary["seeds"][seed] = row
        print(
            f"seed {seed}: "
            + "; ".join(
                f"{conv} A {100 * t['value_a']:.1f} B {100 * t['value_b']:.1f} p={t['p_value']:.3f}"
                for conv, t in row.items()
            )
        )
    out = ROOT / "results" / f"scierc-compare-{args.a}-vs-{args.b}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary-from-metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'summary-from-metrics.json'}")


if __name__ == "__main__":
    main()
