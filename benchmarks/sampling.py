"""Benchmark of deepeft's samplers: cost to resolve the last-layer connected 4-pt to 1 %.

For each configuration every applicable method runs in this one process, side by
side, and we report

* networks/s (last layer only, order 4) and the time per network t;
* σ, the per-network standard deviation of the estimator of the connected 4-pt
  function κ[z_i z_i z_j z_j] (inputs all 0) at the last layer, from the jackknife
  standard error: σ = s.e. · √N;
* the networks needed for a 1 % relative standard error, N₁ = (σ / 0.01 |κ|)², and the
  cost N₁ · t: this includes any variance reduction (Rao–Blackwellisation);
* for configuration (a) (linear, one input) also N₁ from the **exact** variance of the
  estimator (``exact_networks_for_1pct``), which the theory gives through the exact moments
  E[Ĝ^k], k ≤ 4 (:func:`deepeft.single_input.kernel_power_moment`). The measured σ is noisy
  and, for heavy tails, biased low; the cost column uses the exact N₁ where there is one;
* the speed-up over dense (ratio of costs);
* normal draws per network and the fraction of the machine's normal-draw rate the
  method reaches (networks/s × draws per network / normal draws per second).

Run from the repository root::

    python benchmarks/sampling.py            # table
    python benchmarks/sampling.py --json     # machine-readable
    python benchmarks/sampling.py --quick    # 4x shorter runs (noisier σ)

Each fast method runs for about ``--seconds`` (default 10 s), dense for about
``--dense-seconds`` (default 30 s); σ of dense comes from a few hundred networks,
so its cost (and every "× dense" ratio) is uncertain by roughly ±25 %.

This is a measurement, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

import deepeft
from deepeft.sampling import METHODS
from deepeft.single_input import kernel_power_moment


@dataclass
class Row:
    config: str
    method: str
    networks: int
    seconds: float
    networks_per_s: float
    kappa4: float
    kappa4_stderr: float
    sigma: float
    networks_for_1pct: float
    exact_networks_for_1pct: float | None
    cost_1pct_s: float
    speedup_vs_dense: float
    normal_draws_per_network: float
    fraction_of_normal_rate: float | None


def normal_rate(seconds: float = 1.0) -> float:
    """Standard normal draws per second on one core (numpy's default Generator, float64)."""
    rng = np.random.default_rng(0)
    size = 2**22
    rng.standard_normal(size)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rng.standard_normal(size)
        done += size
    return done / (time.perf_counter() - start)


def normal_draws(method: str, net: deepeft.Network, n_inputs: int) -> float:
    """Normal draws per network to reach the last layer's statistics."""
    widths, depth = net.widths, net.depth
    if method == "dense":
        weights = sum(widths[l - 1] * widths[l] for l in range(1, depth + 1))
        biases = sum(widths[l] for l in range(1, depth + 1) if net.cb[l - 1] > 0)
        return float(weights + biases)
    if method == "conditional":
        # The last layer is never drawn: its statistics are read from Ĝ^(L).
        return float(sum(widths[l] * n_inputs for l in range(1, depth)))
    if method == "radial":
        if net.activation.is_linear:
            return float(depth - 1)  # one χ² (gamma) draw per layer
        return float(3 * (depth - 1))  # one binomial and two gammas per layer
    return float("nan")


def exact_networks_for_1pct(net: deepeft.Network, method: str) -> float | None:
    """N₁ from the exact variance of the κ₄ estimator (linear network, one input of ones, no biases).

    κ̂ = mean(f₂₂) − mean(f₂)², so by the delta method its per-network variance is
    Var(h), h = f₂₂ − 2 G f₂ with G = E[Ĝ]. Rao–Blackwellised methods (conditional, radial)
    hand over f₂ = Ĝ, f₂₂ = Ĝ². Dense hands over the U-statistics f₂ = Ĝ ū and f₂₂ = Ĝ² U of
    u_i = z_i²/Ĝ ~ χ²₁ i.i.d. given Ĝ, with E[ū²] = 1 + 2/n, E[U ū] = (n + 4)/n and
    E[U²] = ((n−2)(n−3) + 12(n−2) + 18) / (n(n−1)) (by index coincidences; E u² = 3).
    """
    if not net.activation.is_linear or net.has_biases or net.n0 != 1:
        return None
    layer, n = net.depth, net.widths[-1]
    m = [kernel_power_moment(net, 1.0, layer, k) for k in range(5)]  # E[Ĝ^k], G^(0) = 1
    g = m[1]
    kappa = m[2] - g**2
    if method == "dense":
        e_u2 = ((n - 2) * (n - 3) + 12 * (n - 2) + 18) / (n * (n - 1))
        e_uu, e_ubar2 = (n + 4) / n, 1 + 2 / n
    else:
        e_u2 = e_uu = e_ubar2 = 1.0
    e_h2 = m[4] * e_u2 - 4 * g * m[3] * e_uu + 4 * g**2 * m[2] * e_ubar2
    var_h = e_h2 - (m[2] - 2 * g * m[1]) ** 2
    return var_h / (0.01 * kappa) ** 2


def measure(net, x, method, networks, seed, label):
    est = deepeft.sample(net, x, networks=networks, seed=seed, method=method, order=4, layers=[net.depth])
    kappa = est.cumulant(net.depth, (0, 0, 1, 1), (0, 0, 0, 0))
    sigma = kappa.stderr * math.sqrt(networks)
    needed = (sigma / (0.01 * abs(kappa.mean))) ** 2
    per_net = est.elapsed / networks
    return est, kappa, sigma, needed, per_net


def run(quick: bool, seconds: float, dense_seconds: float) -> dict:
    rate = normal_rate()
    depth, width = 50, 256
    rng = np.random.default_rng(2024)
    x4 = rng.standard_normal((4, 4))
    x4 *= np.sqrt(4 / np.sum(x4**2, axis=1, keepdims=True))  # G^(0)_{αα} = 1
    configs = [
        ("(a) linear, N_D=1", deepeft.Network.uniform(1, width, depth), None),
        ("(b) tanh, N_D=1", deepeft.Network.uniform(1, width, depth, "tanh"), None),
        ("(c) tanh, N_D=4", deepeft.Network.uniform(4, width, depth, "tanh"), x4),
    ]
    rows: list[Row] = []
    for label, net, x in configs:
        xarr = net.check_inputs(np.ones(net.n0) if x is None else x)
        n_inputs = xarr.shape[0]
        methods = [m for m in ("dense", "conditional", "radial") if METHODS[m].unsupported(net, xarr) is None]
        dense_cost = None
        for method in methods:
            # A short pilot run sets the run size so that each method takes about `seconds`.
            pilot = deepeft.sample(
                net,
                x,
                networks=METHODS[method].block_size(net, n_inputs),
                seed=1,
                method=method,
                order=4,
                layers=[depth],
            )
            per_net = pilot.elapsed / pilot.networks
            budget = (dense_seconds if method == "dense" else seconds) / (4 if quick else 1)
            networks = max(64 if method == "dense" else 4096, int(budget / per_net))
            est, kappa, sigma, needed, per_net = measure(net, x, method, networks, 0, label)
            exact = exact_networks_for_1pct(net, method) if x is None else None
            cost = (needed if exact is None else exact) * per_net
            if method == "dense":
                dense_cost = cost
            draws = normal_draws(method, net, n_inputs)
            frac = None if method == "radial" else (networks / est.elapsed) * draws / rate
            rows.append(
                Row(
                    config=label,
                    method=method,
                    networks=networks,
                    seconds=est.elapsed,
                    networks_per_s=networks / est.elapsed,
                    kappa4=float(kappa.mean),
                    kappa4_stderr=float(kappa.stderr),
                    sigma=sigma,
                    networks_for_1pct=needed,
                    exact_networks_for_1pct=exact,
                    cost_1pct_s=cost,
                    speedup_vs_dense=(dense_cost / cost) if dense_cost else float("nan"),
                    normal_draws_per_network=draws,
                    fraction_of_normal_rate=frac,
                )
            )
            print(f"  {label:20s} {method:12s} {rows[-1].networks_per_s:12,.1f} networks/s", file=sys.stderr)
    return {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "normal_draws_per_s": rate,
        },
        "deepeft": deepeft.__version__,
        "rows": [asdict(r) for r in rows],
    }


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    table = Table(
        title=(
            "Cost to reach 1 % relative s.e. on the last-layer connected 4-pt κ[z_i z_i z_j z_j], "
            "width n = 256, depth L = 50, C_W = 1, C_b = 0\n"
            f"(normal draws: {m['normal_draws_per_s'] / 1e6:.0f} M/s per core; numpy {m['numpy']}, "
            f"{m['cpus']} CPUs)"
        ),
        header_style="bold",
    )
    for col in (
        "configuration",
        "method",
        "networks/s",
        "κ4 (± s.e.)",
        "N for 1 % (measured σ)",
        "N for 1 % (exact σ)",
        "cost for 1 %",
        "× dense",
        "normal draws/net",
        "of normal-draw limit",
    ):
        table.add_column(col, justify="left" if col in ("configuration", "method") else "right")
    for r in result["rows"]:
        frac = r["fraction_of_normal_rate"]
        table.add_row(
            r["config"],
            r["method"],
            f"{r['networks_per_s']:,.0f}",
            f"{r['kappa4']:.4g} ± {r['kappa4_stderr']:.2g}",
            f"{r['networks_for_1pct']:,.0f}",
            "—" if r["exact_networks_for_1pct"] is None else f"{r['exact_networks_for_1pct']:,.0f}",
            _duration(r["cost_1pct_s"]),
            "1" if r["method"] == "dense" else f"{r['speedup_vs_dense']:,.0f}",
            f"{r['normal_draws_per_network']:,.0f}",
            "—" if frac is None else f"{100 * frac:.0f} %",
        )
    console = Console()
    console.width = max(console.width, 150)
    console.print(table)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="about 4x shorter runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per fast-method run (default 10)")
    parser.add_argument(
        "--dense-seconds",
        type=float,
        default=30.0,
        help="seconds per dense run (default 30); dense needs the most networks to estimate σ",
    )
    args = parser.parse_args(argv)
    result = run(args.quick, args.seconds, args.dense_seconds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
