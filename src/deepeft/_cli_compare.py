"""``deepeft compare``: theory against Monte Carlo, with z-scores."""

from __future__ import annotations

import argparse

from ._cli_common import add_network_options, console, emit_json, inputs_from_args, network_from_args
from ._cli_sample import add_sampling_options, run_sampler


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("compare", help="theory vs Monte Carlo with z-scores",
                       description="Compute the theory, sample networks, and print both side by side "
                       "with z = (MC - theory)/s.e. for the kernel and the 4-pt (and 6-pt) functions.")
    add_network_options(p)
    add_sampling_options(p)
    p.add_argument("--fail-above", type=float, default=None, metavar="Z",
                   help="exit with status 1 if some |z| exceeds Z")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import deepeft

    net = network_from_args(args)
    x = inputs_from_args(args, net)
    th = deepeft.theory(net, x)
    est = run_sampler(args, net, x)
    comp = deepeft.compare(th, est)
    if args.json:
        emit_json({"network": net.describe(), "networks": est.networks, "seed": est.seed,
                   "method": est.method, "max_abs_z": comp.max_abs_z, "records": comp.to_dicts()})
    else:
        con = console()
        con.print(comp)
        con.print(f"max |z| = {comp.max_abs_z:.2f} over {len(comp)} quantities")
    if args.fail_above is not None and comp.max_abs_z > args.fail_above:
        return 1
    return 0
