"""Page sections built from app/ parts, so the files in pages/ stay a few lines each.

Every helper is keyword-only past its data and takes a `key` prefix for its widgets.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import examples, loading, render, reporting, runs, state, ui
from enpar.schema import Sentence

SYSTEMS = ("A", "B")
EXAMPLE_TEXT = (
    "Vladimir Putin was greeted by Prince Charles as he arrived in London today.\n"
    "We propose a neural model for joint entity and relation extraction and evaluate it on SciERC."
)
PAGE_SIZE = 10  # sentences drawn per page of results

# ---------------------------------------------------------------------------------------------------------
# Compare


def paste_input(*, key: str) -> str:
    """The paste box (and an example button); returns the text."""

    def use_example() -> None:
        st.session_state[state.CMP_TEXT] = EXAMPLE_TEXT

    st.text_area(
        "Sentences",
        key=state.CMP_TEXT,
        height=140,
        placeholder="Paste one or more sentences (any length, any language; they are split with spaCy).",
    )
    left, right, _ = st.columns([1, 1, 6])
    left.button("Compare", key=f"{key}_go", type="primary")
    right.button("Example", key=f"{key}_example", on_click=use_example)
    return str(st.session_state.get(state.CMP_TEXT) or "")


def dataset_sentence_input() -> Sentence | None:
    """Pick one sentence of the sidebar's split; returns it with its gold (None after a message)."""
    split = ui.selected_split()
    if split is None:
        ui.no_split_help()
        return None
    name, path = split
    try:
        gold = loading.read_dataset(path)
    except Exception as exc:  # a bad data file: show where, never a traceback
        ui.show_error(exc, what=f"Could not read the gold split {name}")
        return None
    if not gold:
        st.info(f"The split {name} holds no sentences.")
        return None
    if not 0 <= int(st.session_state.get(state.CMP_INDEX) or 0) < len(gold):
        st.session_state[state.CMP_INDEX] = 0

    def preview(i: int) -> str:
        text = " ".join(gold[i].tokens)
        return f"{i + 1}. [{gold[i].id}] {text[:110]}{'…' if len(text) > 110 else ''}"

    index = st.selectbox(
        f"Sentence of {name} ({len(gold)})", range(len(gold)), key=state.CMP_INDEX, format_func=preview
    )
    return gold[int(index or 0)]


def predict_both(
    pair: tuple[str, str], *, text: str | None = None, gold: Sentence | None = None
) -> dict[str, list[Sentence] | None]:
    """A's and B's predictions for a paste (chunked, with a progress bar) or for one gold sentence.

    A system whose checkpoint fails to load or predict shows the error and maps to None.
    """
    out: dict[str, list[Sentence] | None] = {}
    n_chunks = len(loading.split_text(text)) if text is not None else 1
    bar = st.progress(0.0, text="Predicting…") if n_chunks > 1 else None
    for s, (name, ckpt) in enumerate(zip(SYSTEMS, pair, strict=True)):

        def progress(done: int, total: int, s: int = s, name: str = name) -> None:
            if bar is not None:
                bar.progress((s + done / total) / 2, text=f"{name}: chunk {done} of {total}")

        try:
            with st.spinner(f"Loading checkpoint {name}…"):
                loading.load_predictor(ckpt)
            if gold is not None:
                out[name] = [loading.predict_sentence(ckpt, gold)]
            else:
                out[name] = loading.predict_text(ckpt, text or "", progress=progress)
        except Exception as exc:  # a missing or broken checkpoint must not take the page down
            ui.show_error(exc, what=f"Checkpoint {name} ({ui.checkpoint_label(ckpt)}) could not predict")
            out[name] = None
    if bar is not None:
        bar.empty()
    return out


def _other(name: str) -> str:
    return "B" if name == "A" else "A"


def _aligned(systems: dict[str, list[Sentence] | None], i: int, name: str) -> Sentence | None:
    """Sentence i of the other system, if it has the same tokens (else no only-A/only-B marks)."""
    mine, other = systems.get(name), systems.get(_other(name))
    if not mine or not other or i >= len(other) or i >= len(mine):
        return None
    return other[i] if other[i].tokens == mine[i].tokens else None


