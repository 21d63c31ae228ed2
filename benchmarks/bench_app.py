"""Warm latency of the Compare page: a 5-sentence paste, checkpoints A and B on the default encoder.

Two checkpoints with the default MiniLM encoder (random heads: the timing does not depend on the weights)
are saved in a temporary runs folder, and the whole app script runs through AppTest (entrypoint, sidebar,
page, prediction of both systems, rendering). Measured, median of --repeats:

- cold: the first run (loads both models and spaCy); reported, not the target;
- warm, new text: models loaded, a paste never seen before (both systems predict it): the target, < 0.5 s;
- warm, same text: a rerun with the paste unchanged (predictions come from st.cache_data);
- predict only: Predictor.predict of A and B on new text, without Streamlit (threads as the app sets).

    .venv/bin/python benchmarks/bench_app.py [--repeats 7] [--threads N]

Prints a table and writes benchmarks/results/app.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # studio_helpers: test checkpoints through the model's public API
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET_S = 0.5
SENTENCES = [
    "We propose a joint model for entity and relation extraction based on BERT.",
    "The model is evaluated on SciERC and compared with SpERT and DyGIE++.",
    "Pre-training on Wikipedia text improves the exact relation F1 by two points.",
    "Vladimir Putin was greeted by Prince Charles as he arrived in London today.",
    "A span CNN encodes each entity and a pair encoder reads the context between them.",
]


def paste(i: int) -> str:
    """Five sentences, made new for each i (a different number in each) so nothing is cached."""
    return "\n".join(s.replace(".", f" in run {i}.", 1) for s in SENTENCES)


def timed(fn) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the app's predictions (default: the app's, 1)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "app.json")
    args = parser.parse_args()
    if args.threads:
        os.environ["ENPAR_APP_THREADS"] = str(args.threads)

    import studio_helpers as helpers
    import torch
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from enpar.encoding import default_encoder_path

    original_init = PagesManager.__init__

    def server_like_init(self, *a, **k) -> None:  # noqa: ANN001, ANN002, ANN003
        # every rerun goes through the entrypoint, as on a running server (see tests/test_app.py)
        original_init(self, *a, **k)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = server_like_init  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        runs = helpers.make_runs_folder(Path(tmp) / "runs", encoder=default_encoder_path())
        os.environ["ENPAR_RUNS"] = str(runs)
        os.environ["ENPAR_DATA"] = str(Path(tmp) / "no-data")

        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.session_state["cmp_text"] = paste(0)
        cold = timed(at.run)
        assert not at.exception, at.exception
        n_views = sum(m.value.count('class="enpar-view"') for m in at.markdown)
        assert n_views == 2 * len(SENTENCES), f"expected {2 * len(SENTENCES)} sentence views, got {n_views}"

        from app.loading import set_app_threads
        from enpar.predict import Predictor

        set_app_threads()  # the same torch threads as the app's predictions
        predictors = [Predictor.from_checkpoint(at.session_state[k]) for k in ("sb_ckpt_a", "sb_ckpt_b")]
        for p in predictors:
            p.predict(paste(0))  # spaCy loaded, first-call costs paid

        # interleaved, so that load from other processes on the machine hits all three alike
        new_text, same_text, predict_only = [], [], []
        for i in range(1, args.repeats + 1):
            at.text_area(key="cmp_text").input(paste(i))
            new_text.append(timed(at.run))
            same_text.append(timed(at.run))
            assert not at.exception, at.exception
            predict_only.append(timed(lambda i=i: [p.predict(paste(1000 + i)) for p in predictors]))

    rows = {
        "cold (first run, loads models)": cold,
        "warm, new text (target)": statistics.median(new_text),
        "warm, same text (cached)": statistics.median(same_text),
        "predict only (Predictor.predict A + B)": statistics.median(predict_only),
    }
    warm = rows["warm, new text (target)"]
    print(f"Compare page, {len(SENTENCES)}-sentence paste, checkpoints A and B on the default encoder")
    print(f"{'measurement':<34} {'seconds':>8}")
    for name, value in rows.items():
        print(f"{name:<34} {value:>8.3f}")
    verdict = "met" if warm < TARGET_S else "MISSED"
    print(f"target: warm, new text < {TARGET_S} s -> {verdict} ({warm:.3f} s)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "app_compare_warm_latency",
        "sentences": len(SENTENCES),
        "encoder": "minilm (default)",
        "repeats": args.repeats,
        "seconds": rows,
        "samples": {"warm_new_text": new_text, "warm_same_text": same_text, "predict_only": predict_only},
        "target_s": TARGET_S,
        "target_met": warm < TARGET_S,
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
