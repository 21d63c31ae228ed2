"""Breakdown and Examples: choose what to analyse, as an app.analysis.Analysis.

Four sources, one shared choice (state.BD_SOURCE) so both pages show the same thing:
- Built-in: the committed test predictions listed in app/builtin.py (what a first start shows);
- Checkpoints: the newest finished evaluations of the sidebar's checkpoints A and B on its split;
- Files: any gold split or uploaded gold file, and one or two uploaded prediction files (app/upload.py);
- One run: one finished evaluation run against its gold.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import streamlit as st

from app import analysis, builtin, loading, runs, state, ui, upload
from enpar import readers
from enpar.datasets import default_data_root

BUILTIN, CHECKPOINTS, FILES, ONE_RUN = "Built-in", "Checkpoints", "Files", "One run"
SOURCES = (BUILTIN, CHECKPOINTS, FILES, ONE_RUN)
SOURCE_HELP = {
    BUILTIN: "committed test predictions of a BERT baseline and ENPAR (no model needed)",
    CHECKPOINTS: "evaluations of the sidebar's checkpoints A and B",
    FILES: "your own gold and prediction files (SpERT, PURE, any system)",
    ONE_RUN: "one finished evaluation run against its gold",
}
UPLOADS = "an_uploads"  # session_state: slot ("gold" | "A" | "B") -> upload.Upload


# ---------------------------------------------------------------------------------------------------------
# Cached builders (the same files give the same Analysis object; pages treat it as read-only)


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@st.cache_resource(show_spinner=False, max_entries=8)
def _from_files(
    gold_name: str, gold_path: str, systems: tuple[tuple[str, str], ...], stamps: tuple[float, ...], note: str
) -> analysis.Analysis:
    """stamps (modification times) are part of the cache key: an edited file is read again."""
    return analysis.build(
        key=_digest(gold_path, systems, stamps),
        gold_name=gold_name,
        gold_source=gold_path,
        gold=loading.read_dataset(gold_path),
        systems=[(name, path, readers.read_dataset(path)) for name, path in systems],
        symmetric_labels=loading.symmetric_labels(gold_path),
        note=note,
    )


def from_files(
    gold_name: str, gold_path: str | Path, systems: list[tuple[str, str | Path]], *, note: str = ""
) -> analysis.Analysis:
    pairs = tuple((name, str(path)) for name, path in systems)
    stamps = tuple(loading.file_stamp(p) for p in (str(gold_path), *(p for _, p in pairs)))
    return _from_files(gold_name, str(gold_path), pairs, stamps, note)


@st.cache_resource(show_spinner=False, max_entries=16)
def _report(
    key: str, _an: analysis.Analysis, convention: str, symmetric: str, n_bootstrap: int
) -> dict[str, Any]:
    return analysis.report(_an, convention=convention, symmetric=symmetric, n_bootstrap=n_bootstrap)


def report(an: analysis.Analysis, *, convention: str, symmetric: str, n_bootstrap: int) -> dict[str, Any]:
    """The metrics report, cached by content and options (treat it as read-only)."""
    return _report(an.key, an, convention, symmetric, n_bootstrap)


@st.cache_resource(show_spinner=False, max_entries=32)
def _derived(key: str, _an: analysis.Analysis, what: str, convention: str, symmetric: str, extra: Any) -> Any:
    if what == "rows":
        return analysis.sentence_rows(_an, convention=convention, symmetric=symmetric)
    if what == "members":
        return analysis.bucket_members(_an, by=extra, convention=convention, symmetric=symmetric)
    by, n_bootstrap = extra
    return analysis.bucket_tests(
        _an, by=by, convention=convention, symmetric=symmetric, n_bootstrap=n_bootstrap
    )


def sentence_rows(an: analysis.Analysis, *, convention: str, symmetric: str) -> list[dict[str, Any]]:
    return _derived(an.key, an, "rows", convention, symmetric, None)


def bucket_members(
    an: analysis.Analysis, *, by: str, convention: str, symmetric: str
) -> dict[str, list[int]]:
    return _derived(an.key, an, "members", convention, symmetric, by)


def bucket_tests(
    an: analysis.Analysis, *, by: str, convention: str, symmetric: str, n_bootstrap: int
) -> dict[str, dict[str, Any]]:
    return _derived(an.key, an, "tests", convention, symmetric, (by, n_bootstrap))


# ---------------------------------------------------------------------------------------------------------
# The four sources


def _builtin() -> analysis.Analysis | None:
    pairs = builtin.PAIRS
    titles = [p.title for p in pairs]
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Comparison", range(len(pairs)), key=state.AN_PAIR, format_func=titles.__getitem__)
    pair = pairs[int(pick or 0)]
    if st.session_state.get(state.AN_SEED) not in pair.seeds:
        st.session_state[state.AN_SEED] = pair.seeds[0]
    seed = int(c2.selectbox("Seed (fine-tuning)", pair.seeds, key=state.AN_SEED))
    gold_path = loading.find_splits().get(pair.split)
    if gold_path is None:
        root = default_data_root()
        st.warning(
            f"The built-in comparison needs the gold split **{pair.split}**, which is not in the data folder "
            f"`{root}` (expected `{root / pair.split}.json`; set `ENPAR_DATA` to the folder holding "
            "`scierc/`). The predictions are committed; only the shared data is missing.",
            icon=":material/folder_off:",
        )
        return None
    st.caption(f"**{pair.a.name}**: {pair.a.recipe} · **{pair.b.name}**: {pair.b.recipe}")
    return from_files(
        pair.split,
        gold_path,
        [(s.name, s.predictions(seed)) for s in (pair.a, pair.b)],
        note=f"Built-in comparison, seed {seed}. {pair.caveat}",
    )


def latest_predictions(store: runs.RunStore, *, checkpoint: str, dataset: str) -> tuple[str, str] | None:
    """(predictions.jsonl, label) of the newest finished evaluation of a checkpoint on a dataset: a run of
    the app's, else an `enpar evaluate` folder under the runs folder (e.g. from `make demo`)."""
    for run in store.runs(status="done"):
        if run.checkpoint == checkpoint and run.dataset == dataset and run.predictions.exists():
            return str(run.predictions), f"{run.checkpoint_name} (run #{run.id})"
    ckpt, data = str(Path(checkpoint).resolve()), str(Path(dataset).resolve())
    for ev in loading.cached_evaluations(str(state.runs_dir())):
        if ev.checkpoint == ckpt and ev.data == data and ev.predictions.exists():
            return str(ev.predictions), f"{ui.checkpoint_label(checkpoint)} (`{ev.out_dir}`)"
    return None