def build_views(
    systems: dict[str, list[Sentence] | None],
    *,
    gold: Sequence[Sentence] | None,
    strict: bool,
    symmetric_labels: frozenset[str],
) -> list[list[render.View]]:
    """Per sentence: the view of A, of B (marked against each other and gold), and of gold."""
    n = max((len(v) for v in systems.values() if v), default=0)
    titles = {name: f"{name}: {ui.checkpoint_label(_ckpt(name))}" for name in SYSTEMS}  # once, not per row
    rows = []
    for i in range(n):
        row = []
        for name in SYSTEMS:
            preds = systems.get(name)
            if not preds or i >= len(preds):
                continue
            g = gold[i] if gold is not None and i < len(gold) else None
            g = g if g is not None and g.tokens == preds[i].tokens else None
            row.append(
                render.build_view(
                    preds[i],
                    gold=g,
                    other=_aligned(systems, i, name),
                    strict=strict,
                    symmetric_labels=symmetric_labels,
                    title=titles[name],
                )
            )
        if gold is not None and i < len(gold):
            row.append(render.build_view(gold[i], title="Gold"))
        rows.append(row)
    return rows


def _ckpt(name: str) -> str | None:
    return st.session_state.get(state.CKPT_A if name == "A" else state.CKPT_B)


def show_comparison(
    systems: dict[str, list[Sentence] | None],
    *,
    gold: Sequence[Sentence] | None = None,
    key: str,
    captions: dict[int, list[str]] | None = None,
    symmetric_labels: frozenset[str] = frozenset(),
    strict: bool | None = None,
) -> None:
    """A and B (and gold) per sentence, as arcs or as a table, with downloads.

    `strict` set: relations match under that convention (the page has its own switch); None: a toggle here.
    `symmetric_labels`: relation types whose direction is ignored when matching (unordered).
    """
    usable = {k: v for k, v in systems.items() if v is not None}
    if not usable:
        return
    n = max(len(v) for v in usable.values())
    c1, c2, c3 = st.columns([2, 2, 3])
    mode = c1.segmented_control("View", ["Arcs", "Table"], key=f"{key}_view", default="Arcs", required=True)
    if strict is None:
        strict = c2.toggle(
            "Strict match (entity types too)",
            value=True,
            key=f"{key}_strict",
            help="Relation (exactly) vs boundaries: which relations count as the same.",
        )
    # Three long sentences side by side need scrolling; stacked, their words line up (default with gold).
    stacked = c3.toggle(
        "Stack the systems (words line up)",
        value=gold is not None,
        key=f"{key}_stack",
        help="Off: side by side.",
    )
    views = build_views(usable, gold=gold, strict=strict, symmetric_labels=symmetric_labels)
    counts = render.count_marks(v for row in views for v in row if v.title != "Gold")
    st.caption(
        f"{n} sentence{'s' if n != 1 else ''} · " + _summary(usable, counts, with_gold=gold is not None)
    )

    if mode == "Table":
        rows = [
            r
            for row in views
            for v in row
            for r in render.entities_and_relations_rows(v, system=v.title.split(":")[0])
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}_table")
    else:
        show_html(render.legend_html(with_gold=gold is not None, with_other=len(usable) > 1))
        start = _pager(n, key=key)
        for i in range(start, min(start + PAGE_SIZE, n)):
            row = views[i]
            text = render.sentence_text_html(row[0].sentence)
            notes = "".join(
                f'<div class="enpar-note">{render.esc(c)}</div>' for c in (captions or {}).get(i, [])
            )
            cols = 1 if stacked else len(row)
            grid = "".join(render.view_html(v) for v in row)
            show_html(
                f'<div class="enpar-row" style="border-top:1px solid #ddd;padding-top:4px">'
                f'<div style="font-weight:600">Sentence {i + 1}</div>{text}{notes}'
                f'<div style="display:grid;grid-template-columns:repeat({cols},minmax(0,1fr));gap:12px">'
                f"{grid}</div></div>"
            )
    _downloads(usable, key=key)


