"""Timings of the exact deep-linear theory (not a test).

Measures, in one run, the cost of the exact and leading-order six-point vertex
tensors (N_D = 4 inputs, L = 100 layers: the foundation issue asks for "well
under a second"), and of single high-order moments. Each timing is the best of
``--repeat`` runs on a fresh theory object (cold caches).

    python benchmarks/theory.py [--json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import deepeft


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((4, 8))
    net = deepeft.Network([8] + [16] * 100, cw=1.0, cb=0.05)
    rows = []

    def case(label, fn):
        rows.append({"case": label, "seconds": best_of(fn, args.repeat)})

    case("6-pt vertex U, exact, N_D=4, L=100", lambda: deepeft.theory(net, x4).six_point_vertex(100))
    case("6-pt vertex U, leading, N_D=4, L=100",
         lambda: deepeft.theory(net, x4).six_point_vertex(100, order="leading"))
    case("4-pt vertex V, exact, N_D=4, L=100", lambda: deepeft.theory(net, x4).vertex(100))
    net20 = deepeft.Network([8] + [16] * 20, cb=0.05)
    case("moment M=8, 4 distinct inputs, L=20",
         lambda: deepeft.theory(net20, x4).moment(20, [0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 2, 3, 0, 1, 2, 3]))
    case("moment M=10, 1 input, L=20", lambda: deepeft.theory(net20, x4).moment(20, [0] * 10, [0] * 10))
    case("cumulant M=6, 3 distinct inputs, L=20",
         lambda: deepeft.theory(net20, x4).cumulant(20, [0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 2, 0]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'case':<44} {'time':>10}")
    for r in rows:
        print(f"{r['case']:<44} {r['seconds'] * 1e3:>8.1f} ms")


if __name__ == "__main__":
    main()
