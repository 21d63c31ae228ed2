"""Breakdown page speed on SciERC test: the built-in BERT vs ENPAR comparison, cold and warm.

Runs the real page through Streamlit's AppTest (script run + element serialisation, no browser) with
no checkpoint, as on a first start. Cold: the first Breakdown run of a fresh process (files read, the
report with 1000 bootstrap resamples, per-bucket tests). Warm: the same page again (caches hit; the goal
is < 1 s). Baseline in the same run: enpar.metrics.report alone on the same files, the work a cold
page cannot avoid. Writes benchmarks/results/breakdown.json.

    ENPAR_THREADS=1 .venv/bin/python benchmarks/bench_breakdown.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import DATA, write_report  # noqa: E402


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return 0
    os.environ["ENPAR_DATA"] = str(DATA.parent.parent)
    os.environ["ENPAR_RUNS"] = tempfile.mkdtemp(prefix="bench-breakdown-runs-")  # no checkpoint
    from streamlit.testing.v1 import AppTest

    from app import builtin
    from enpar import metrics
    from enpar.readers import read_dataset

    pair = builtin.PAIRS[0]
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    first_start = timed(at.run)  # Compare: says there is no checkpoint
    at.switch_page("app/pages/breakdown.py")
    cold = timed(at.run)
    assert not at.exception and at.session_state["bd_source"] == "Built-in", [e.value for e in at.exception]
    warm = [timed(at.run) for _ in range(5)]
    at.switch_page("app/pages/examples.py")
    examples_cold = timed(at.run)
    examples_warm = min(timed(at.run) for _ in range(3))

    seed = pair.seeds[0]
    gold = read_dataset(DATA)
    a, b = (read_dataset(s.predictions(seed)) for s in (pair.a, pair.b))
    baseline = timed(lambda: metrics.report(gold, a, vs=b, n_bootstrap=1000))

    rows = {
        "first start (Compare, no checkpoint)": first_start,
        "Breakdown cold (first run)": cold,
        "Breakdown warm (best of 5)": min(warm),
        "Breakdown warm (median of 5)": sorted(warm)[2],
        "Examples cold": examples_cold,
        "Examples warm (best of 3)": examples_warm,
        "baseline: metrics.report A vs B, 1000 bootstrap": baseline,
    }
    print(f"SciERC test, {len(gold)} sentences, {pair.a.name} vs {pair.b.name}, seed {seed}")
    for name, sec in rows.items():
        print(f"{name:50s} {sec:8.3f} s")
    write_report(
        ROOT / "benchmarks" / "results" / "breakdown.json",
        {
            "benchmark": "breakdown",
            "data": str(DATA.relative_to(DATA.parents[2])),
            "sentences": len(gold),
            "systems": [pair.a.folder, pair.b.folder],
            "seed": seed,
            "threads_env": os.environ.get("ENPAR_THREADS", ""),
            "method": "AppTest script runs (no browser); warm = the same page rerun with caches hit",
            "goal_warm_s": 1.0,
            "seconds": {k: round(v, 3) for k, v in rows.items()},
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
