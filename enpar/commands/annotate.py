"""`enpar annotate IN OUT`: raw text -> spaCy-entity-annotated canonical JSON lines (pre-training corpus)."""

from __future__ import annotations

import argparse

HELP = "annotate raw text with spaCy NER into canonical JSON lines (the ENPAR pre-training corpus)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from enpar.annotate import INPUT_FORMATS, AnnotateConfig

    defaults = AnnotateConfig()
    parser.add_argument("input", help="raw UTF-8 text file, plain or gzip-compressed (.gz, read streaming)")
    parser.add_argument("output", help="canonical JSON-lines file to write (plus OUTPUT.summary.json)")
    parser.add_argument(
        "--spacy-model",
        default=defaults.spacy_model,
        help="any spaCy pipeline with an NER component: package name or folder (default %(default)s)",
    )
    parser.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default=defaults.input_format,
        help="lines: one sentence per line; paragraphs: one paragraph per line, split into sentences with "
        "spaCy; wikitext: paragraphs in WikiText layout (headings dropped, ' @-@ ' escapes undone); "
        "dataset: the text of a labelled file (any format enpar reads), its tokens kept, its labels "
        "ignored (within-task pre-training text)",
    )
    parser.add_argument(
        "--min-entities",
        type=int,
        default=defaults.min_entities,
        help="drop sentences with fewer entities (paper 3, code 2)",
    )
    parser.add_argument(
        "--max-wordpieces",
        type=int,
        default=defaults.max_wordpieces,
        help="drop sentences longer than this, [CLS]/[SEP] included (0: no limit)",
    )
    parser.add_argument(
        "--encoder",
        "--tokenizer",
        dest="encoder",
        default=defaults.encoder,
        help="encoder whose tokenizer counts word pieces: 'minilm' (default) or a folder",
    )
    parser.add_argument(
        "--n-process",
        type=int,
        default=defaults.n_process,
        help="spaCy worker processes (nlp.pipe n_process)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="texts per nlp.pipe batch"
    )
    parser.add_argument(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="process only input lines k with k %% N == I (0-based), to split a corpus over machines",
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        default=0,
        metavar="N",
        help="read only the first N input lines (all shards together), e.g. to measure the rate",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from enpar.annotate import AnnotateConfig, annotate_file, parse_shard

    try:
        shard = parse_shard(args.shard)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = AnnotateConfig(
        spacy_model=args.spacy_model,
        min_entities=args.min_entities,
        max_wordpieces=args.max_wordpieces,
        encoder=args.encoder,
        input_format=args.input_format,
        batch_size=args.batch_size,
        n_process=args.n_process,
        shard=shard,
        max_lines=args.max_lines,
    )
    # a missing spaCy model (SpacyModelError) or input file: one line and exit 2, from enpar.cli
    summary = annotate_file(args.input, args.output, config, show_progress=not args.no_progress)
    print(summary.format())
    print(f"wrote {summary.kept:,} sentences to {args.output} (summary: {args.output}.summary.json)")
    return 0
