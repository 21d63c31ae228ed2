"""An A/B report to paste into a paper draft: Markdown (tables) or standalone HTML (tables and charts).

Pure: built from a metrics report and its Analysis; the HTML embeds plotly.js once so it opens offline.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

import pandas as pd

from app import analysis, reporting

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
    "td,th{padding:2px 8px;border:1px solid #ccc}"
)


def _md_table(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _sections(rep: dict[str, Any], convention: str) -> list[tuple[str, pd.DataFrame]]:
    micro = reporting.overall_table(rep).query("average == 'micro'")
    out = [("Overall (micro)", micro)]
    paired = reporting.paired_table(rep)
    if paired is not None:
        out.append(("Paired test", paired))
    out.append(("Entity types", reporting.per_type_table(rep, "entity")))
    out.append(
        (
            f"Relation types ({reporting.CONVENTION_TITLES[convention]})",
            reporting.per_type_table(rep, convention),
        )
    )
    for by, title in reporting.BREAKDOWN_TITLES.items():
        if by in rep["breakdowns"]:
            df = reporting.breakdown_frame(rep, by)
            wide = df.pivot_table(
                index=["order", "bucket", "support"], columns="system", values="F1", sort=False
            )
            out.append((title, wide.reset_index().drop(columns="order")))
    return out


def _header(rep: dict[str, Any], an: analysis.Analysis) -> list[str]:
    s = rep["settings"]
    return [
        f"Gold: {an.gold_name} ({len(an.gold)} sentences); systems: {', '.join(an.names)}.",
        an.note,
        f"Symmetric relations: {s['symmetric']}. Intervals: 95% {s['ci_method']} "
        f"({s['n_bootstrap']} resamples). Paired test: {s['test']}.",
    ]


def markdown(rep: dict[str, Any], an: analysis.Analysis, *, convention: str) -> str:
    lines = [f"# {' vs '.join(an.names)} on {an.gold_name}", ""]
    lines += [line for line in _header(rep, an) if line]
    for title, df in _sections(rep, convention):
        lines += ["", f"## {title}", "", _md_table(df)]
    return "\n".join(lines) + "\n"


def html(rep: dict[str, Any], an: analysis.Analysis, *, convention: str) -> str:
    """Standalone HTML: the Markdown report's tables and the breakdown charts (interactive)."""
    parts = [f"<h1>{html_lib.escape(' vs '.join(an.names))} on {html_lib.escape(an.gold_name)}</h1>"]
    parts += [f"<p>{html_lib.escape(line)}</p>" for line in _header(rep, an) if line]
    first = True
    for by, title in reporting.BREAKDOWN_TITLES.items():
        if by in rep["breakdowns"]:
            fig = reporting.breakdown_figure(
                reporting.breakdown_frame(rep, by),
                title=title,
                convention=rep["breakdowns"][by]["convention"],
            )
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
    for title, df in _sections(rep, convention):
        parts += [f"<h2>{html_lib.escape(title)}</h2>", df.to_html(index=False, na_rep="", escape=True)]
    head = f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
    return head + "".join(parts) + "</body></html>"