def unordered_labels(dataset_path: str | None) -> frozenset[str]:
    """Relation types matched without direction: the dataset's symmetric ones, unless the symmetric mode
    chosen on Breakdown/Examples is "directed" (the paper's default)."""
    if st.session_state.get(state.SYMMETRIC, "directed") == "directed":
        return frozenset()
    return loading.symmetric_labels(dataset_path)


def show_html(body: str) -> None:
    """Draw rendered HTML/SVG (every user string in it already escaped by app.render).

    Why not st.html: it sanitises with DOMPurify's HTML-only profile, which drops <svg> entirely.
    """
    st.markdown(body, unsafe_allow_html=True)


def _summary(systems: dict[str, list[Sentence]], counts: dict[str, int], *, with_gold: bool) -> str:
    parts = []
    for name, preds in systems.items():
        n_e = sum(len(s.entities) for s in preds)
        n_r = sum(len(s.relations) for s in preds)
        parts.append(f"{name}: {n_e} entities, {n_r} relations")
    if with_gold:
        parts.append(
            f"relations correct {counts.get('relation_correct', 0)}, spurious "
            f"{counts.get('relation_spurious', 0)}, missed {counts.get('relation_missed', 0)} (A+B)"
        )
    elif len(systems) > 1:
        parts.append(
            f"found by one system only: {counts.get('entity_only', 0)} entities, "
            f"{counts.get('relation_only', 0)} relations"
        )
    return " · ".join(parts)


def _pager(n: int, *, key: str) -> int:
    """First index of the page of PAGE_SIZE sentences to draw."""
    pages = math.ceil(n / PAGE_SIZE)
    if pages <= 1:
        return 0
    page_key = f"{key}_page"
    if not 1 <= int(st.session_state.get(page_key) or 1) <= pages:  # fewer pages after a new filter
        st.session_state[page_key] = 1
    st.session_state.setdefault(page_key, 1)
    page = st.number_input(
        f"Page (of {pages}, {PAGE_SIZE} sentences each)", min_value=1, max_value=pages, step=1, key=page_key
    )
    return (int(page) - 1) * PAGE_SIZE


def _downloads(systems: dict[str, list[Sentence]], *, key: str) -> None:
    lines = []
    for name, preds in systems.items():
        ckpt = _ckpt(name)
        for sent in preds:
            lines.append(
                json.dumps({"system": name, "checkpoint": ckpt, **sent.to_json()}, ensure_ascii=False)
            )
    st.download_button(
        "Download predictions (JSON lines)",
        "\n".join(lines) + "\n",
        file_name="enpar-predictions.jsonl",
        mime="application/jsonl",
        key=f"{key}_download",
    )


# ---------------------------------------------------------------------------------------------------------
# Breakdown and Examples: which predictions to score


Picked = tuple[str, str, dict[str, str], dict[str, str]]  # split, gold path, predictions, labels by system


def latest_done_run(store: runs.RunStore, *, checkpoint: str, dataset: str) -> runs.Run | None:
    for run in store.runs(status="done"):
        if run.checkpoint == checkpoint and run.dataset == dataset and run.predictions.exists():
            return run
    return None


def latest_predictions(store: runs.RunStore, *, checkpoint: str, dataset: str) -> tuple[str, str] | None:
    """(predictions.jsonl, label) of the newest finished evaluation of a checkpoint on a dataset: a run of
    the app's, else an `enpar evaluate` folder under the runs folder (e.g. from `make demo`)."""
    run = latest_done_run(store, checkpoint=checkpoint, dataset=dataset)
    if run is not None:
        return str(run.predictions), f"{run.checkpoint_name} (run #{run.id})"
    ckpt, data = str(Path(checkpoint).resolve()), str(Path(dataset).resolve())
    for ev in loading.cached_evaluations(str(state.runs_dir())):
        if ev.checkpoint == ckpt and ev.data == data and ev.predictions.exists():
            return str(ev.predictions), f"{ui.checkpoint_label(checkpoint)} (`{ev.out_dir}`)"
    return None