def _checkpoints(*, key: str) -> analysis.Analysis | None:
    """The newest finished evaluations of the sidebar's checkpoints on its split; otherwise explains what
    is missing and offers to start them."""
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
        n: latest_predictions(store, checkpoint=c, dataset=path) for n, c in zip("AB", pair, strict=True)
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
            st.page_link(state.PAGE_RUNS, label="Follow them on Runs", icon=":material/pending_actions:")
        elif st.button(f"Evaluate {what} on {name}", key=f"{key}_start", type="primary"):
            st.session_state[state.LAST_STARTED] = ui.start_evaluations(
                "A and B" if len(missing) == 2 else missing[0]
            )
            st.rerun()
        return None
    systems = [(ui.checkpoint_label(c), found[n][0]) for n, c in zip("AB", pair, strict=True)]  # type: ignore[index]
    labels = " · ".join(r[1] for r in found.values() if r)
    return from_files(name, path, systems, note=f"Checkpoints' evaluations on {name}: {labels}")


def _one_run() -> analysis.Analysis | None:
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
            f"#{i} · {by_id[i].checkpoint_name} on {by_id[i].split} · {ui.when(by_id[i].finished_at)}"
        ),
    )
    run = by_id[int(run_id)]
    return from_files(
        run.split, run.dataset, [(run.checkpoint_name, str(run.predictions))], note=f"Run #{run.id}"
    )


def pick(*, key: str) -> analysis.Analysis | None:
    """The source picker and the chosen Analysis (None after explaining what is missing)."""
    if st.session_state.get(state.BD_SOURCE) not in SOURCES:
        st.session_state[state.BD_SOURCE] = CHECKPOINTS if ui.checkpoints() else BUILTIN
    source = st.segmented_control("Analyse", SOURCES, key=state.BD_SOURCE, required=True)
    st.caption(f"{source}: {SOURCE_HELP[str(source)]}")
    try:
        if source == BUILTIN:
            an = _builtin()
        elif source == CHECKPOINTS:
            an = _checkpoints(key=key)
        elif source == FILES:
            from app import file_source  # the upload widgets, only drawn for this source

            an = file_source.pick(key=key)
        else:
            an = _one_run()
    except Exception as exc:  # unreadable or mismatched files: say which, keep the page
        ui.show_error(exc, what="Could not read these predictions against their gold")
        return None
    if an is not None:
        describe(an)
    return an


def describe(an: analysis.Analysis) -> None:
    """What is being analysed, where it came from, and any warning (e.g. A and B are the same)."""
    if an.note:
        st.info(an.note, icon=":material/info:")
    for warning in an.warnings:
        st.warning(warning, icon=":material/content_copy:")
    systems = " vs ".join(f"**{n}**" for n in an.names)
    st.markdown(f"Gold: **{an.gold_name}** ({len(an.gold)} sentences) · {systems}")
    files = [f"gold `{an.gold_source}`"] + [f"{n} `{s}`" for n, s in zip(an.names, an.sources, strict=True)]
    by_position = [n for n, how in zip(an.names, an.aligned_by, strict=True) if how == "position"]
    extra = (
        f" · lined up with gold by position (no matching sentence ids): {', '.join(by_position)}"
        if by_position
        else ""
    )
    st.caption("Files: " + " · ".join(files) + extra)


def uploads() -> dict[str, upload.Upload]:
    """This browser session's parsed uploads by slot."""
    return st.session_state.setdefault(UPLOADS, {})
