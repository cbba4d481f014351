"""``deepeft sample``: Monte Carlo estimates with standard errors."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_common import add_network_options, console, emit_json, inputs_from_args, network_from_args, parse_int_list


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Monte Carlo")
    g.add_argument("--networks", type=int, default=10_000, help="number of networks (default 10000)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0); fixes every result")
    g.add_argument("--method", default=None,
                   help="sampler: dense, or a faster exact one where available (default: the library default)")
    g.add_argument("--order", type=int, default=4, choices=(2, 4, 6),
                   help="highest correlator order to estimate (default 4)")
    g.add_argument("--chunk-size", type=int, default=None, help="networks per processing chunk")
    g.add_argument("--layers", type=parse_int_list, default=None, metavar="L1,L2,...",
                   help="layers to record (default: all)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_sampler(args: argparse.Namespace, net: Any, x: Any) -> Any:
    import deepeft

    kwargs: dict[str, Any] = dict(networks=args.networks, seed=args.seed, order=args.order,
                                  chunk_size=args.chunk_size, layers=args.layers,
                                  progress=not args.no_progress)
    if args.method is not None:
        kwargs["method"] = args.method
    return deepeft.sample(net, x, **kwargs)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sample", help="Monte Carlo estimates of the kernel and correlators, with error bars",
                       description="Draw random networks and estimate, per layer, the kernel and the "
                       "connected 4-pt function (and 6-pt with --order 6) with standard errors.")
    add_network_options(p)
    add_sampling_options(p)
    p.set_defaults(func=run)


def connected_summary(est: Any, layer: int) -> dict[str, Any]:
    """Connected 4-pt (and 6-pt) functions of input 0 at ``layer``: mean and s.e., or None."""
    width = est.network.widths[layer]
    out: dict[str, Any] = {}
    if est.order >= 4:
        c = est.cumulant(layer, (0, 0, 1, 1), (0, 0, 0, 0)) if width >= 2 else None
        out["connected_4pt"] = None if c is None else {"mean": c.mean, "stderr": c.stderr}
    if est.order >= 6:
        c = est.cumulant(layer, (0, 0, 1, 1, 2, 2), (0,) * 6) if width >= 3 else None
        out["connected_6pt"] = None if c is None else {"mean": c.mean, "stderr": c.stderr}
    return out


def run(args: argparse.Namespace) -> int:
    net = network_from_args(args)
    x = inputs_from_args(args, net)
    est = run_sampler(args, net, x)
    connected = {layer: connected_summary(est, layer) for layer in est.layers}
    if args.json:
        payload = est.to_dict()
        payload["connected"] = {str(layer): c for layer, c in connected.items()}
        emit_json(payload)
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{net!r}\n{est.networks:,} networks, method={est.method}, seed={est.seed}, "
                  f"{est.elapsed:.2f} s", header_style="bold")
    table.add_column("layer", justify="right")
    table.add_column("G_00", justify="right")
    if x.shape[0] > 1:
        table.add_column("G_01", justify="right")
    if est.order >= 4:
        table.add_column(escape("κ[z_i z_i z_j z_j] (input 0)"), justify="right")
    if est.order >= 6:
        table.add_column(escape("κ[z_i z_i z_j z_j z_k z_k] (input 0)"), justify="right")

    def fmt(c: dict[str, float] | None) -> str:
        return "—" if c is None else f"{c['mean']:.6g} ± {c['stderr']:.2g}"

    for layer in est.layers:
        k = est.kernel(layer)
        cells = [str(layer), f"{k.mean[0, 0]:.6g} ± {k.stderr[0, 0]:.2g}"]
        if x.shape[0] > 1:
            cells.append(f"{k.mean[0, 1]:.6g} ± {k.stderr[0, 1]:.2g}")
        if est.order >= 4:
            cells.append(fmt(connected[layer]["connected_4pt"]))
        if est.order >= 6:
            cells.append(fmt(connected[layer]["connected_6pt"]))
        table.add_row(*cells)
    console().print(table)
    return 0
