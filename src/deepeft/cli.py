"""The ``deepeft`` command line: one subcommand per capability.

Run ``deepeft --help`` for the list and ``deepeft COMMAND --help`` for each.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._cli_common import CLIError

__all__ = ["main"]

#: Subcommand modules, ``deepeft._cli_<name>``, in the order ``--help`` lists them.
SUBCOMMANDS = ("tour", "theory", "sample", "compare", "distribution", "criticality")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="deepeft",
        description="Statistics of deep neural networks at initialization: exact theory, "
        "1/n expansions and Monte Carlo.",
    )
    parser.add_argument("--version", action="version", version=f"deepeft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"deepeft._cli_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"deepeft {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OverflowError) as exc:
        print(f"deepeft {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