def ab_predictions(*, key: str) -> Picked | None:
    """(split name, gold path, {"A": predictions.jsonl, "B": ...}, {"A": label, ...}) from the newest
    finished runs of the sidebar's checkpoints on its split; otherwise explains what is missing and offers
    to start runs."""
    pair = ui.require_pair()
    if pair is None:
        return None
    split = ui.selected_split()
    if split is None:
        ui.no_split_help()
        return None
    name, path = split
    store = ui.run_store()
    found = {
        n: latest_predictions(store, checkpoint=c, dataset=path) for n, c in zip(SYSTEMS, pair, strict=True)
    }
    missing = [n for n, r in found.items() if r is None]
    if missing:
        active = [r for r in store.runs(limit=50) if r.active and r.dataset == path and r.checkpoint in pair]
        what = " and ".join(missing)
        st.info(
            f"No finished evaluation of checkpoint {what} on **{name}** yet. Evaluations run in the "
            "background; this page uses their predictions.",
            icon=":material/hourglass_empty:",
        )
        if active:
            st.caption(f"{len(active)} evaluation(s) on {name} in progress.")
            st.page_link("pages/runs.py", label="Follow them on Runs", icon=":material/pending_actions:")
        elif st.button(f"Evaluate {what} on {name}", key=f"{key}_start", type="primary"):
            ids = ui.start_evaluations("A and B" if len(missing) == 2 else missing[0])
            st.session_state[state.LAST_STARTED] = ids
            st.rerun()
        return None
    preds = {n: r[0] for n, r in found.items() if r is not None}
    return name, path, preds, {n: r[1] for n, r in found.items() if r is not None}


def one_run_predictions() -> Picked | None:
    """(split, gold path, {"A": predictions}, {"A": label}) of one finished run picked here."""
    done = [r for r in ui.run_store().runs(status="done") if r.predictions.exists()]
    if not done:
        st.info(
            "No finished evaluation run yet: start one from the sidebar.", icon=":material/hourglass_empty:"
        )
        return None
    ids = [r.id for r in done]
    if st.session_state.get(state.BD_RUN) not in ids:
        st.session_state[state.BD_RUN] = ids[0]
    by_id = {r.id: r for r in done}
    run_id = st.selectbox(
        "Evaluation run",
        ids,
        key=state.BD_RUN,
        format_func=lambda i: (
            f"#{i} · {by_id[i].checkpoint_name} on {by_id[i].split} · {_when(by_id[i].finished_at)}"
        ),
    )
    run = by_id[int(run_id)]
    return (
        run.split,
        run.dataset,
        {"A": str(run.predictions)},
        {"A": f"{run.checkpoint_name} (run #{run.id})"},
    )


def convention_controls() -> tuple[str, str]:
    """Relation convention (boundaries / strict) and symmetric handling; both recompute everything."""
    c1, c2 = st.columns(2)
    conv = c1.segmented_control(
        "Relation convention",
        ["relation_strict", "relation"],
        key=state.CONVENTION,
        required=True,
        format_func={"relation_strict": "Strict (exactly)", "relation": "Boundaries"}.__getitem__,
        help="Strict: both argument spans and entity types, direction and relation type (the paper's "
        "'Relation (exactly)'). Boundaries: entity types ignored (the paper's 'Relation').",
    )
    sym = c2.segmented_control(
        "Symmetric relations",
        ["directed", "unordered", "doubled"],
        key=state.SYMMETRIC,
        required=True,
        help="directed: a reversed symmetric pair is an error (the paper); unordered: direction ignored for "
        "symmetric types; doubled: each symmetric relation counts in both directions (PL-Marker).",
    )
    return str(conv or "relation_strict"), str(sym or "directed")


def compute_report(
    gold_path: str, preds: dict[str, str], *, convention: str, symmetric: str, n_bootstrap: int
) -> dict[str, Any] | None:
    try:
        with st.spinner("Scoring (bootstrap CIs and the paired test)…"):
            return loading.compute_report(
                gold_path,
                list(preds.values()),
                list(preds),
                symmetric=symmetric,
                convention=convention,
                n_bootstrap=n_bootstrap,
            )
    except Exception as exc:  # mismatched or broken files: say which, keep the page
        ui.show_error(exc, what="Could not score these predictions against the gold split")
        return None


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def table_with_download(df: pd.DataFrame, *, key: str, file_name: str) -> None:
    st.dataframe(df, hide_index=True, key=f"{key}_df")
    st.download_button("Download CSV", _csv(df), file_name=file_name, mime="text/csv", key=f"{key}_csv")


