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
    """Call ``fn``; None where the theory has no answer (ValueError) or the value overflows float64."""
    try:
        return fn(*args, **kw)
    except (ValueError, OverflowError):
        return None


def _scale_free(fn: Any, layer: int, **kw: Any) -> Any:
    """``fn(layer, normalized=True, **kw)`` where the theory offers scale-free values, else ``fn(layer, **kw)``.

    Scale-free values are in units of a per-layer scale (the same for every tensor of one
    layer), so ratios such as V/G² survive depths where G itself overflows.
    """
    try:
        return fn(layer, normalized=True, **kw)
    except TypeError:
        return _maybe(fn, layer, **kw)
    except (ValueError, OverflowError):
        return None


def ratios(th: Any, layer: int, order: int) -> dict[str, float | None]:
    """Scale-free ratios of input 0: V/G², U/G³ (exact and leading), and (G4 - G2²)/G²."""
    out: dict[str, float | None] = {}
    if layer < 1 or order < 4:
        return out
    k = _scale_free(th.kernel, layer)
    g = None if k is None else float(k[0, 0])
    ok = g is not None and g != 0 and np.isfinite(g)

    def ratio(tensor: Any, power: int) -> float | None:
        if tensor is None or not ok:
            return None
        value = float(tensor[(0,) * (2 * power)]) / g**power  # type: ignore[operator]
        return value if np.isfinite(value) else None

    out["V/G2"] = ratio(_scale_free(th.vertex, layer, order="exact"), 2)
    out["V/G2_leading"] = ratio(_scale_free(th.vertex, layer, order="leading"), 2)
    best = out["V/G2"] if out["V/G2"] is not None else out["V/G2_leading"]
    out["connected_4pt/G2"] = None if best is None else best / th.network.widths[layer - 1]
    if order >= 6 and hasattr(th, "six_point_vertex"):
        out["U/G3"] = ratio(_scale_free(th.six_point_vertex, layer, order="exact"), 3)
        out["U/G3_leading"] = ratio(_scale_free(th.six_point_vertex, layer, order="leading"), 3)
    return out


def layer_summary(th: Any, layer: int, order: int) -> dict[str, Any]:
    """Everything ``deepeft theory`` reports for one layer, as JSON-friendly data.

    Tensors that overflow float64 are reported as None; ``ratios`` stay finite.
    """
    out: dict[str, Any] = {"layer": layer, "kernel": _maybe(th.kernel, layer)}
    if order >= 4 and layer >= 1:
        out["vertex"] = _maybe(th.vertex, layer, order="exact")
        out["vertex_leading"] = _maybe(th.vertex, layer, order="leading")
    if order >= 6 and layer >= 1 and hasattr(th, "six_point_vertex"):
        out["six_point_vertex"] = _maybe(th.six_point_vertex, layer, order="exact")
        out["six_point_vertex_leading"] = _maybe(th.six_point_vertex, layer, order="leading")
    out["ratios"] = ratios(th, layer, order)
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
        k, r = row["kernel"], row["ratios"]
        cells = [str(layer), "overflow" if k is None else fmt(float(k[0, 0]))]
        if th.n_inputs > 1:
            cells.append("overflow" if k is None else fmt(float(k[0, 1])))
        if args.order >= 4:
            cells += [fmt(r.get("V/G2")), fmt(r.get("V/G2_leading")), fmt(r.get("connected_4pt/G2"))]
        if args.order >= 6:
            cells += [fmt(r.get("U/G3")), fmt(r.get("U/G3_leading"))]
        table.add_row(*cells)
    con = console()
    con.print(table)
    if th.n_inputs > 1 and rows[-1]["kernel"] is not None:
        last = rows[-1]
        con.print(f"kernel at layer {last['layer']}:\n{np.array2string(last['kernel'], precision=6)}")
    return 0
