"""Benchmark of the nonlinear recursions (not a test).

Measures, on this machine, the wall time of

* the kernel K^(l) and the four-point vertex V^(l) through L layers for
  N_D = 4 and N_D = 10 random inputs (targets: 4 inputs through 100 layers in
  seconds, 10 inputs in under a minute);
* the single-input depth scaling through 3000 layers;
* the critical point and a 41x49 phase diagram of each activation.

Every Gaussian expectation cache is cleared before each case, so the times
include the one-off quadrature calibration of the activation.

Run::

    python benchmarks/recursions.py            # everything
    python benchmarks/recursions.py --quick    # 4 inputs only, fewer cases
    python benchmarks/recursions.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time

import numpy as np

import deepeft
from deepeft import criticality, depth_scaling, gaussian, phase_diagram
from deepeft.nonlinear_theory import NonlinearTheory

CASES = [
    # (activation, C_W, C_b, description)
    ("relu", 2.0, 0.0, "critical"),
    ("tanh", 1.0, 0.0, "critical (K*=0)"),
    ("tanh", 1.5, 0.2, "off-critical, K* ~ 0.7"),
    ("erf", np.pi / 4, 0.0, "critical (K*=0)"),
    ("sin", 1.0, 0.0, "critical (K*=0)"),
    ("gelu", 1.983058, 0.172922, "critical (general, K* ~ 3.56)"),
    ("silu", 1.0, 0.1, "generic quadrature"),
    ("silu", 1.988005, 0.555143, "critical (general, K* ~ 14.3)"),
]


def _reset() -> None:
    gaussian._CALIBRATIONS.clear()


def bench_recursion(act: str, cw: float, cb: float, n_inputs: int, depth: int) -> dict[str, object]:
    _reset()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_inputs, 8))
    net = deepeft.Network([8] + [100] * depth, act, cw=cw, cb=cb)
    th = NonlinearTheory(net, x)
    t0 = time.perf_counter()
    th.kernel(depth)
    t1 = time.perf_counter()
    v = th.vertex(depth)
    t2 = time.perf_counter()
    k = th.kernel(depth)
    return {
        "activation": act, "cw": cw, "cb": cb, "n_inputs": n_inputs, "depth": depth,
        "kernel_s": t1 - t0, "vertex_s": t2 - t1, "total_s": t2 - t0,
        "K00": float(k[0, 0]), "V0000_over_K2": float(v[0, 0, 0, 0] / k[0, 0] ** 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 inputs and a subset of activations only")
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    rows = []
    cases = CASES[:3] + CASES[5:6] if args.quick else CASES
    sizes = (4,) if args.quick else (4, 10)
    for n_inputs in sizes:
        for act, cw, cb, desc in cases:
            r = bench_recursion(act, cw, cb, n_inputs, args.depth)
            r["case"] = desc
            rows.append(r)
            if not args.json:
                print(f"N_D={n_inputs:2d} L={args.depth} {act:6s} ({cw:.4g}, {cb:.4g}) {desc:30s} "
                      f"kernel {r['kernel_s']:7.2f} s  vertex {r['vertex_s']:7.2f} s  "
                      f"V/K^2={r['V0000_over_K2']:.6g}", flush=True)
    extra = {}
    _reset()
    t = time.perf_counter()
    ds = depth_scaling("tanh", 3000)
    extra["depth_scaling_tanh_3000_s"] = time.perf_counter() - t
    extra["tanh_V_over_K2_l_at_3000"] = float(ds.v_over_k2[-1] / 3000)
    for act in ("relu", "tanh", "gelu", "silu", "softplus"):
        _reset()
        t = time.perf_counter()
        with contextlib.suppress(ValueError):  # softplus has no critical point
            criticality(act)
        extra[f"criticality_{act}_s"] = time.perf_counter() - t
    for act in ("tanh", "gelu"):
        _reset()
        t = time.perf_counter()
        phase_diagram(act)
        extra[f"phase_diagram_{act}_41x49_depth100_s"] = time.perf_counter() - t
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "deepeft": deepeft.__version__}
    if args.json:
        json.dump({"info": info, "recursions": rows, "other": extra}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for k, v in extra.items():
            print(f"{k:45s} {v:.4g}")
        print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