def report_sections(rep: dict[str, Any], *, convention: str, key: str) -> None:
    """Overall table, paired test, per-type tables, breakdown charts and the error taxonomy."""
    st.subheader("Overall")
    table_with_download(reporting.overall_table(rep), key=f"{key}_overall", file_name="overall.csv")
    paired = reporting.paired_table(rep)
    if paired is not None:
        st.markdown("**Paired test, A vs B** (same sentences; two-sided)")
        table_with_download(paired, key=f"{key}_paired", file_name="paired-test.csv")

    st.subheader("Per type (the paper's Tables 6 and 7)")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Entities** (span + type)")
        table_with_download(
            reporting.per_type_table(rep, "entity"), key=f"{key}_t6", file_name="entity-types.csv"
        )
    with c2:
        st.markdown(f"**Relations** ({reporting.CONVENTION_TITLES[convention]})")
        table_with_download(
            reporting.per_type_table(rep, convention), key=f"{key}_t7", file_name="relation-types.csv"
        )

    st.subheader("Breakdowns (Figures 7-9)")
    cols = itertools.cycle(st.columns(2))
    for by, title in reporting.BREAKDOWN_TITLES.items():
        section = rep["breakdowns"].get(by)
        if not section:
            continue
        with next(cols):
            df = reporting.breakdown_frame(rep, by)
            fig = reporting.breakdown_figure(df, title=title, convention=section["convention"])
            st.plotly_chart(fig, key=f"{key}_fig_{by}", config=reporting.CHART_CONFIG)
            st.download_button(
                f"Download data ({by})",
                _csv(df.drop(columns="order")),
                file_name=f"f1-by-{by}.csv",
                mime="text/csv",
                key=f"{key}_fig_{by}_csv",
            )

    st.subheader("Relation error taxonomy")
    tax = reporting.taxonomy_frame(rep)
    st.plotly_chart(reporting.taxonomy_figure(tax), key=f"{key}_tax_fig", config=reporting.CHART_CONFIG)
    if not tax.empty:
        wide = tax.pivot_table(index=["side", "category"], columns="system", values="count", sort=False)
        st.dataframe(wide.reset_index(), hide_index=True, key=f"{key}_tax_df")
        st.download_button(
            "Download CSV", _csv(tax), file_name="error-taxonomy.csv", mime="text/csv", key=f"{key}_tax_csv"
        )
    st.download_button(
        "Download the whole report (JSON)",
        json.dumps(rep, indent=1),
        file_name="report.json",
        mime="application/json",
        key=f"{key}_json",
    )


# ---------------------------------------------------------------------------------------------------------
# Examples


def example_filters(
    items: list[examples.Disagreement], gold: Sequence[Sentence]
) -> list[examples.Disagreement]:
    """Category, relation type and bucket filters over the disagreements; returns the kept ones."""
    c1, c2, c3, c4 = st.columns(4)
    category = c1.selectbox("Who is right", examples.CATEGORIES, key=state.EX_CATEGORY)
    labels = ["(all)", *sorted({d.label for d in items})]
    if st.session_state.get(state.EX_LABEL) not in labels:
        st.session_state[state.EX_LABEL] = "(all)"
    label = c2.selectbox("Relation type", labels, key=state.EX_LABEL)
    by = c3.selectbox(
        "Bucket by",
        examples.BUCKET_BYS,
        key=state.EX_BUCKET_BY,
        format_func=lambda b: reporting.BREAKDOWN_TITLES[b].split(" (")[0].removeprefix("F1 "),
    )
    buckets = ["(all)", *examples.bucket_labels(str(by))]
    if st.session_state.get(state.EX_BUCKET) not in buckets:
        st.session_state[state.EX_BUCKET] = "(all)"
    bucket = c4.selectbox("Bucket", buckets, key=state.EX_BUCKET)
    return examples.filter_disagreements(
        items,
        gold,
        category=str(category),
        label=None if label == "(all)" else str(label),
        bucket_by=str(by),
        bucket=None if bucket == "(all)" else str(bucket),
    )


