"""``deepeft tour``: the guided tour (see :mod:`deepeft.tour`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._cli_common import emit_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tour",
        help="the guided tour: the lectures' claims, exact and by Monte Carlo, with figures",
                       description="Reproduce the seed lectures' claims on deep linear networks with numbers "
                       "and PNG figures: criticality, growth of the 4-pt function with depth, the 1/n^2 "
                       "6-pt function, and the breakdown of the 1/n expansion at L/n ~ 1.")
    p.add_argument("--out", type=Path, default=Path("deepeft-tour"),
                   help="folder for the figures (default ./deepeft-tour)")
    p.add_argument("--networks", type=int, default=100_000, help="Monte Carlo networks per width (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--quick", action="store_true", help="smaller Monte Carlo runs")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of the narrative")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ._validate import check_positive_int
    from .tour import run_tour

    check_positive_int("--networks", args.networks)
    if args.json:
        res = run_tour(args.out, networks=args.networks, seed=args.seed, quick=args.quick, say=lambda s: None)
        emit_json({"numbers": res.numbers, "figures": {k: str(v) for k, v in res.figures.items()},
                   "narrative": res.lines, "elapsed": res.elapsed})
        return 0
    from rich.console import Console
    from rich.rule import Rule

    con = Console()
    con.print(Rule("deepeft tour: deep linear networks at initialization"))

    def say(text: str) -> None:
        con.print(text)
        con.print()

    run_tour(args.out, networks=args.networks, seed=args.seed, quick=args.quick, say=say, progress=True)
    return 0
