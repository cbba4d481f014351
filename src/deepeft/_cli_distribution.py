"""``deepeft distribution``: the exact finite-width output law, against Monte Carlo and 1/n.

Prints the exact moments, cumulants, quantiles, tail probabilities and the point
mass at zero (ReLU) with their Gaussian (infinite-width) counterparts, and writes a
figure: exact density, a Monte Carlo histogram of networks drawn with full weight
matrices, the Gaussian law and the 1/n (Edgeworth) approximation, on linear and
logarithmic scales.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._cli_common import CLIError, add_network_options, console, emit_json, inputs_from_args, network_from_args

KINDS = ("coordinate", "norm_squared", "log_norm_squared", "log_coordinate_squared")
#: Above this many weight draws (networks × Σ n_l n_{l−1}), "--mc auto" uses the exact sampler.
_MAX_MATRIX_DRAWS = 3e8


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "distribution",
        help="exact output law (Meijer-G, ReLU mixture, orthogonal) vs Monte Carlo, Gaussian and 1/n",
        description="Exact finite-width law of one output coordinate (or of |z|^2, log|z|^2, log z_i^2) "
        "for one input: Meijer-G for deep linear Gaussian nets, a binomial mixture with an atom at 0 "
        "for ReLU, a Beta law for Haar-orthogonal square linear nets. Prints moments, quantiles and "
        "tails against the Gaussian (infinite-width) law and plots density vs a Monte Carlo histogram.",
    )
    add_network_options(p)
    p.add_argument("--kind", default="coordinate", choices=KINDS,
                   help="statistic: one output coordinate (default), |z|^2, log|z|^2 or log z_i^2")
    p.add_argument("--samples", type=int, default=20_000,
                   help="Monte Carlo networks for the histogram (default 20000; 0 = none)")
    p.add_argument("--mc", choices=("auto", "network", "law"), default="auto",
                   help="Monte Carlo source: full weight matrices ('network'), the exact sampler of the law "
                   "('law'), or 'auto' (matrices unless too costly; default)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--plot", type=Path, default=Path("distribution.png"), metavar="FILE.png",
                   help="figure to write (default distribution.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the figure")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- Monte Carlo
def simulate(net: Any, x: np.ndarray, samples: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Draw ``samples`` networks with full weight matrices; return the statistic ``kind`` for input x."""
    out = []
    per_net = sum(a * b for a, b in zip(net.widths[1:], net.widths[:-1], strict=True))
    chunk = max(1, int(2e6 // max(per_net, 1)))
    done = 0
    while done < samples:
        b = min(chunk, samples - done)
        z = np.broadcast_to(x, (b, net.n0)).astype(float)
        for layer in range(1, net.depth + 1):
            n_in, n_out = net.widths[layer - 1], net.widths[layer]
            h = z if layer == 1 else net.activation(z)
            cw = net.cw[layer - 1]
            if net.init == "orthogonal":
                g = rng.standard_normal((b, n_out, n_in))
                q, r = np.linalg.qr(g)
                q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
                z = math.sqrt(cw) * np.einsum("bij,bj->bi", q, h)
            else:
                w = rng.standard_normal((b, n_out, n_in)) * math.sqrt(cw / n_in)
                z = np.einsum("bij,bj->bi", w, h)
            if net.cb[layer - 1] > 0:
                z = z + rng.standard_normal((b, n_out)) * math.sqrt(net.cb[layer - 1])
        if kind == "coordinate":
            out.append(z[:, 0])
        else:
            sq = z[:, 0] ** 2 if kind == "log_coordinate_squared" else np.sum(z * z, axis=1)
            if kind == "norm_squared":
                out.append(sq)
            else:
                with np.errstate(divide="ignore"):
                    out.append(np.log(sq))
        done += b
    return np.concatenate(out)


# --------------------------------------------------------------------------- summary
def summarize(dist: Any) -> dict[str, Any]:
    """Exact numbers and their Gaussian (infinite-width) counterparts."""
    info = dist.describe(quantiles=(1e-6, 1e-3, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999, 1 - 1e-6))
    gauss = dist.gaussian_approximation()
    info["gaussian_quantiles"] = {k: float(gauss.ppf(float(k))) for k in info["quantiles"]}
    sd = info["std"]
    mu = info["mean"]
    tails = {}
    for k in (2, 3, 5, 10):
        exact = float(dist.sf(mu + k * sd))
        tails[f"P(X > mean + {k} sd)"] = {"exact": exact, "gaussian": float(gauss.sf(mu + k * sd))}
    info["tails"] = tails
    if dist.kind == "coordinate":
        m2 = float(dist.moment(2))
        info["G4_over_G2sq"] = float(dist.moment(4)) / 3.0 / m2**2
    return info


def _mc_summary(dist: Any, sample: np.ndarray) -> dict[str, Any]:
    """Sample moments, fraction of exact zeros, and the Kolmogorov distance to the exact law."""
    finite = sample[np.isfinite(sample)]
    out: dict[str, Any] = {"samples": int(sample.size), "mean": float(np.mean(finite)),
                           "variance": float(np.var(finite, ddof=1))}
    if dist.kind in ("coordinate", "norm_squared"):
        out["fraction_zero"] = float(np.mean(sample == 0))
    elif getattr(dist, "p_zero", 0.0) > 0:
        out["fraction_zero"] = float(np.mean(~np.isfinite(sample)))
    # Kolmogorov distance sup |F_n − F|, with left limits at ties and at the atom (the log
    # kinds of a ReLU net are conditional on a nonzero output: their -inf samples are dropped)
    values, counts = np.unique(finite, return_counts=True)
    n = finite.size
    emp = np.cumsum(counts) / n
    emp_left = emp - counts / n
    cdf = np.asarray(dist.cdf(values), dtype=float)
    cdf_left = cdf - np.where(values == 0, dist.atom, 0.0)
    out["ks_distance"] = float(max(np.max(np.abs(emp - cdf)), np.max(np.abs(emp_left - cdf_left))))
    out["ks_distance_1_over_sqrt_n"] = float(1.0 / math.sqrt(n))
    return out


# --------------------------------------------------------------------------- figure
def plot(dist: Any, sample: np.ndarray | None, path: Path, mc_label: str) -> None:
    """Exact density vs histogram vs Gaussian vs 1/n Edgeworth, linear and log scales."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gauss = dist.gaussian_approximation()
    a, b = dist.support()
    lo_lin, hi_lin = (float(v) for v in dist.ppf([0.003, 0.997]))
    lo_log, hi_log = (float(v) for v in dist.ppf([1e-6, 1 - 1e-6]))
    if dist.kind == "coordinate":
        m = max(abs(lo_log), abs(hi_log))
        lo_log, hi_log = -m, m
        m = max(abs(lo_lin), abs(hi_lin))
        lo_lin, hi_lin = -m, m
    if dist.kind == "norm_squared":
        lo_lin = lo_log = 0.0
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, (lo, hi), logy in ((axes[0], (lo_lin, hi_lin), False), (axes[1], (lo_log, hi_log), True)):
        grid = np.linspace(lo, hi, 801)
        grid = grid[(grid >= a) & (grid <= b)]
        if dist.kind == "coordinate":
            grid = grid[grid != 0]
        exact = dist.pdf(grid)
        if sample is not None:
            bins = np.linspace(lo, hi, 81 if not logy else 61)
            data = sample[np.isfinite(sample) & (sample != 0)] if dist.atom > 0 else sample[np.isfinite(sample)]
            counts, edges = np.histogram(data, bins=bins)
            dens = counts / (sample.size * np.diff(edges))
            centers = 0.5 * (edges[1:] + edges[:-1])
            err = np.sqrt(counts) / (sample.size * np.diff(edges))
            ok = counts > 0
            ax.stairs(dens, edges, fill=not logy, color="0.6" if logy else "0.82", zorder=0,
                      label=f"Monte Carlo ({mc_label}, {sample.size} nets)")
            ax.errorbar(centers[ok], dens[ok], yerr=err[ok], fmt="none", ecolor="0.45", lw=0.8, zorder=1)
        ax.plot(grid, exact, color="C0", lw=2.0, label="exact", zorder=3)
        ax.plot(grid, gauss.pdf(grid), "--", color="C3", lw=1.4, label="Gaussian (infinite width)", zorder=2)
        edge = dist.edgeworth_pdf(grid)
        if logy:
            edge = np.where(edge > 0, edge, np.nan)
        ax.plot(grid, edge, ":", color="C2", lw=1.8, label="1/n (Edgeworth, exact κ₄)", zorder=2)
        if logy:
            ax.set_yscale("log")
            finite = exact[np.isfinite(exact) & (exact > 0)]
            if finite.size:
                ax.set_ylim(max(np.min(finite) * 0.3, 1e-300), np.max(finite) * 3)
        else:
            finite = exact[np.isfinite(exact)]
            top = np.percentile(finite, 99.5) if finite.size else 1.0
            low = max(float(np.nanmin(dist.edgeworth_pdf(grid))), -0.25 * top)
            ax.set_ylim(min(0.0, low) * 1.05, top * 1.25)
        ax.set_xlabel({"coordinate": "z_i^(L)", "norm_squared": "|z^(L)|²",
                       "log_norm_squared": "log |z^(L)|²", "log_coordinate_squared": "log z_i²"}[dist.kind])
        ax.set_ylabel("density")
        ax.grid(alpha=0.3)
    widths = dist.network.widths
    hidden = widths[1:-1]
    ratio = f", L/n = {dist.network.depth / min(hidden):.3g}" if hidden else ""
    atom = f", atom at 0: {dist.atom:.3g}" if dist.atom > 0 else ""
    fig.suptitle(f"{dist.network!r}\n{dist.kind} ({dist.family}){ratio}{atom}", fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title("linear scale", fontsize=9)
    axes[1].set_title("log scale (tails)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    import deepeft

    net = network_from_args(args)
    x = inputs_from_args(args, net)
    if x.shape[0] != 1:
        msg = f"--inputs: the exact law needs a single input, got {x.shape[0]} rows"
        raise CLIError(msg)
    if args.samples < 0:
        msg = f"--samples must be >= 0, got {args.samples}"
        raise CLIError(msg)
    if not args.no_plot and args.plot.suffix.lower() != ".png":
        msg = f"--plot: expected a .png file name, got {str(args.plot)!r}"
        raise CLIError(msg)
    try:
        dist = deepeft.output_distribution(net, x[0], kind=args.kind)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    t0 = time.perf_counter()
    info = summarize(dist)
    info["seconds_exact"] = time.perf_counter() - t0

    sample = None
    mc_label = ""
    if args.samples > 0:
        rng = np.random.default_rng(args.seed)
        per_net = sum(a * b for a, b in zip(net.widths[1:], net.widths[:-1], strict=True))
        source = args.mc
        if source == "auto":
            source = "network" if args.samples * per_net <= _MAX_MATRIX_DRAWS else "law"
        t0 = time.perf_counter()
        if source == "network":
            sample = simulate(net, x[0], args.samples, rng, args.kind)
            mc_label = "weight matrices"
        else:
            sample = np.asarray(dist.rvs(size=args.samples, random_state=rng))
            mc_label = "exact sampler"
        info["monte_carlo"] = {"source": source, "seed": args.seed, **_mc_summary(dist, sample),
                               "seconds": time.perf_counter() - t0}
    if not args.no_plot:
        plot(dist, sample, args.plot, mc_label)
        info["plot"] = str(args.plot)

    if args.json:
        emit_json(info)
        return 0
    _print_tables(dist, info)
    return 0


def _fmt(v: float) -> str:
    return f"{v:.6g}" if np.isfinite(v) else str(v)


def _print_tables(dist: Any, info: dict[str, Any]) -> None:
    from rich.table import Table

    con = console()
    t = Table(title=f"{dist.network!r}\nexact law of {dist.kind} ({dist.family})", header_style="bold")
    t.add_column("quantity")
    t.add_column("exact", justify="right")
    t.add_column("Gaussian (n → ∞)", justify="right")
    t.add_row("mean", _fmt(info["mean"]), _fmt(info["mean"]))
    t.add_row("variance", _fmt(info["variance"]), _fmt(info["variance"]))
    t.add_row("skewness", _fmt(info["skewness"]), "0")
    t.add_row("excess kurtosis κ₄/σ⁴", _fmt(info["excess_kurtosis"]), "0")
    if "G4_over_G2sq" in info:
        t.add_row("G₄/G₂²", _fmt(info["G4_over_G2sq"]), "1")
    t.add_row("atom P(X = 0)", _fmt(info["atom"]), "0")
    for k, v in info["quantiles"].items():
        t.add_row(f"quantile {k}", _fmt(v), _fmt(info["gaussian_quantiles"][k]))
    for k, v in info["tails"].items():
        t.add_row(k, _fmt(v["exact"]), _fmt(v["gaussian"]))
    con.print(t)
    mc = info.get("monte_carlo")
    if mc:
        m = Table(title=f"Monte Carlo ({mc['source']}, seed {mc['seed']}, {mc['samples']} networks)",
                  header_style="bold")
        m.add_column("quantity")
        m.add_column("Monte Carlo", justify="right")
        m.add_column("exact", justify="right")
        m.add_row("mean", _fmt(mc["mean"]), _fmt(info["mean"]))
        m.add_row("variance", _fmt(mc["variance"]), _fmt(info["variance"]))
        if "fraction_zero" in mc:
            m.add_row("fraction of zeros", _fmt(mc["fraction_zero"]), _fmt(getattr(dist, "p_zero", dist.atom)))
        m.add_row("Kolmogorov distance", _fmt(mc["ks_distance"]), f"~{mc['ks_distance_1_over_sqrt_n']:.2g} (1/√n)")
        con.print(m)
    if "plot" in info:
        con.print(f"figure: {info['plot']}")