# ---------------------------------------------------------------------------------------------------------
# Runs


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_scores(run: runs.Run) -> dict[str, float | None]:
    """Micro F1 (%) per convention from a finished run's metrics.json ({} if unreadable)."""
    try:
        rep = json.loads(run.metrics.read_text(encoding="utf-8"))
        scores = next(iter(rep["systems"].values()))["scores"]
        return {
            reporting.CONVENTION_TITLES[c]: reporting.pct(scores[c]["micro"]["f1"])
            for c in reporting.CONVENTION_TITLES
        }
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return {}


def runs_frame(all_runs: Sequence[runs.Run]) -> pd.DataFrame:
    rows = []
    for r in all_runs:
        scores = run_scores(r) if r.status == "done" else {}
        rows.append(
            {
                "run": r.id,
                "status": r.status,
                "checkpoint": r.checkpoint_name,
                "split": r.split,
                "who": r.who,
                "started": _when(r.created_at),
                "duration": _duration(r.duration),
                **{f"{k} F1": v for k, v in scores.items()},
                "output": r.out_dir,
            }
        )
    return pd.DataFrame(rows)


def active_run(run: runs.Run, store: runs.RunStore, *, key: str) -> None:
    """Live progress of one queued/running run, with a cancel button."""
    prog = run.progress()
    done, total, stage = prog.get("done", 0), prog.get("total", 0), prog.get("stage", run.status)
    frac = min(done / total, 1.0) if total else 0.0
    c1, c2 = st.columns([5, 1])
    c1.progress(
        frac,
        text=f"#{run.id} {run.checkpoint_name} on {run.split}: {stage} {done}/{total or '?'} · "
        f"{_duration(run.duration) or 'queued'}",
    )
    if c2.button("Cancel", key=f"{key}_cancel_{run.id}"):
        runs.cancel(store, run.id)
        st.rerun()


def run_details(run: runs.Run, *, key: str) -> None:
    """Status, timing, files; errors with the log tail; scores and a link into Breakdown when done."""
    st.markdown(
        f"**Run #{run.id}** · `{run.status}` · {run.checkpoint_name} on {run.split} · by {run.who} · "
        f"{_when(run.created_at)} · {_duration(run.duration)}"
    )
    if run.status == "failed":
        st.error(f"Run #{run.id} failed: {run.error}", icon=":material/cancel:")
        st.code(run.log_tail(40) or "(no log)", language="text")
    elif run.status == "cancelled":
        st.warning(f"Run #{run.id} was cancelled.")
    elif run.status == "done":
        scores = run_scores(run)
        cols = st.columns(len(scores) or 1)
        for col, (name, value) in zip(cols, scores.items(), strict=False):
            col.metric(f"{name} F1", "–" if value is None else f"{value:.1f}")
        if st.button("Open in Breakdown", key=f"{key}_open_{run.id}", type="primary"):
            st.session_state[state.BD_SOURCE] = "One run"
            st.session_state[state.BD_RUN] = run.id
            st.switch_page("pages/breakdown.py")
    files = [p for p in (run.predictions, run.metrics, run.log) if p.exists()]
    if files:
        st.caption("Files: " + " · ".join(f"`{p}`" for p in files))
    with st.expander("Command and log"):
        st.code(" ".join(json.loads(run.command or "[]")), language="bash")
        st.code(run.log_tail(80) or "(no log yet)", language="text")


def checkpoint_config(path: str | None) -> None:
    """A checkpoint's config.json in an expander."""
    if not path:
        return
    with st.expander(f"Config of {ui.checkpoint_label(path)}"):
        try:
            st.json(json.loads((Path(path) / "config.json").read_text(encoding="utf-8")), expanded=False)
        except (OSError, ValueError) as exc:
            ui.show_error(exc, what="Could not read config.json")
