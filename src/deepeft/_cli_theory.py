"""``deepeft theory``: exact (or leading-order) statistics, layer by layer."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._cli_common import (
    CLIError,
    add_network_options,
    console,
    emit_json,
    inputs_from_args,
    network_from_args,
    parse_int_list,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "theory",
        help="kernel, 4-pt vertex V and 6-pt vertex U per layer (exact for deep linear nets)",
        description="Kernel G, four-point vertex V (exact and leading 1/n) and, with --order 6, "
        "the six-point vertex U, for every layer. V is normalised as in PDLT: the connected "
        "4-pt function of neurons i != j is V/n_{l-1}.",
    )
    add_network_options(p)
    p.add_argument("--layers", type=parse_int_list, default=None, metavar="L1,L2,...",
                   help="layers to report (default: all)")
    p.add_argument("--order", type=int, default=4, choices=(2, 4, 6),
                   help="highest correlator order to report (default 4)")
    p.set_defaults(func=run)


def _maybe(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call ``fn``; None where the theory has no answer (ValueError)."""
    try:
        return fn(*args, **kw)
    except ValueError:
        return None


def layer_summary(th: Any, layer: int, order: int) -> dict[str, Any]:
    """Everything ``deepeft theory`` reports for one layer, as JSON-friendly data."""
    out: dict[str, Any] = {"layer": layer, "kernel": th.kernel(layer)}
    if order >= 4 and layer >= 1:
        out["vertex"] = _maybe(th.vertex, layer, order="exact")
        out["vertex_leading"] = _maybe(th.vertex, layer, order="leading")
    if order >= 6 and layer >= 1 and hasattr(th, "six_point_vertex"):
        out["six_point_vertex"] = _maybe(th.six_point_vertex, layer, order="exact")
        out["six_point_vertex_leading"] = _maybe(th.six_point_vertex, layer, order="leading")
    return out


def run(args: argparse.Namespace) -> int:
    import deepeft

    net = network_from_args(args)
    x = inputs_from_args(args, net)
    th = deepeft.theory(net, x)
    layers = args.layers if args.layers is not None else list(range(1, net.depth + 1))
    for layer in layers:
        if not 0 <= layer <= net.depth:
            msg = f"--layers: layer {layer} is out of range [0, {net.depth}]"
            raise CLIError(msg)
    rows = [layer_summary(th, layer, args.order) for layer in layers]
    if args.json:
        emit_json({"network": net.describe(), "inputs": x, "exact": th.exact,
                   "theory": type(th).__name__, "layers": rows})
        return 0

    from rich.table import Table

    kind = "exact at finite width" if th.exact else "leading order in 1/n"
    table = Table(title=f"{net!r}\n{type(th).__name__}: {kind}; input 0, G = kernel", header_style="bold")
    table.add_column("layer", justify="right")
    table.add_column("G_00", justify="right")
    if th.n_inputs > 1:
        table.add_column("G_01", justify="right")
    if args.order >= 4:
        table.add_column("V/G² exact", justify="right")
        table.add_column("V/G² leading", justify="right")
        table.add_column("(G4-G2²)/G²", justify="right")
    if args.order >= 6:
        table.add_column("U/G³ exact", justify="right")
        table.add_column("U/G³ leading", justify="right")

    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.6g}"

    for row in rows:
        layer = row["layer"]
        k = row["kernel"]
        g = float(k[0, 0])
        # ratios to G are undefined for a zero input (G = 0) and for overflowed kernels
        ratio_ok = g != 0 and np.isfinite(g)
        cells = [str(layer), fmt(g)]
        if th.n_inputs > 1:
            cells.append(fmt(float(k[0, 1])))
        if args.order >= 4:
            v, vl = row.get("vertex"), row.get("vertex_leading")
            ve = None if v is None or not ratio_ok else float(v[0, 0, 0, 0]) / g**2
            vle = None if vl is None or not ratio_ok else float(vl[0, 0, 0, 0]) / g**2
            best = ve if ve is not None else vle  # the exact value where the theory has one
            conn = None if best is None or layer == 0 else best / net.widths[layer - 1]
            cells += [fmt(ve), fmt(vle), fmt(conn)]
        if args.order >= 6:
            u, ul = row.get("six_point_vertex"), row.get("six_point_vertex_leading")
            cells += [fmt(None if u is None or not ratio_ok else float(u[(0,) * 6]) / g**3),
                      fmt(None if ul is None or not ratio_ok else float(ul[(0,) * 6]) / g**3)]
        table.add_row(*cells)
    con = console()
    con.print(table)
    if th.n_inputs > 1:
        last = rows[-1]
        con.print(f"kernel at layer {last['layer']}:\n{np.array2string(last['kernel'], precision=6)}")
    return 0
