"""The `enpar` command line: one subcommand per module in enpar/commands/.

Each command module defines HELP (one line), add_arguments(parser) and run(args) -> int, and imports
heavy libraries (torch, spaCy) inside run() so that `enpar --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from enpar.schema import InputError

COMMANDS = ("convert", "stats", "score", "finetune", "evaluate", "predict", "annotate", "pretrain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enpar", description="ENPAR Studio: joint entity-relation extraction."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"enpar.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"enpar.commands.{name}":
                raise
            continue  # command not built yet
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
