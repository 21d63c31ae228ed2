"""Plain-text rendering of a metrics report (enpar.metrics.report), for the `score` and `evaluate`
commands; enpar.metrics itself only computes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from enpar.metrics import CONVENTIONS, GOLD_CATEGORIES, PRED_CATEGORIES


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "-" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _render(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: Sequence[int] = (0,)) -> str:
    """A plain table: columns in `left` (names, prose) left-aligned, the rest (numbers) right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _per_system_headers(names: Sequence[str], fields: Sequence[str]) -> list[str]:
    return [f"{f} {n}" if len(names) > 1 else f for n in names for f in fields]


def format_report(rep: Mapping[str, Any]) -> str:
    """Plain-text tables of an enpar.metrics.report dict (scores in %): what `enpar score` and `enpar
    evaluate` print."""
    names = list(rep["systems"])
    out = _header(rep)
    out += _overall(rep, names)
    out += _per_type(rep, names)
    out += _breakdowns(rep, names)
    out += _paired(rep)
    out += _taxonomy(rep, names)
    return "\n".join(out).rstrip() + "\n"


def _confidence(rep: Mapping[str, Any]) -> str:
    return f"{100 * rep['settings']['confidence']:g}%"


def _header(rep: Mapping[str, Any]) -> list[str]:
    settings, gold = rep["settings"], rep["gold"]
    labels = ", ".join(settings["symmetric_labels"]) or "none"
    if settings["n_bootstrap"]:
        ci_line = f"{settings['ci_method']}, {settings['n_bootstrap']} resamples, seed {settings['seed']}"
    else:
        ci_line = "not computed (no resamples)"
    return [
        f"{gold['n_sentences']} sentences, {gold['n_entities']} gold entities, {gold['n_relations']} gold "
        f"relations. Scores in %.",
        f"Symmetric relations: {settings['symmetric']} (symmetric labels: {labels}).",
        f"{_confidence(rep)} CI: {ci_line}.",
        "Conventions: " + "; ".join(rep["conventions"].values()) + ".",
    ]


def _overall(rep: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    rows = []
    for name in names:
        for conv, s in rep["systems"][name]["scores"].items():
            m, ci = s["micro"], s["micro"]["ci"]
            rows.append(
                [name, conv, _pct(m["precision"]), _pct(m["recall"]), _pct(m["f1"])]
                + [_ci(ci["f1"] if ci else None), m["tp"], m["n_pred"], m["n_gold"]]
                + [_pct(s["macro"]["f1"]), s["macro"]["n_types"]]
            )
    headers = ["system", "convention", "P", "R", "F1", f"F1 {_confidence(rep)} CI", "tp", "pred", "gold"]
    headers += ["macro F1", "types"]
    return ["", "== Overall (micro; macro F1 = mean over types) ==", _render(headers, rows, left=(0, 1))]


def _per_type(rep: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    systems, out = rep["systems"], []
    for conv in CONVENTIONS:
        types = sorted({t for n in names for t in systems[n]["scores"][conv]["per_type"]})
        rows = []
        for t in types:
            entries = [systems[n]["scores"][conv]["per_type"].get(t) for n in names]
            row: list[Any] = [t, next(e["n_gold"] for e in entries if e)]
            for e in entries:
                e = e or {"n_pred": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
                row += [e["n_pred"], _pct(e["precision"]), _pct(e["recall"]), _pct(e["f1"])]
            rows.append(row)
        headers = ["type", "gold", *_per_system_headers(names, ("pred", "P", "R", "F1"))]
        out += ["", f"== Per type: {conv} ==", _render(headers, rows) if rows else "(nothing to score)"]
    return out


def _breakdowns(rep: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for by, bd in rep["breakdowns"].items():
        rows = []
        for r in bd["rows"]:
            row = [r["bucket"], r["support"]]
            for n in names:
                e = r["systems"][n]
                row += [_pct(e["f1"]), _ci(e["ci"]), e["n_pred"], e["n_gold"]]
            rows.append(row)
        headers = ["bucket", "support", *_per_system_headers(names, ("F1", "CI", "pred", "gold"))]
        title = f"== Breakdown by {by} ({bd['convention']}; support = {bd['unit']}) =="
        out += ["", title, _render(headers, rows)]
    return out


def _paired(rep: Mapping[str, Any]) -> list[str]:
    if not rep.get("paired_test"):
        return []
    rows = []
    for conv, t in rep["paired_test"].items():
        p_value = "-" if t["p_value"] is None else f"{t['p_value']:.4f}"
        rows.append(
            [conv, t["a"], t["b"], _pct(t["value_a"]), _pct(t["value_b"])]
            + [_pct(t["delta"]), _ci(t["delta_ci"]), p_value]
        )
    method = next(iter(rep["paired_test"].values()))["method"] or "not run: no resamples"
    headers = ["convention", "A", "B", "F1 A", "F1 B", "delta", f"delta {_confidence(rep)} CI", "p"]
    return ["", f"== Paired test on F1, A - B ({method}) ==", _render(headers, rows, left=(0, 1, 2))]


def _taxonomy(rep: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    tax = {n: rep["systems"][n]["taxonomy"] for n in names}
    first = tax[names[0]]
    out = [
        "",
        f"== Relation error taxonomy ({first['convention']}, {first['symmetric']}; first match wins) ==",
    ]
    for side, categories in (("pred", PRED_CATEGORIES), ("gold", GOLD_CATEGORIES)):
        rows = [[c, *[tax[n][side][c] for n in names], d] for c, d in categories.items()]
        rows.append([f"total n_{side}", *[tax[n][f"n_{side}"] for n in names], ""])
        out += [_render([f"{side} relations", *names, "meaning"], rows, left=(0, len(names) + 1)), ""]
    return out
