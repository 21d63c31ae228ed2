"""`enpar annotate` throughput vs spaCy's own nlp.pipe (same components, same text, same run).

The baseline is the bare `nlp.pipe` loop over already-cleaned in-memory texts; ours is the whole command
path (read, clean, spaCy, sentence filter, word-piece count, JSON write). Target: ratio >= 0.9.
Runs alternate (baseline, ours, baseline, ours, ...) and the best of each is kept, so load from other
processes on the machine hits both sides alike.

    .venv/bin/python benchmarks/bench_annotate.py [--lines 1200] [--repeats 3] [--n-process 1]
    # a gzip shard, one abstract per line:
    .venv/bin/python benchmarks/bench_annotate.py --lines 300 \
        --input ../shared/data/ai_abstracts/abstracts-00-of-08.txt.gz --out benchmarks/results/abs.json
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from enpar.annotate import AnnotateConfig, annotate_file, iter_texts  # noqa: E402
from enpar.nlp import DEFAULT_SPACY, load_spacy, spacy_model_id  # noqa: E402

DATA = (
    Path(os.environ.get("ENPAR_DATA", ROOT.parent / "shared" / "data")) / "wikitext2_raw" / "wiki.valid.raw"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input",
        type=Path,
        default=DATA,
        help="WikiText raw file (default: wiki.valid.raw), or a .gz shard of paragraphs (abstracts)",
    )
    parser.add_argument("--lines", type=int, default=1200, help="first N input lines (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-process", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--spacy-model", default=DEFAULT_SPACY)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "annotate.json")
    args = parser.parse_args()
    if not args.input.is_file():
        print(f"skip: {args.input} not found")
        return 0

    packed = args.input.suffix == ".gz"
    fmt = "paragraphs" if packed else "wikitext"
    opener: Any = gzip.open if packed else open
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("in.txt.gz" if packed else "in.raw")  # ours reads the same format as given
        with opener(args.input, "rt", encoding="utf-8") as fh:
            lines = list(itertools.islice(fh, args.lines or None))
        with opener(src, "wt", encoding="utf-8") as fh:
            fh.write("".join(lines))
        texts = [t for t, _ in iter_texts(src, fmt) if t]
        config = AnnotateConfig(
            spacy_model=args.spacy_model,
            input_format=fmt,
            batch_size=args.batch_size,
            n_process=args.n_process,
        )
        nlp = load_spacy(args.spacy_model, purpose="ner+sentences")  # what annotate runs for paragraphs

        def baseline() -> float:
            start = time.perf_counter()
            for _doc in nlp.pipe(texts, batch_size=args.batch_size, n_process=args.n_process):
                pass
            return time.perf_counter() - start

        def ours() -> tuple[float, int, dict]:
            start = time.perf_counter()
            summary = annotate_file(src, Path(tmp) / "out.jsonl", config, show_progress=False)
            return time.perf_counter() - start, summary.words_read, summary.to_json()

        annotate_file(src, Path(tmp) / "warm.jsonl", config, show_progress=False)  # load caches once
        base_times, our_times = [], []
        words = 0
        summary: dict = {}
        for _ in range(args.repeats):
            base_times.append(baseline())
            t, words, summary = ours()
            our_times.append(t)

    best_base, best_ours = min(base_times), min(our_times)
    result = {
        "benchmark": "annotate",
        "input": str(args.input.name),
        "lines": args.lines,
        "words": words,  # non-blank tokens (the same text for both sides)
        "spacy_model": spacy_model_id(nlp),
        "components": nlp.pipe_names,
        "n_process": args.n_process,
        "batch_size": args.batch_size,
        "spacy_pipe_s": [round(t, 3) for t in base_times],
        "annotate_s": [round(t, 3) for t in our_times],
        "spacy_pipe_words_per_s": round(words / best_base, 1),
        "annotate_words_per_s": round(words / best_ours, 1),
        "ratio": round(best_base / best_ours, 3),
        "target": 0.9,
        "kept": summary.get("kept"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    rows = [
        ("spaCy nlp.pipe", result["spacy_pipe_words_per_s"], best_base),
        ("enpar annotate", result["annotate_words_per_s"], best_ours),
    ]
    print(f"{words:,} words, components {nlp.pipe_names}, n_process {args.n_process}, best of {args.repeats}")
    print(f"{'':<16}{'words/s':>10}{'seconds':>9}")
    for name, wps, secs in rows:
        print(f"{name:<16}{wps:>10,.0f}{secs:>9.2f}")
    verdict = "OK" if result["ratio"] >= 0.9 else "BELOW TARGET"
    print(f"ratio {result['ratio']:.3f} (target >= 0.9): {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
