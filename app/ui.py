"""The shared frame: sidebar pickers and run controls, and the messages every page uses.

UI helpers are keyword-only; widget keys come from app.state so pages never clash.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
from pathlib import Path

import streamlit as st

from app import loading, run_checks, runs, starter, state
from enpar.schema import DataError

log = logging.getLogger("enpar.app")
PAGE_CONFIG = {"page_title": "ENPAR Studio", "page_icon": "🧩", "layout": "wide"}
EVAL_CHOICES = ("A", "B", "A and B")
FINETUNE_PRESET = "scierc-cpu"  # the setting adopted on dev (enpar/presets.py)


# ---------------------------------------------------------------------------------------------------------
# Messages


def show_error(exc: BaseException, *, what: str) -> None:
    """An error as a readable message (file, line, field when known), never a traceback on the page."""
    log.warning("%s: %s", what, exc, exc_info=exc)  # the traceback goes to the server log only
    lines = [f"**{what}**", "", f"`{type(exc).__name__}`: {exc}"]
    if isinstance(exc, DataError):
        parts = [
            f"file `{exc.path}`" if exc.path else "",
            f"line {exc.line}" if exc.line else "",
            f"field `{exc.field}`" if exc.field else "",
        ]
        where = ", ".join(p for p in parts if p)
        if where:
            lines += ["", f"Where: {where}. Problem: {exc.reason}"]
    st.error("\n".join(lines), icon=":material/error:")


def when(ts: float | None) -> str:
    """A timestamp as local date and time ("" for None)."""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(state.PROJECT_ROOT))
    except ValueError:
        return str(path)


def finetune_budget(preset: str = FINETUNE_PRESET) -> tuple[str, str]:
    """(the preset's `enpar finetune` flags, its description), read by import from enpar.presets."""
    from enpar.presets import get_preset, preset_args

    return shlex.join(preset_args(preset)), get_preset(preset).description


def make_checkpoint_commands() -> str:
    """The exact shell commands that create a baseline and an ENPAR checkpoint where the app looks."""
    root = _display_path(state.runs_dir())
    splits = loading.find_splits()
    data = Path(splits["scierc/train"]).parent if "scierc/train" in splits else Path("../shared/data/scierc")
    wiki = data.parent / "wikitext2_raw" / "wiki.valid.raw"
    d, r, w = (shlex.quote(_display_path(p)) for p in (data, Path(root), wiki))
    flags, _ = finetune_budget()
    finetune = f"enpar finetune --train {d}/train.json --dev {d}/dev.json --preset {FINETUNE_PRESET}"
    return "\n".join(
        [
            f"# the fine-tuning preset {FINETUNE_PRESET} (enpar/presets.py) = {flags}",
            "# 1. the BERT baseline (checkpoint A): a run folder with the best checkpoint in best/",
            f"{finetune} --out {r}/bert-baseline",
            "# 2. ENPAR (checkpoint B): annotate a corpus with spaCy, pre-train, fine-tune from its 25% step",
            f"enpar annotate {w} {r}/corpus.jsonl --input-format wikitext",
            f"enpar pretrain {r}/corpus.jsonl --out {r}/enpar-pretrain --steps 400 --accumulate 4 --lr 1e-4",
            f"{finetune} --init {r}/enpar-pretrain/step-000100 --out {r}/enpar",
        ]
    )


def _starter_button() -> None:
    """One button that builds a small BERT + ENPAR checkpoint pair in the background (app/starter.py)."""
    splits = loading.find_splits()
    if "scierc/train" not in splits:
        return
    store = run_store()
    active = next((r for r in store.runs(limit=50) if r.active and r.kind == "starter"), None)
    if active is not None:
        st.info(
            f"The starter pair is being built (run #{active.id}, {run_checks.stage_text(active)}).",
            icon=":material/build:",
        )
        st.page_link(state.PAGE_RUNS, label="Follow on Runs", icon=":material/pending_actions:")
        return
    train = Path(splits["scierc/train"])
    pretrained = starter.find_pretrained() is not None
    n_train = run_checks.check_dataset(train).n_sentences
    quiet, loaded = (t / 60 for t in starter.estimate_range(n_train, pretrained=pretrained))
    how = "fine-tunes" if pretrained else "pre-trains ENPAR briefly, then fine-tunes"
    estimate = (
        f"about {quiet:.0f} min on an idle 2-core CPU, up to {loaded / 60:.0f} h while other training shares "
        f"it (measured step times, app/starter.py): it {how} a small "
        f"BERT baseline and ENPAR model for {starter.EPOCHS} epochs (a demo pair, far below the committed "
        "results)"
    )
    if st.button("Build a small checkpoint pair in the background", key="starter_start", type="primary"):
        run = starter.start_starter_pair(store, data=train.parent, runs_dir=state.runs_dir())
        st.session_state[state.LAST_STARTED] = [run.id]
        st.rerun()
    st.caption(f"Time: {estimate}. Meanwhile Breakdown and Examples show the built-in comparison.")


def no_checkpoint_help() -> None:
    """Say there is no checkpoint yet, where the app looked, and how to make one."""
    st.warning(
        f"No checkpoint found under the runs folder `{state.runs_dir()}` (a checkpoint is a folder holding "
        "`config.json` and `model.safetensors`), so nothing can predict new text yet. Breakdown and Examples "
        "work without one: they open on the built-in comparison of committed predictions.",
        icon=":material/search:",
    )
    _starter_button()
    st.markdown(
        "Or make them yourself (inside the activated `.venv`), or set `ENPAR_RUNS` to look elsewhere:"
    )
    st.code(make_checkpoint_commands(), language="bash")
    st.caption("New checkpoints are picked up within a few seconds of a reload.")


def checkpoints() -> list[loading.CheckpointInfo]:
    """Checkpoints usable for prediction, found under the runs folder."""
    return loading.predictable(loading.cached_checkpoints(str(state.runs_dir())))


def checkpoint_label(path: str | None) -> str:
    by_path = {c.path: c.label for c in loading.cached_checkpoints(str(state.runs_dir()))}
    return by_path.get(path or "", Path(path or "?").name)


def require_pair() -> tuple[str, str] | None:
    """(checkpoint A, checkpoint B) from the sidebar, or None after showing how to make one."""
    a, b = st.session_state.get(state.CKPT_A), st.session_state.get(state.CKPT_B)
    if not a or not b:
        no_checkpoint_help()
        return None
    return a, b


def selected_split() -> tuple[str, str] | None:
    """(split name, file path) picked in the sidebar, if any."""
    name = st.session_state.get(state.SPLIT)
    path = loading.find_splits().get(name or "")
    return (name, path) if name and path else None


def no_split_help() -> None:
    st.info(
        "No dataset split found. Put data folders (e.g. `scierc/{train,dev,test}.json`) under `$ENPAR_DATA` "
        "or `../shared/data`, then pick a split in the sidebar.",
        icon=":material/folder_open:",
    )


# ---------------------------------------------------------------------------------------------------------
# The frame: state + sidebar, rendered by the entrypoint on every page


def frame() -> None:
    """Session defaults and the shared sidebar (called by streamlit_app.py before the page runs)."""
    state.init_state()
    runs.reconcile(
        run_store()
    )  # once per script run: close runs whose worker vanished while the app was down
    sidebar()


def _keep_valid(key: str, options: list[str], default: str | None) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def sidebar() -> None:
    """Checkpoint A/B and split pickers, plus evaluation-run controls."""
    found = checkpoints()
    with st.sidebar:
        st.subheader("Systems")
        if found:
            paths = [c.path for c in found]
            labels = {c.path: c.label for c in found}
            a_default, b_default = loading.default_pair(found)
            _keep_valid(state.CKPT_A, paths, a_default)
            _keep_valid(state.CKPT_B, paths, b_default)
            st.selectbox(
                "Checkpoint A",
                paths,
                key=state.CKPT_A,
                format_func=labels.__getitem__,
                help="Default: the newest BERT baseline under the runs folder.",
            )
            st.selectbox(
                "Checkpoint B",
                paths,
                key=state.CKPT_B,
                format_func=labels.__getitem__,
                help="Default: the newest ENPAR model under the runs folder.",
            )
        else:
            st.session_state[state.CKPT_A] = st.session_state[state.CKPT_B] = None
            st.warning("No checkpoint found yet.")
        st.caption(f"Runs folder: `{state.runs_dir()}`")

        splits = loading.find_splits()
        if splits:
            names = list(splits)
            tests = [n for n in names if n.endswith("/test")]
            default = "scierc/test" if "scierc/test" in names else (tests or names)[0]  # the paper's main set
            _keep_valid(state.SPLIT, names, default)
            st.selectbox(
                "Gold split",
                names,
                key=state.SPLIT,
                help="Gold for Compare's dataset sentences, Breakdown and Examples.",
            )
        else:
            st.session_state[state.SPLIT] = None
            st.caption("No dataset split found (`$ENPAR_DATA` or `../shared/data`).")
        _eval_controls(found, splits)


def _eval_controls(found: list[loading.CheckpointInfo], splits: dict[str, str]) -> None:
    st.subheader("Evaluation run")
    split = selected_split()
    check = run_checks.check_dataset(split[1]) if split else None
    if check is not None and not check.ok:  # validated before a run is offered, not after it starts
        st.error(f"The gold split cannot be evaluated on: {check.message}", icon=":material/error:")
    ready = bool(found and check is not None and check.ok)
    st.segmented_control("Evaluate", EVAL_CHOICES, key=state.EVAL_WHICH, disabled=not ready, required=True)
    if st.button(
        "Start evaluation",
        key="sb_eval_start",
        type="primary",
        disabled=not ready,
        help="Runs `enpar evaluate` on the gold split in the background; see Runs.",
    ):
        try:
            st.session_state[state.LAST_STARTED] = start_evaluations(
                st.session_state.get(state.EVAL_WHICH) or "A and B"
            )
        except runs.RunError as exc:
            show_error(exc, what="The evaluation was not started")
    recent = run_store().runs(limit=200)  # one query for both the active runs and the started ones
    active = [r for r in recent if r.active]
    started = st.session_state.get(state.LAST_STARTED) or []
    if started:
        known = {r.id: r.status for r in recent}
        listed = ", ".join(f"#{i} ({known.get(i, '?')})" for i in started)
        st.success(f"Started run{'s' if len(started) > 1 else ''} {listed}")
        reused = st.session_state.get(state.REUSED) or []
        if reused:
            st.caption(
                "Already running with the same checkpoint and data, so not started twice: "
                + ", ".join(f"#{i}" for i in reused)
            )
    if active:
        st.caption(f"{len(active)} run{'s' if len(active) > 1 else ''} in progress")
    if started or active:
        st.page_link(state.PAGE_RUNS, label="Follow on Runs", icon=":material/pending_actions:")


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(path: str) -> runs.RunStore:
    return runs.RunStore.for_runs_dir(path)  # holds no connection: one per operation, safe to share


def run_store() -> runs.RunStore:
    """The runs database of the runs folder (shared by the sidebar and the pages)."""
    return _store(str(state.runs_dir()))


def start_evaluations(which: str) -> list[int]:
    """Start one background run per chosen checkpoint on the sidebar's split; returns the run ids."""
    split = selected_split()
    if split is None:
        return []
    name, path = split
    chosen = {"A": [state.CKPT_A], "B": [state.CKPT_B]}.get(which, [state.CKPT_A, state.CKPT_B])
    ckpts = list(dict.fromkeys(st.session_state.get(k) for k in chosen if st.session_state.get(k)))
    store = run_store()
    started, reused = [], []
    for ckpt in ckpts:
        before = runs.identical_active(store, checkpoint=ckpt, dataset=path)
        run = runs.start_run(
            store, checkpoint=ckpt, checkpoint_name=checkpoint_label(ckpt), dataset=path, split=name
        )
        started.append(run.id)
        if before is not None and before.id == run.id:
            reused.append(run.id)
    st.session_state[state.REUSED] = reused
    return started
