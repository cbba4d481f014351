"""``deepeft criticality``: critical point, phase diagram and depth scaling of an activation."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._cli_common import CLIError, console, emit_json, parse_float_list

#: Layers shown in the depth-scaling table (those <= --depth).
_TABLE_LAYERS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "criticality",
        help="critical (C_b, C_W), universality class, phase diagram and depth scaling of an activation",
        description="Critical initialisation of an activation (chi_parallel = chi_perp = 1 at a fixed "
        "point of the kernel), its universality class, a phase diagram over (C_b, C_W) and, with "
        "--depth-scaling, K and V/K^2 versus depth at criticality beside their asymptotic laws "
        "(THEORY.md §3.3-3.4; PDLT ch. 5).",
    )
    p.add_argument("--activation", default="tanh",
                   help="activation: linear, relu, leaky_relu(a), tanh, erf, sin, gelu, silu, softplus "
                   "(default tanh)")
    p.add_argument("--depth", type=int, default=100,
                   help="layers for the phase diagram and depth scaling (default 100)")
    p.add_argument("--grid", type=int, default=25, help="points per axis of the (C_b, C_W) grid (default 25)")
    p.add_argument("--cb", type=parse_float_list, default=None, metavar="MIN,MAX",
                   help="C_b range of the phase diagram (default 0,1)")
    p.add_argument("--cw", type=parse_float_list, default=None, metavar="MIN,MAX",
                   help="C_W range of the phase diagram (default 0.1 to 2.5 x critical C_W)")
    p.add_argument("--k0", type=float, default=None,
                   help="first-layer kernel K(1) (default 1; K* for the depth scaling of the general class)")
    p.add_argument("--band", type=float, default=10.0,
                   help="the kernel escapes when it leaves [K0/band, band K0] (default 10)")
    p.add_argument("--depth-scaling", action="store_true",
                   help="also report K(l) and V(l)/K(l)^2 vs depth at criticality with the asymptotic laws")
    p.add_argument("--width", type=int, default=None,
                   help="with --depth-scaling: report V/(n K^2) for this width n")
    p.add_argument("--plot", default=None, metavar="FILE", help="save a figure (PNG, PDF, SVG, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(func=run)


def _range(name: str, values: list[float] | None, default: tuple[float, float], grid: int) -> np.ndarray:
    lo, hi = default
    if values is not None:
        if len(values) != 2 or not values[0] < values[1]:
            msg = f"--{name}: expected MIN,MAX with MIN < MAX, got {values}"
            raise CLIError(msg)
        lo, hi = values
    return np.linspace(lo, hi, grid)


def _ascii_map(pd: Any, rows: int = 9, cols: int = 25) -> list[str]:
    """A coarse character map of the phases (legend in :func:`run`)."""
    bi = np.unique(np.linspace(0, len(pd.cb) - 1, min(rows, len(pd.cb))).round().astype(int))[::-1]
    wi = np.unique(np.linspace(0, len(pd.cw) - 1, min(cols, len(pd.cw))).round().astype(int))
    lines = []
    for i in bi:
        chars = []
        for j in wi:
            if pd.escape_depth[i, j] >= 0:
                chars.append("v" if pd.escape_direction[i, j] < 0 else "^")
            elif abs(pd.chi_perp[i, j] - 1) <= 0.05:
                chars.append("*")
            else:
                chars.append("o" if pd.chi_perp[i, j] < 1 else "x")
        lines.append(f"C_b={pd.cb[i]:6.3f} | {''.join(chars)}")
    lines.append(f"{'':10} +-{'-' * len(wi)}")
    lines.append(f"{'':12}C_W from {pd.cw[wi[0]]:.3g} to {pd.cw[wi[-1]]:.3g}")
    return lines


def run(args: argparse.Namespace) -> int:
    from . import activations
    from ._criticality import NoCriticalPointError, criticality, depth_scaling, phase_diagram

    try:
        act = activations.get(args.activation)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from exc
    for name, val, low in (("depth", args.depth, 1), ("grid", args.grid, 2)):
        if val < low:
            msg = f"--{name} must be >= {low}, got {val}"
            raise CLIError(msg)
    if args.width is not None and args.width < 1:
        msg = f"--width must be a positive integer, got {args.width}"
        raise CLIError(msg)
    if args.width is not None and not args.depth_scaling:
        msg = "--width only applies with --depth-scaling"
        raise CLIError(msg)

    message = None
    try:
        crit = criticality(act)
    except NoCriticalPointError as exc:
        crit, message = None, str(exc)
    cw_default = (0.1, 2.5 * crit.cw) if crit is not None else (0.1, 4.0)
    cbs = _range("cb", args.cb, (0.0, 1.0), args.grid)
    cws = _range("cw", args.cw, cw_default, args.grid)
    if cbs[0] < 0 or cws[0] <= 0:
        msg = "--cb must be >= 0 and --cw > 0"
        raise CLIError(msg)
    k0 = 1.0 if args.k0 is None else args.k0
    if k0 <= 0 or args.band <= 1:
        msg = "--k0 must be > 0 and --band > 1"
        raise CLIError(msg)
    pd = phase_diagram(act, cbs, cws, depth=args.depth, K0=k0, band=args.band)
    ds = depth_scaling(act, args.depth, K1=args.k0) if args.depth_scaling and crit is not None else None
    if args.depth_scaling and crit is None:
        message = (message or "") + " (no depth scaling without a critical point)"

    if args.plot:
        _save_plot(args.plot, pd, act, args, with_depth=ds is not None)

    if args.json:
        payload: dict[str, Any] = {
            "activation": act.name,
            "critical": None if crit is None else crit.to_dict(),
            "message": message,
            "phase_diagram": pd.to_dict(),
        }
        if ds is not None:
            payload["depth_scaling"] = ds.to_dict()
        if args.plot:
            payload["plot"] = args.plot
        emit_json(payload)
        return 0

    from rich.table import Table

    con = console()
    if crit is None:
        con.print(f"[bold]{act.name}[/bold]: {message}")
    else:
        t = Table(title=f"critical initialisation of {act.name}", header_style="bold")
        for col in ("C_b", "C_W", "K*", "chi_par", "chi_perp"):
            t.add_column(col, justify="right")
        kstar = "any (line)" if crit.fixed_point is None else f"{crit.fixed_point:.8g}"
        t.add_row(f"{crit.cb:.8g}", f"{crit.cw:.8g}", kstar, f"{crit.chi_parallel:.6g}", f"{crit.chi_perp:.6g}")
        con.print(t)
        if crit.universality_class == "K*=0":
            law = f"a1 = {crit.a1:.4g}: K ~ 1/(-a1 l), V/K^2 ~ (2/3) l"
        elif crit.universality_class == "scale-invariant":
            law = f"V/K^2 = {crit.kappa:.6g} (l-1) at any K"
        else:
            law = f"numerical fixed point; V/K^2 = {crit.kappa:.6g} (l-1) from K(1) = K*"
        con.print(f"universality class: {crit.universality_class}; {law}", highlight=False)
    con.print(f"phase diagram ({len(cbs)}x{len(cws)} grid, depth {args.depth}, K(1) = {k0:g}): K stays in "
              f"[K0/{args.band:g}, {args.band:g} K0] with chi_perp < 0.95 'o' (ordered), > 1.05 'x' "
              "(chaotic), within 5% of 1 '*'; K leaves the band downwards 'v', upwards '^'.")
    for line in _ascii_map(pd):
        con.print(line, highlight=False)
    if ds is not None:
        n = args.width or 1
        lab = "V/K^2" if args.width is None else "V/(nK^2)"
        title = f"depth scaling of {act.name} at criticality" + ("" if args.width is None else f", n={n}")
        t = Table(title=title, header_style="bold")
        for col in ("layer", "K", "K law", lab, "law"):
            t.add_column(col, justify="right")
        for layer in _TABLE_LAYERS:
            if layer > args.depth:
                break
            i = layer - 1
            kl = "—" if ds.kernel_law is None else f"{ds.kernel_law[i]:.6g}"
            vl = "—" if ds.v_over_k2_law is None else f"{ds.v_over_k2_law[i] / n:.6g}"
            t.add_row(str(layer), f"{ds.kernel[i]:.6g}", kl, f"{ds.v_over_k2[i] / n:.6g}", vl)
        con.print(t)
    if args.plot:
        con.print(f"figure saved to {args.plot}")
    return 0


def _save_plot(path: str, pd: Any, act: Any, args: argparse.Namespace, *, with_depth: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._criticality import plot_depth_scaling

    ncols = 3 if with_depth else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4.5), squeeze=False)
    pd.plot(axes[0, 0])
    if with_depth:
        plot_depth_scaling(act, args.depth, [axes[0, 1], axes[0, 2]], width=args.width, K1=args.k0)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as exc:
        msg = f"--plot: could not save {path!r}: {exc}"
        raise CLIError(msg) from exc
    finally:
        plt.close(fig)
