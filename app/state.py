"""Every st.session_state key the app uses, with its default, in one place.

Sidebar widgets live in the entrypoint (streamlit_app.py), so their keys survive page switches; pages read
them through the constants below instead of spelling key strings themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RUNS_ENV = "ENPAR_RUNS"

# Page scripts, relative to the entrypoint (st.Page, st.page_link and st.switch_page all take these).
PAGE_COMPARE = "app/pages/compare.py"
PAGE_BREAKDOWN = "app/pages/breakdown.py"
PAGE_EXAMPLES = "app/pages/examples.py"
PAGE_RUNS = "app/pages/runs.py"

# Sidebar (shared by all pages).
CKPT_A = "sb_ckpt_a"  # checkpoint folder (str) of system A
CKPT_B = "sb_ckpt_b"  # checkpoint folder (str) of system B
SPLIT = "sb_split"  # dataset split name from enpar.datasets.find_splits(), e.g. "scierc/dev"
EVAL_WHICH = "sb_eval_which"  # which checkpoints the sidebar's "Evaluate" button runs
LAST_STARTED = "sb_last_started"  # ids of the runs the sidebar started last (for a confirmation line)
REUSED = "sb_reused"  # of those, the ids that were already running (identical run reused, not started twice)

# Compare.
CMP_SOURCE = "cmp_source"  # "Paste text" | "Dataset sentence"
CMP_TEXT = "cmp_text"
CMP_INDEX = "cmp_index"  # index of the dataset sentence
CMP_PER_LINE = "cmp_per_line"  # the paste holds one sentence per line (no spaCy sentence split)

# Breakdown and Examples (same conventions on both pages).
BD_SOURCE = "bd_source"  # app.sources.SOURCES: "Built-in" | "Checkpoints" | "Files" | "One run"
BD_RUN = "bd_run"  # run id picked on Breakdown (set by Runs' "Open in Breakdown")
CONVENTION = "bd_convention"  # "relation" | "relation_strict"
SYMMETRIC = "bd_symmetric"  # "directed" | "unordered" | "doubled"
AN_PAIR = "an_pair"  # index into app.builtin.PAIRS
AN_SEED = "an_seed"  # seed of the built-in pair
AN_FORMAT = "an_format"  # reader format of uploaded files ("auto" detects)
AN_GOLD_MODE = "an_gold_mode"  # "Data folder split" | "Upload"
AN_GOLD_SPLIT = "an_gold_split"
FULL_SCALE = "bd_full_scale"  # breakdown charts on a fixed 0-100 axis instead of auto-scaled

EX_CATEGORY = "ex_category"
EX_LABEL = "ex_label"
EX_BUCKET_BY = "ex_bucket_by"
EX_BUCKET = "ex_bucket"

DEFAULTS: dict[str, Any] = {
    EVAL_WHICH: "A and B",
    LAST_STARTED: [],
    REUSED: [],
    CMP_SOURCE: "Paste text",
    CMP_TEXT: "",
    CMP_INDEX: 0,
    CMP_PER_LINE: False,
    AN_PAIR: 0,
    AN_FORMAT: "auto",
    AN_GOLD_MODE: "Data folder split",
    FULL_SCALE: False,
    CONVENTION: "relation_strict",
    SYMMETRIC: "directed",
    EX_CATEGORY: "Any disagreement",
    EX_LABEL: "(all)",
    EX_BUCKET_BY: "distance",
    EX_BUCKET: "(all)",
}


# Kept alive across page switches (see init_state); checkpoint/split defaults come from the sidebar.
PERSISTENT = (CKPT_A, CKPT_B, SPLIT, BD_SOURCE, AN_SEED, AN_GOLD_SPLIT, *DEFAULTS)


def init_state() -> None:
    """Set missing keys to their defaults, and keep every persistent key alive.

    Re-assigning a key each run detaches it from its widget, so its value survives a run in which the
    widget is not drawn or is drawn under another id (a page's inputs while another page shows, e.g. the
    pasted text), where Streamlit would otherwise drop it.
    """
    for key in PERSISTENT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
        elif key in DEFAULTS:
            st.session_state[key] = DEFAULTS[key]


def runs_dir() -> Path:
    """The runs folder: $ENPAR_RUNS, or runs/ in the project."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "runs"


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, DEFAULTS.get(key, default))
