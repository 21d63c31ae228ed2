"""Compare page latency, cold and warm, with two MiniLM checkpoints, each against a baseline in the same run.

Checkpoints: two random-headed JointModels on the default MiniLM encoder, built here in a temporary runs
folder (tests/studio_helpers.make_runs_folder; timing does not depend on the weights). The whole app
script runs through AppTest (entrypoint, sidebar, Compare page, prediction of A and B, drawing).

Cold (each in a fresh Python process, so imports, model loading and spaCy are all paid):
- baseline, serial: the paste is there on the first page run, so the first run loads everything itself;
  the clock runs from process start to the drawn result;
- warm-up: the first page run shows the page (Compare starts `loading.warm_up(A, B)` in the background),
  then the user clicks Compare at once, and (in another fresh process) after --think seconds; the clock
  runs from the click to the drawn result (the target: < 5 s). Process start to page shown is reported.
Warm (one process, models loaded; median of --repeats, interleaved):
- baseline: what the app did before app.paste: each system splits the paste with spaCy itself and
  predicts it (Predictor.predict(text) for A and for B), without Streamlit;
- app, new text: a paste never seen before through the whole page (the target: < 0.3 s);
- app, same text: a rerun with the paste unchanged (st.cache_data);
- predict only: app.paste.prepare_paste once + Predictor.predict_sentences for A and B.

    .venv/bin/python benchmarks/bench_app.py [--repeats 7] [--think 5] [--threads N]

Prints a table and writes benchmarks/results/app.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = time.perf_counter()  # process start, for the cold child
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # studio_helpers: test checkpoints through the model's public API
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COLD_TARGET_S, WARM_TARGET_S = 5.0, 0.3
SENTENCES = [
    "We propose a joint model for entity and relation extraction based on BERT.",
    "The model is evaluated on SciERC and compared with SpERT and DyGIE++.",
    "Pre-training on Wikipedia text improves the exact relation F1 by two points.",
    "Vladimir Putin was greeted by Prince Charles as he arrived in London today.",
    "A span CNN encodes each entity and a pair encoder reads the context between them.",
]
TEXT_KEY, A_KEY, B_KEY = "cmp_text", "sb_ckpt_a", "sb_ckpt_b"


def paste(i: int) -> str:
    """Five sentences, made new for each i (a different number in each) so nothing is cached."""
    return "\n".join(s.replace(".", f" in run {i}.", 1) for s in SENTENCES)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def drawn(at: Any) -> int:
    """Sentence drawings on the page (A and B per sentence)."""
    return sum(m.value.count('class="enpar-view"') for m in at.markdown)


def app_test(text: str) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.session_state[TEXT_KEY] = text
    return at


def cold_child(mode: str, think: float) -> dict[str, float]:
    """One cold measurement in this (fresh) process; see the module docstring."""
    if mode == "serial":
        at = app_test(paste(0))
        at.run()
        assert drawn(at) == 2 * len(SENTENCES), f"{drawn(at)} drawings"
        return {"start_to_result": time.perf_counter() - T0}
    at = app_test("")
    at.run()
    shown = time.perf_counter() - T0
    from app import loading

    loading.warm_up([at.session_state[A_KEY], at.session_state[B_KEY]])  # as Compare does (idempotent)
    time.sleep(think)
    at.session_state[TEXT_KEY] = paste(0)
    click = timed(at.run)
    assert drawn(at) == 2 * len(SENTENCES), f"{drawn(at)} drawings"
    return {"start_to_page": shown, "click_to_result": click}


def run_cold(mode: str, think: float, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--think", str(think)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"cold {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def run_warm(repeats: int) -> dict[str, list[float]]:
    from app import paste as pastes
    from app.loading import set_app_threads
    from enpar.predict import Predictor

    at = app_test(paste(0))
    at.run()
    assert not at.exception, at.exception
    set_app_threads()  # the same torch threads as the app's predictions
    predictors = [Predictor.from_checkpoint(at.session_state[k]) for k in (A_KEY, B_KEY)]
    for p in predictors:
        p.predict(paste(0))  # spaCy loaded, first-call costs paid

    def baseline(i: int) -> None:
        for p in predictors:
            p.predict(paste(2000 + i))

    def predict_only(i: int) -> None:
        prepared = pastes.prepare_paste(paste(1000 + i))
        for p in predictors:
            p.predict_sentences(list(prepared.sentences))

    samples: dict[str, list[float]] = {"baseline": [], "new_text": [], "same_text": [], "predict_only": []}
    for i in range(1, repeats + 1):  # interleaved: load from other processes hits all alike
        samples["baseline"].append(timed(lambda i=i: baseline(i)))
        at.text_area(key=TEXT_KEY).input(paste(i))
        samples["new_text"].append(timed(at.run))
        assert drawn(at) == 2 * len(SENTENCES) and not at.exception
        samples["same_text"].append(timed(at.run))
        samples["predict_only"].append(timed(lambda i=i: predict_only(i)))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed warm runs per measurement (median)")
    parser.add_argument("--think", type=float, default=5.0, help="seconds between page shown and click")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the app (default 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "app.json")
    parser.add_argument("--child", choices=["serial", "warmup"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        os.environ["ENPAR_APP_THREADS"] = str(args.threads)
    if args.child:
        print(json.dumps(cold_child(args.child, args.think)))
        return 0

    import studio_helpers as helpers
    import torch

    from enpar.encoding import default_encoder_path

    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        runs = helpers.make_runs_folder(Path(tmp) / "runs", encoder=default_encoder_path())
        os.environ["ENPAR_RUNS"] = str(runs)
        os.environ["ENPAR_DATA"] = str(Path(tmp) / "no-data")
        env = dict(os.environ)
        cold = {
            "serial": run_cold("serial", 0.0, env),
            "warmup_click_at_once": run_cold("warmup", 0.0, env),
            "warmup": run_cold("warmup", args.think, env),
        }
        samples = run_warm(args.repeats)

    warm = {k: statistics.median(v) for k, v in samples.items()}
    rows = {
        "cold, baseline: process start -> result (serial)": cold["serial"]["start_to_result"],
        "cold, warm-up: process start -> page shown": cold["warmup"]["start_to_page"],
        "cold, warm-up: Compare click at once -> result": cold["warmup_click_at_once"]["click_to_result"],
        f"cold, warm-up: Compare click ({args.think:g} s later) -> result": cold["warmup"]["click_to_result"],
        "warm, baseline: Predictor.predict(text) A + B": warm["baseline"],
        "warm, app, new text (target)": warm["new_text"],
        "warm, app, same text (cached)": warm["same_text"],
        "warm, predict only (split once + A + B)": warm["predict_only"],
    }
    print(f"Compare page, {len(SENTENCES)}-sentence paste, two MiniLM checkpoints (random heads)")
    for name, value in rows.items():
        print(f"{name:<58} {value:>8.3f} s")
    cold_ok = cold["warmup"]["click_to_result"] < COLD_TARGET_S
    at_once_ok = cold["warmup_click_at_once"]["click_to_result"] < COLD_TARGET_S
    warm_ok = warm["new_text"] < WARM_TARGET_S
    print(f"target cold (click {args.think:g} s after the page -> result) < {COLD_TARGET_S} s: "
          f"{'met' if cold_ok else 'MISSED'}")  # fmt: skip
    print(f"target cold (click at once -> result) < {COLD_TARGET_S} s: {'met' if at_once_ok else 'MISSED'}")
    print(f"target warm (new text) < {WARM_TARGET_S} s: {'met' if warm_ok else 'MISSED'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "app_compare_latency",
        "sentences": len(SENTENCES),
        "checkpoints": "two random-headed JointModels on the default MiniLM encoder, built by the benchmark",
        "repeats": args.repeats,
        "think_s": args.think,
        "seconds": rows,
        "cold": cold,
        "samples": samples,
        "targets": {"cold_click_to_result_s": COLD_TARGET_S, "warm_new_text_s": WARM_TARGET_S},
        "targets_met": {"cold": cold_ok, "cold_click_at_once": at_once_ok, "warm": warm_ok},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
