"""A metrics report (enpar.metrics.report) -> tables (DataFrames) and interactive plotly charts.

No Streamlit here: pages decide where things go, these functions only shape the numbers.
Scores are shown as percentages with one decimal, as in the paper.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

CONVENTION_TITLES = {
    "entity": "Entity",
    "relation": "Relation (boundaries)",
    "relation_strict": "Relation (exactly)",
}
BREAKDOWN_TITLES = {
    "distance": "F1 by distance between the pair (words; Fig. 7a)",
    "n_relations": "F1 by gold relations per sentence (Fig. 7b)",
    "n_entities": "F1 by gold entities per sentence (Fig. 8)",
    "length": "F1 by sentence length (words; Fig. 9)",
}
SYSTEM_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
TAXONOMY_NAMES = {  # enpar.breakdown's category ids in plain words
    "correct": "Correct",
    "entity_type": "Right pair, wrong entity type",
    "reversed": "Direction reversed",
    "wrong_type": "Wrong relation type",
    "boundary": "Argument boundaries off",
    "spurious": "Spurious (no gold counterpart)",
    "missed_entity": "Missed: an argument entity missed",
    "missed_found": "Missed: both entities found",
}
CHART_CONFIG = {  # plotly's modebar: PNG download at 2x, no logo
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def bucket_name(label: str, by: str) -> str:
    """A bucket label for people: the underflow bucket "<1" is 0 (or, for distances, overlapping pairs)."""
    if label == "<1":
        return "≤0 (overlap)" if by == "distance" else "0"
    return label


def pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def f1_ci(entry: dict[str, Any]) -> list[float] | None:
    """The F1 interval of a score entry: `ci` is either [lo, hi] (F1) or {"f1": [lo, hi], ...}."""
    ci = entry.get("ci")
    if isinstance(ci, dict):
        ci = ci.get("f1")
    return list(ci) if ci else None


def _ci_text(ci: list[float] | None) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""


def system_names(rep: dict[str, Any]) -> list[str]:
    return list(rep.get("systems", {}))


def overall_table(rep: dict[str, Any]) -> pd.DataFrame:
    """Entity / Relation / Relation exactly, micro and macro: one row each, P/R/F1 (+ micro F1 CI) and
    the predicted count per system side by side, then the gold count (the paper's layout)."""
    rows = []
    for conv, title in CONVENTION_TITLES.items():
        for avg in ("micro", "macro"):
            row: dict[str, Any] = {"convention": title, "average": avg}
            for name, sysrep in rep["systems"].items():
                entry = sysrep["scores"][conv][avg]
                row[f"{name} P"] = pct(entry["precision"])
                row[f"{name} R"] = pct(entry["recall"])
                row[f"{name} F1"] = pct(entry["f1"])
                row[f"{name} F1 95% CI"] = _ci_text(f1_ci(entry)) if avg == "micro" else ""
                row[f"{name} predicted"] = entry.get("n_pred")
                row[f"{name} TP"] = entry.get("tp")
                row[f"{name} FP"] = entry["n_pred"] - entry["tp"] if "tp" in entry else None
                row[f"{name} FN"] = entry["n_gold"] - entry["tp"] if "tp" in entry else None
                row["gold"] = entry.get("n_gold")
            rows.append(row)
    df = pd.DataFrame(rows)
    return df[[c for c in df.columns if c != "gold"] + ["gold"]]


def paired_table(rep: dict[str, Any]) -> pd.DataFrame | None:
    """The paired significance test of A vs B per convention (None for a single system)."""
    paired = rep.get("paired_test")
    if not paired:
        return None
    rows = []
    for conv, title in CONVENTION_TITLES.items():
        test = paired.get(conv)
        if not test:
            continue
        rows.append(
            {
                "convention": title,
                f"F1 {test['a']}": pct(test["value_a"]),
                f"F1 {test['b']}": pct(test["value_b"]),
                f"Δ ({test['b']} − {test['a']})": pct(-test["delta"]),
                "Δ 95% CI": _ci_text(
                    [-x for x in reversed(test["delta_ci"])] if test.get("delta_ci") else None
                ),
                "p-value": None if test.get("p_value") is None else round(test["p_value"], 4),
                "method": test.get("method") or "",
            }
        )
    return pd.DataFrame(rows)


def per_type_table(rep: dict[str, Any], convention: str) -> pd.DataFrame:
    """The paper's Tables 6/7: per type, gold support and each system's P/R/F1 and predicted count."""
    names = system_names(rep)
    labels = sorted({lab for n in names for lab in rep["systems"][n]["scores"][convention]["per_type"]})
    rows = []
    for label in labels:
        row: dict[str, Any] = {"type": label}
        for name in names:
            entry = rep["systems"][name]["scores"][convention]["per_type"].get(label)
            row.setdefault("gold", entry["n_gold"] if entry else 0)
            row[f"{name} P"] = pct(entry["precision"]) if entry else None
            row[f"{name} R"] = pct(entry["recall"]) if entry else None
            row[f"{name} F1"] = pct(entry["f1"]) if entry else None
            row[f"{name} predicted"] = entry["n_pred"] if entry else 0
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("gold", ascending=False, kind="stable") if not df.empty else df


def breakdown_frame(rep: dict[str, Any], by: str) -> pd.DataFrame:
    """One row per (bucket, system): P/R/F1, the F1 CI and the bucket's support."""
    section = rep["breakdowns"][by]
    rows = []
    for order, row in enumerate(section["rows"]):
        for name, entry in row["systems"].items():
            ci = f1_ci(entry)
            rows.append(
                {
                    "order": order,
                    "bucket": bucket_name(row["bucket"], by),
                    "raw bucket": row["bucket"],
                    "support": row["support"],
                    "unit": row.get("unit", section.get("unit", "")),
                    "system": name,
                    "P": pct(entry["precision"]),
                    "R": pct(entry["recall"]),
                    "F1": pct(entry["f1"]),
                    "F1 CI low": pct(ci[0]) if ci else None,
                    "F1 CI high": pct(ci[1]) if ci else None,
                    "tp": entry["tp"],
                    "predicted": entry["n_pred"],
                    "gold": entry["n_gold"],
                }
            )
    df = pd.DataFrame(rows)
    numeric = ["P", "R", "F1", "F1 CI low", "F1 CI high"]
    if not df.empty:  # all-None columns (empty buckets) would stay object dtype and break arithmetic
        df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce")
    return df


def breakdown_figure(
    df: pd.DataFrame, *, title: str, convention: str, full_scale: bool = False, ci_note: str = ""
) -> go.Figure:
    """Grouped bars of F1 per bucket, one colour per system (named in the legend), CI whiskers, support
    under each bucket; a bucket where a system has nothing to score gets an "n/a" mark, not a bar.

    The y axis fits the data unless `full_scale` (0-100): F1 of 10-20 is not squashed.
    """
    fig = go.Figure()
    if df.empty:
        return fig
    buckets = df.drop_duplicates("bucket").sort_values("order")
    ticks = [f"{b}<br><sub>n={s}</sub>" for b, s in zip(buckets["bucket"], buckets["support"], strict=True)]
    tick_of = dict(zip(buckets["bucket"], ticks, strict=True))
    for i, (name, part) in enumerate(df.groupby("system", sort=False)):
        part = part.sort_values("order")
        fig.add_bar(
            name=str(name),
            x=[tick_of[b] for b in part["bucket"]],
            y=part["F1"],
            marker_color=SYSTEM_COLOURS[i % len(SYSTEM_COLOURS)],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (part["F1 CI high"] - part["F1"]).tolist(),
                "arrayminus": (part["F1"] - part["F1 CI low"]).tolist(),
                "visible": bool(part["F1 CI low"].notna().any()),
            },
            customdata=part[
                ["P", "R", "tp", "predicted", "gold", "support", "F1 CI low", "F1 CI high"]
            ].values,
            hovertemplate=(
                f"<b>{name}</b> %{{x}}<br>F1 %{{y:.1f}}"
                " (95% CI %{customdata[6]:.1f}–%{customdata[7]:.1f})"
                "<br>P %{customdata[0]:.1f} · R %{customdata[1]:.1f}<br>tp %{customdata[2]} · predicted "
                "%{customdata[3]} · gold %{customdata[4]}<br>support %{customdata[5]}<extra></extra>"
            ),
        )
    empty = df[df["F1"].isna()]
    for _, row in empty.iterrows():  # nothing to find and nothing predicted: no score, say so
        fig.add_annotation(
            x=tick_of[row["bucket"]], y=0, text="n/a", showarrow=False, yshift=8, font={"color": "#888"}
        )
    top = max(
        df["F1 CI high"].max(skipna=True) if df["F1 CI high"].notna().any() else 0,
        df["F1"].max(skipna=True) or 0,
    )
    y_range = [0, 105] if full_scale else [0, min(105.0, max(10.0, 1.15 * float(top or 0)))]
    unit = str(df["unit"].iloc[0])
    fig.update_layout(
        title={
            "text": f"{title}<br><sub>{CONVENTION_TITLES.get(convention, convention)} F1 · "
            f"support n = {unit} · {ci_note or 'whiskers: 95% CI'}</sub>"
        },
        barmode="group",
        yaxis={"title": "F1 (%)", "range": y_range},
        xaxis={"title": None},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 70, "b": 40, "l": 50, "r": 10},
        height=380,
        clickmode="event+select",
    )
    return fig


