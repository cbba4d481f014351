"""Benchmark: exact output density of deep linear nets, deepeft vs ``mpmath.meijerg``.

For each architecture the script evaluates the density of one output coordinate
at points spread over the whole law (|z| from ~1e-6 σ to the 1e-9 tail), and
reports

* mpmath: seconds per point of ``mpmath.meijerg`` (the Meijer-G formula of
  THEORY.md §2.1 at ``mp.dps`` digits), or why it was not run / failed;
* deepeft, three ways: *direct* (the Mellin–Barnes contour integral for each
  point, no cache), *batch cold* (one call on N points, building the Chebyshev
  table on the fly) and *batch warm* (the same call again, table cached);
* the largest relative error of deepeft (direct and batch) against mpmath;
* the speed-up of each deepeft mode over mpmath.

Run ``python benchmarks/density.py`` (add ``--json`` for machine-readable output,
``--quick`` for a shorter run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import mpmath as mp
import numpy as np

import deepeft
from deepeft import Network

CONFIGS: list[tuple[str, list[int]]] = [
    ("L=2, n=10", [1, 10, 10]),
    ("L=5, n=10", [1, 10, 10, 10, 10, 10]),
    ("L=5, n=3,7,5,9", [1, 3, 7, 5, 9, 4]),
    ("L=10, n=10", [1] + [10] * 10),
    ("L=20, n=10", [1] + [10] * 20),
    ("L=100, n=10", [1] + [10] * 100),
    ("L=10^5, n=10 (law of log z²)", [1] + [10] * 100_000),
]
#: Beyond this depth z itself under/overflows float64 over most of its law (E log z² ≈ −0.1 L
#: at n = 10), so the benchmark evaluates the density of log z² instead.
LOG_DEPTH = 1000


def mp_density(widths: list[int], z: float) -> Any:
    """Meijer-G density of one output coordinate (THEORY.md §2.1), C_W = 1, G^(0) = 1."""
    hidden = widths[1:-1]
    depth = len(widths) - 1
    c = mp.mpf(2) ** depth / mp.fprod([mp.mpf(n) for n in hidden])
    b = [mp.mpf(n - 1) / 2 for n in hidden] + [mp.mpf(0)]
    pre = 1 / (mp.sqrt(mp.pi) * mp.sqrt(c) * mp.fprod([mp.gamma(mp.mpf(n) / 2) for n in hidden]))
    return pre * mp.meijerg([[], []], [b, []], mp.mpf(z) ** 2 / c)


def points(dist: Any, count: int) -> np.ndarray:
    """|z| spread log-uniformly from 1e-6 σ to the 1 - 1e-9 quantile, both signs."""
    if dist.kind != "coordinate":  # the law of log z²: quantiles 1e-12 .. 1 - 1e-12
        return np.asarray(dist.ppf(np.linspace(1e-12, 1 - 1e-12, count)))
    hi = float(dist.ppf(1 - 1e-9))
    mags = np.geomspace(1e-6 * dist.std(), hi, count)
    return np.where(np.arange(count) % 2 == 0, mags, -mags)


def run_config(label: str, widths: list[int], args: argparse.Namespace) -> dict[str, Any]:
    net = Network(widths)
    depth = net.depth
    row: dict[str, Any] = {"config": label, "depth": depth, "widths": widths[:6] + (["..."] if len(widths) > 6 else [])}
    kind = "coordinate" if depth <= LOG_DEPTH else "log_coordinate_squared"
    row["kind"] = kind
    dist = deepeft.output_distribution(net, kind=kind)
    zs = points(dist, args.points)

    # deepeft direct: each point on its own (no table)
    fresh = deepeft.output_distribution(net, kind=kind)
    fresh.pdf(zs[:2])  # warm-up (imports, first allocations)
    t0 = time.perf_counter()
    direct = np.array([float(fresh.pdf(z)) for z in zs])
    row["deepeft_direct_s_per_point"] = (time.perf_counter() - t0) / zs.size

    # deepeft batch: N points spread over the same range; cold (table built) then warm
    batch = deepeft.output_distribution(net, kind=kind)
    rng = np.random.default_rng(0)
    if kind == "coordinate":  # jitter the points multiplicatively
        extra = rng.choice(zs, args.batch - zs.size) * np.exp(rng.uniform(-0.5, 0.5, args.batch - zs.size))
    else:
        extra = rng.uniform(zs.min(), zs.max(), args.batch - zs.size)
    zb = np.concatenate([zs, extra])
    t0 = time.perf_counter()
    vals_b = batch.pdf(zb)
    row["deepeft_batch_cold_s_per_point"] = (time.perf_counter() - t0) / zb.size
    t0 = time.perf_counter()
    vals_b = batch.pdf(zb)
    row["deepeft_batch_warm_s_per_point"] = (time.perf_counter() - t0) / zb.size
    row["batch_size"] = int(zb.size)
    batch_at_points = vals_b[: zs.size]

    # mpmath reference
    mp.mp.dps = args.dps
    if depth > args.mp_max_depth:
        row["mpmath"] = f"not run (L > {args.mp_max_depth}: seconds per point and growing)"
        return row
    refs = []
    t0 = time.perf_counter()
    spent = 0.0
    for z in zs:
        t1 = time.perf_counter()
        try:
            refs.append(mp_density(widths, float(z)))
        except Exception as exc:
            row["mpmath"] = f"failed: {type(exc).__name__}: {str(exc)[:60]}"
            return row
        spent = time.perf_counter() - t0
        if time.perf_counter() - t1 > args.mp_timeout or spent > args.mp_budget:
            break
    n_ref = len(refs)
    row["mpmath_s_per_point"] = spent / n_ref
    row["mpmath_points"] = n_ref
    ref = np.array([float(r) for r in refs])
    ok = ref > 0
    err_direct = np.abs(direct[:n_ref][ok] / ref[ok] - 1)
    err_batch = np.abs(batch_at_points[:n_ref][ok] / ref[ok] - 1)
    row["max_rel_err_direct"] = float(np.max(err_direct))
    row["max_rel_err_batch"] = float(np.max(err_batch))
    for mode in ("direct", "batch_cold", "batch_warm"):
        row[f"speedup_{mode}"] = row["mpmath_s_per_point"] / row[f"deepeft_{mode}_s_per_point"]
    return row


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    p.add_argument("--quick", action="store_true", help="fewer points, skip L = 20 for mpmath")
    p.add_argument("--points", type=int, default=24, help="points per architecture for mpmath and direct")
    p.add_argument("--batch", type=int, default=100_000, help="batch size for the batch timings")
    p.add_argument("--dps", type=int, default=30, help="mpmath working precision (digits)")
    p.add_argument("--mp-max-depth", type=int, default=20, help="do not run mpmath beyond this depth")
    p.add_argument("--mp-timeout", type=float, default=30.0, help="stop mpmath after a point slower than this")
    p.add_argument("--mp-budget", type=float, default=60.0, help="seconds of mpmath per architecture")
    args = p.parse_args(argv)
    if args.quick:
        args.points, args.batch, args.mp_max_depth, args.mp_budget = 10, 20_000, 10, 20.0
    rows = []
    for label, widths in CONFIGS:
        rows.append(run_config(label, widths, args))
        if not args.json:
            print(f"done: {label}", file=sys.stderr)
    if args.json:
        json.dump({"mp_dps": args.dps, "rows": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.markdown:
        print(f"| architecture | mpmath.meijerg (dps={args.dps}) | deepeft, one point per call | "
              f"deepeft, {rows[0]['batch_size']} points per call (cold / warm) | speed-up (direct / batch cold) "
              "| max rel. error vs mpmath |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            if "mpmath_s_per_point" in r:
                mp_t = fmt_time(r["mpmath_s_per_point"])
                sp = f"{r['speedup_direct']:.3g}× / {r['speedup_batch_cold']:.3g}×"
                err = f"{max(r['max_rel_err_direct'], r['max_rel_err_batch']):.1e}"
            else:
                mp_t, sp, err = "not run (seconds per point, growing with L)", "–", "–"
            print(f"| {r['config']} | {mp_t} | {fmt_time(r['deepeft_direct_s_per_point'])} | "
                  f"{fmt_time(r['deepeft_batch_cold_s_per_point'])} / {fmt_time(r['deepeft_batch_warm_s_per_point'])}"
                  f" | {sp} | {err} |")
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"density of one output coordinate: deepeft vs mpmath.meijerg (mp.dps={args.dps})",
              header_style="bold")
    for col in ("architecture", "mpmath / point", "deepeft direct", "batch cold", "batch warm",
                "speed-up direct", "speed-up batch (cold / warm)", "max rel. error (direct / batch)"):
        t.add_column(col, justify="right")
    for r in rows:
        if "mpmath_s_per_point" in r:
            mp_t = fmt_time(r["mpmath_s_per_point"]) + f" ({r['mpmath_points']} pts)"
            sp_d = f"{r['speedup_direct']:.3g}x"
            sp_b = f"{r['speedup_batch_cold']:.3g}x / {r['speedup_batch_warm']:.3g}x"
            err = f"{r['max_rel_err_direct']:.1e} / {r['max_rel_err_batch']:.1e}"
        else:
            mp_t, sp_d, sp_b, err = r.get("mpmath", "-"), "-", "-", "-"
        t.add_row(r["config"], mp_t, fmt_time(r["deepeft_direct_s_per_point"]),
                  fmt_time(r["deepeft_batch_cold_s_per_point"]), fmt_time(r["deepeft_batch_warm_s_per_point"]),
                  sp_d, sp_b, err)
    Console(width=200).print(t)
    print(f"batch = {rows[0]['batch_size']} points per call; direct = one call per point; "
          "mpmath: one call per point.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