def bucket_test_table(df: pd.DataFrame, tests: dict[str, dict[str, Any]], names: list[str]) -> pd.DataFrame:
    """Per bucket: support, each system's F1, the difference (last − first) with its 95% CI and p-value."""
    rows = []
    for raw, part in df.sort_values("order").groupby("raw bucket", sort=False):
        f1 = dict(zip(part["system"], part["F1"], strict=True))
        test = tests.get(str(raw), {})
        row: dict[str, Any] = {"bucket": part["bucket"].iloc[0], "support": int(part["support"].iloc[0])}
        row.update({f"{n} F1": f1.get(n) for n in names})
        row[f"Δ ({names[-1]} − {names[0]})"] = pct(test.get("delta"))
        row["Δ 95% CI"] = _ci_text(test.get("delta_ci"))
        row["p-value"] = None if test.get("p_value") is None else round(test["p_value"], 4)
        rows.append(row)
    return pd.DataFrame(rows)


def taxonomy_frame(rep: dict[str, Any]) -> pd.DataFrame:
    """Relation error categories, per system and side (predicted / gold relations)."""
    rows = []
    for name, sysrep in rep["systems"].items():
        tax = sysrep.get("taxonomy") or {}
        for side in ("pred", "gold"):
            total = sum((tax.get(side) or {}).values()) or 1
            for category, n in (tax.get(side) or {}).items():
                rows.append(
                    {
                        "system": name,
                        "side": "predicted relations" if side == "pred" else "gold relations",
                        "category": TAXONOMY_NAMES.get(category, category),
                        "count": n,
                        "share %": round(100 * n / total, 1),
                    }
                )
    return pd.DataFrame(rows)


def taxonomy_figure(df: pd.DataFrame) -> go.Figure:
    """Grouped bars: each error category's count for each system, predicted and gold side by side."""
    fig = go.Figure()
    if df.empty:
        return fig
    for i, ((name, side), part) in enumerate(df.groupby(["system", "side"], sort=False)):
        fig.add_bar(
            name=f"{name} · {side}",
            x=part["category"],
            y=part["count"],
            marker_color=SYSTEM_COLOURS[(i // 2) % len(SYSTEM_COLOURS)],
            marker_pattern_shape="" if side.startswith("predicted") else "/",
            customdata=part[["share %"]].values,
            hovertemplate=f"<b>{name}</b> {side}<br>%{{x}}: %{{y}} (%{{customdata[0]}}%)<extra></extra>",
        )
    fig.update_layout(
        title={"text": "Relation error taxonomy (relation exactly)"},
        barmode="group",
        yaxis={"title": "relations"},
        legend={"orientation": "h", "y": -0.3},
        margin={"t": 50, "b": 40, "l": 50, "r": 10},
        height=380,
    )
    return fig
