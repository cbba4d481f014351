"""Exact theory of deep linear Gaussian networks: references, independent routes, bad input."""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction
from functools import cache

import numpy as np
import pytest

import deepeft
from deepeft import Network, single_input
from deepeft.linear_theory import LinearTheory

RTOL = 1e-10


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=1e-300)


# ---------------------------------------------------------------- helpers
def pairings(points: tuple[int, ...]):
    """Perfect matchings of a tuple of points (written independently of deepeft)."""
    if not points:
        yield ()
        return
    first, rest = points[0], points[1:]
    for i, partner in enumerate(rest):
        for sub in pairings(rest[:i] + rest[i + 1 :]):
            yield ((first, partner), *sub)


def set_partitions_of(items: list):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions_of(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]


def falling(n: int, k: int) -> int:
    return math.prod(n - i for i in range(k))


class WickReference:
    """Exact rational moments E[∏ z^(l)_{i;α}] by Wick's theorem on the weights themselves.

    Independent of the matching/cycle rule: z^(l+1)_i = b_i + Σ_j W_ij z^(l)_j is
    expanded point by point, the b's and W's are paired by Isserlis, and the sum
    over the free neuron labels j is split by set partitions (falling
    factorials). Patterns are tuples of (neuron block, input) points.
    """

    def __init__(self, widths, cw, cb, x):
        self.widths = widths
        self.cw = cw
        self.cb = cb
        n0 = widths[0]
        self.g0 = [[sum(xa[j] * xb[j] for j in range(n0)) / n0 for xb in x] for xa in x]

    @staticmethod
    def canon(points):
        blocks: dict = {}
        for blk, a in points:
            blocks.setdefault(blk, []).append(a)
        return tuple(sorted(tuple(sorted(b)) for b in blocks.values()))

    @cache  # noqa: B019 - instances live for one test
    def moment(self, layer: int, pattern) -> Fraction:
        points = tuple((b, a) for b, block in enumerate(pattern) for a in block)
        if len(points) % 2:
            return Fraction(0)
        idx = tuple(range(len(points)))
        cb, cw = self.cb[layer - 1], self.cw[layer - 1]
        total = Fraction(0)
        if layer == 1:
            for pi in pairings(idx):
                term = Fraction(1)
                for p, q in pi:
                    if points[p][0] != points[q][0]:
                        term = Fraction(0)
                        break
                    term *= cb + cw * self.g0[points[p][1]][points[q][1]]
                total += term
            return total
        n = self.widths[layer - 1]
        for pi in pairings(idx):
            if any(points[p][0] != points[q][0] for p, q in pi):
                continue
            for kinds in itertools.product("bW", repeat=len(pi)):
                w_pairs = [pq for pq, kind in zip(pi, kinds, strict=True) if kind == "W"]
                factor = cb ** (len(pi) - len(w_pairs)) * (cw / n) ** len(w_pairs)
                if factor == 0:
                    continue
                inner = Fraction(0)
                for part in set_partitions_of(list(range(len(w_pairs)))):
                    sub = [
                        (g, points[p][1])
                        for g, block in enumerate(part)
                        for e in block
                        for p in w_pairs[e]
                    ]
                    inner += falling(n, len(part)) * self.moment(layer - 1, self.canon(sub))
                total += factor * inner
        return total

    def __call__(self, layer, neurons, inputs) -> float:
        return float(self.moment(layer, self.canon(list(zip(neurons, inputs, strict=True)))))


def r1_theory() -> LinearTheory:
    return LinearTheory(Network([10] * 6), np.ones(10))


def general_theory(n_inputs: int = 3, seed: int = 7) -> LinearTheory:
    rng = np.random.default_rng(seed)
    net = Network([4, 6, 3, 8, 5, 7], cw=[1.2, 0.8, 1.5, 1.0, 0.9], cb=[0.3, 0.1, 0.0, 0.5, 0.2])
    return LinearTheory(net, rng.normal(size=(n_inputs, 4)))


# ---------------------------------------------------------------- THEORY.md §8 references
def test_r1_single_input_equal_widths():
    th = r1_theory()
    g2 = th.kernel(5)[0, 0]
    assert close(g2, 1.0)
    g4 = th.moment(5, [0, 0, 0, 0], [0, 0, 0, 0]) / 3
    assert close(g4 / g2**2, 1296 / 625)  # R1a
    assert close(th.moment(5, [0, 0, 1, 1], [0, 0, 0, 0]), 1296 / 625)
    assert close(th.cumulant(5, [0, 0, 0, 0], [0, 0, 0, 0]) / 3, 671 / 625)  # R1b
    assert close(th.vertex(5)[0, 0, 0, 0], 10.736)
    assert close(th.vertex(5, order="leading")[0, 0, 0, 0], 8.0)
    # R1c: Var(|z|²/n) = (1 + 2/n) G_4 - G_2² at n = 10.
    var = (
        th.moment(5, [0, 0, 0, 0], [0] * 4) / 10
        + th.moment(5, [0, 0, 1, 1], [0] * 4) * 9 / 10
        - g2**2
    )
    assert close(var, 4651 / 3125)
    # R1d
    assert close(th.moment(5, [0] * 6, [0] * 6) / 15, 3111696 / 390625)
    assert close(th.cumulant(5, [0] * 6, [0] * 6) / 15, 1462946 / 390625)
    assert close(th.six_point_vertex(5)[(0,) * 6], 374.514176)
    assert close(th.six_point_vertex(5, order="leading")[(0,) * 6], 176.0)
    # R1e
    assert close(th.moment(5, [0] * 8, [0] * 8) / 105, 267655643136 / 48828125 / 105)
    assert close(th.moment(5, [3] * 8, [0] * 8), 267655643136 / 48828125)


def test_r2_single_input_with_biases():
    th = LinearTheory(Network([1, 4, 4, 4], cw=1.0, cb=0.5), [1.0])
    assert close(th.kernel(3)[0, 0], 2.5)
    assert close(th.kernel_moments(3, 2)[0, 0, 0, 0], 9.9375)
    assert close(th.kernel_moments(3, 3)[(0,) * 6], 62.46875)
    assert close(th.kernel_product_moment(3, [(0, 0)] * 3), 62.46875)
    assert close(th.moment(3, [1, 1, 1, 1], [0, 0, 0, 0]), 29.8125)
    assert close(th.vertex(3)[0, 0, 0, 0], 14.75)


def test_r7_two_inputs_exact_and_leading_vertex():
    th = LinearTheory(Network([2, 10, 10, 10], cw=1.0, cb=0.1), [[1.0, 0.0], [0.6, 0.8]])
    for order, expected in [
        ("exact", (1.844, 1.344, 0.924, 1.276)),
        ("leading", (1.70, 1.26, 0.82, 1.18)),
    ]:
        v = th.vertex(3, order=order)
        got = (v[0, 0, 0, 0], v[0, 1, 0, 1], v[0, 0, 1, 1], v[0, 0, 0, 1])
        for g, e in zip(got, expected, strict=True):
            assert close(g, e), (order, got)


def test_r10_ntk_linear_single_input():
    th = LinearTheory(Network([1] + [7] * 6), [1.0])
    for layer in range(1, 7):
        assert close(th.ntk(layer)[0, 0], 2 * layer)
    assert close(th.ntk(5)[0, 0], 10.0)


def test_r11_leading_six_point_vertex():
    th = LinearTheory(Network([3] + [20] * 6), np.ones(3))
    got = [th.six_point_vertex(l, order="leading")[(0,) * 6] for l in range(1, 7)]
    np.testing.assert_allclose(got, [0, 8, 40, 96, 176, 280], rtol=RTOL, atol=1e-12)
    m = np.arange(6)
    np.testing.assert_allclose(got, 12 * m**2 - 4 * m, rtol=RTOL, atol=1e-12)


# ---------------------------------------------------------------- independent exact route
def test_rational_wick_reference_reproduces_r2():
    ref = WickReference([1, 4, 4, 4], [Fraction(1)] * 3, [Fraction(1, 2)] * 3, [[Fraction(1)]])
    assert ref.moment(3, ((0, 0),)) == Fraction(5, 2)
    assert ref.moment(3, ((0, 0, 0, 0),)) == Fraction(298125, 10000)


def test_moments_match_rational_wick_reference_with_biases_and_two_inputs():
    widths = [2, 3, 4, 3]
    cw = [Fraction(3, 2), Fraction(4, 5), Fraction(6, 5)]
    cb = [Fraction(1, 5), Fraction(1, 2), Fraction(3, 10)]
    x = [[Fraction(1), Fraction(1, 2)], [Fraction(-1, 2), Fraction(2)]]
    ref = WickReference(widths, cw, cb, x)
    th = LinearTheory(
        Network(widths, cw=[float(c) for c in cw], cb=[float(c) for c in cb]),
        [[1.0, 0.5], [-0.5, 2.0]],
    )
    cases = [
        ([0, 0], [0, 1]),
        ([0, 0, 0, 0], [0, 1, 0, 1]),
        ([0, 0, 1, 1], [0, 0, 1, 1]),
        ([0, 1, 0, 1], [0, 1, 1, 0]),
        ([0, 0, 1, 1], [0, 1, 0, 1]),
        ([0] * 6, [0, 1, 1, 0, 1, 1]),
        ([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 0]),
        ([0, 0, 0, 0, 1, 1], [0, 1, 0, 0, 1, 1]),
        ([0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 1]),
        ([0] * 8, [0, 1, 0, 1, 1, 1, 0, 0]),
        ([0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0, 1, 0]),
    ]
    for layer in (1, 2, 3):
        for neurons, inputs in cases:
            expected = ref(layer, neurons, inputs)
            assert close(th.moment(layer, neurons, inputs), expected), (layer, neurons, inputs)
    # Odd patterns vanish in both.
    assert ref(3, [0, 0, 0, 1], [0, 1, 0, 1]) == 0.0
    assert th.moment(3, [0, 0, 0, 1], [0, 1, 0, 1]) == 0.0


def test_kernel_tensors_match_rational_reference():
    widths = [2, 3, 4, 3]
    cw = [Fraction(3, 2), Fraction(4, 5), Fraction(6, 5)]
    cb = [Fraction(1, 5), Fraction(1, 2), Fraction(3, 10)]
    x = [[Fraction(1), Fraction(1, 2)], [Fraction(-1, 2), Fraction(2)]]
    ref = WickReference(widths, cw, cb, x)
    th = LinearTheory(
        Network(widths, cw=[float(c) for c in cw], cb=[float(c) for c in cb]),
        [[1.0, 0.5], [-0.5, 2.0]],
    )
    h = th.kernel_moments(3, 2)
    t = th.kernel_moments(3, 3)
    for a, b, c, d in itertools.product(range(2), repeat=4):
        # Two distinct neurons i != j: E[z_ia z_ib z_jc z_jd] = H_(ab)(cd).
        assert close(h[a, b, c, d], ref(3, [0, 0, 1, 1], [a, b, c, d]))
    for idx in [(0, 1, 1, 0, 1, 1), (0, 0, 1, 1, 0, 1), (1, 1, 1, 1, 1, 1)]:
        # Three distinct neurons: E[z_i z_i z_j z_j z_k z_k] = T entry.
        assert close(t[idx], ref(3, [0, 0, 1, 1, 2, 2], list(idx)))


# ---------------------------------------------------------------- internal consistency
def test_tensor_engine_matches_pair_engine():
    th = general_theory(n_inputs=3)
    rng = np.random.default_rng(1)
    for layer in (1, 2, 4, 5):
        g = th.kernel(layer)
        h = th.kernel_moments(layer, 2)
        t = th.kernel_moments(layer, 3)
        np.testing.assert_allclose(th.kernel_moments(layer, 1), g, rtol=RTOL)
        for _ in range(15):
            a, b, c, d, e, f = (int(v) for v in rng.integers(0, 3, size=6))
            assert close(h[a, b, c, d], th.kernel_product_moment(layer, [(a, b), (c, d)]))
            assert close(
                t[a, b, c, d, e, f], th.kernel_product_moment(layer, [(a, b), (c, d), (e, f)])
            )
        # Exact vertices from the stable cumulant engine vs moments of the pair engine.
        n_prev = th.network.widths[layer - 1]
        v = th.vertex(layer)
        u = th.six_point_vertex(layer)
        for a, b, c, d, e, f in [(0, 1, 2, 0, 1, 1), (2, 2, 2, 2, 2, 2), (0, 0, 1, 1, 2, 2)]:
            m2 = th.kernel_product_moment(layer, [(a, b), (c, d)])
            assert math.isclose(
                v[a, b, c, d], n_prev * (m2 - g[a, b] * g[c, d]), rel_tol=1e-8, abs_tol=1e-9
            )
            m3 = th.kernel_product_moment(layer, [(a, b), (c, d), (e, f)])
            kappa3 = (
                m3
                - th.kernel_product_moment(layer, [(a, b), (c, d)]) * g[e, f]
                - th.kernel_product_moment(layer, [(a, b), (e, f)]) * g[c, d]
                - th.kernel_product_moment(layer, [(c, d), (e, f)]) * g[a, b]
                + 2 * g[a, b] * g[c, d] * g[e, f]
            )
            assert math.isclose(u[a, b, c, d, e, f], n_prev**2 * kappa3, rel_tol=1e-7, abs_tol=1e-8)


def test_exact_vertex_recursion_of_theory_sheet():
    # THEORY.md §1.2, exact V recursion, coded directly.
    th = general_theory(n_inputs=2)
    net = th.network
    v = np.zeros((2,) * 4)
    for l in range(1, net.depth):
        g = th.kernel(l)
        n, n_prev, cw = net.widths[l], net.widths[l - 1], net.cw[l]
        gg = np.einsum("ac,bd->abcd", g, g) + np.einsum("ad,bc->abcd", g, g)
        v = cw**2 * (
            n / n_prev * v + gg + (np.einsum("acbd->abcd", v) + np.einsum("adbc->abcd", v)) / n_prev
        )
        np.testing.assert_allclose(th.vertex(l + 1), v, rtol=RTOL)
    np.testing.assert_array_equal(th.vertex(1), 0.0)


def test_leading_vertices_follow_theory_sheet_formulas():
    th = general_theory(n_inputs=2)
    net = th.network
    all_pairings = list(pairings(tuple(range(6))))

    def slots_linked(pi):
        parent = {0: 0, 1: 1, 2: 2}
        for p, q in pi:
            a, b = p // 2, q // 2
            ra, rb = parent[a], parent[b]
            for s in parent:
                if parent[s] == ra:
                    parent[s] = rb
        return len(set(parent.values()))

    cyclic = [pi for pi in all_pairings if slots_linked(pi) == 1]
    assert len(cyclic) == 8
    letters = "abcdef"
    v = np.zeros((2,) * 4)
    u = np.zeros((2,) * 6)
    for l in range(1, net.depth):
        g = th.kernel(l)
        n, cw = net.widths[l], net.cw[l]
        rho = 0.0 if l == 1 else n / net.widths[l - 1]
        new_v = cw**2 * (rho * v + np.einsum("ac,bd->abcd", g, g) + np.einsum("ad,bc->abcd", g, g))
        # U: ρ² U + ρ Σ_X Σ_{π linking the other two} Σ_{e∈π} V_{X,e} G_{π∖e} + Σ_8 cyclic ∏ G.
        mid = np.zeros((2,) * 6)
        slots = ["ab", "cd", "ef"]
        for x_slot in range(3):
            p_slot, q_slot = [s for s in range(3) if s != x_slot]
            (p1, p2), (q1, q2) = slots[p_slot], slots[q_slot]
            for pi in [((p1, q1), (p2, q2)), ((p1, q2), (p2, q1))]:
                for e, rest in [(pi[0], pi[1]), (pi[1], pi[0])]:
                    spec = f"{slots[x_slot]}{e[0]}{e[1]},{rest[0]}{rest[1]}->abcdef"
                    mid += np.einsum(spec, v, g)
        cyc = sum(
            np.einsum(",".join(letters[p] + letters[q] for p, q in pi) + "->abcdef", g, g, g)
            for pi in cyclic
        )
        u = cw**3 * (rho**2 * u + rho * mid + cyc)
        v = new_v
        np.testing.assert_allclose(th.vertex(l + 1, order="leading"), v, rtol=RTOL)
        np.testing.assert_allclose(th.six_point_vertex(l + 1, order="leading"), u, rtol=RTOL)


def test_leading_order_gap_shrinks_like_one_over_n():
    gaps = []
    for n in (500, 1000, 2000):
        th = LinearTheory(Network([2] + [n] * 4, cw=1.1, cb=0.2), [[1.0, 0.3], [0.2, -1.0]])
        u, u0 = th.six_point_vertex(4), th.six_point_vertex(4, order="leading")
        v, v0 = th.vertex(4), th.vertex(4, order="leading")
        gaps.append(
            (np.max(np.abs(u - u0)) / np.max(np.abs(u)), np.max(np.abs(v - v0)) / np.max(np.abs(v)))
        )
    for (gu1, gv1), (gu2, gv2) in itertools.pairwise(gaps):
        assert 1.8 < gu1 / gu2 < 2.2
        assert 1.8 < gv1 / gv2 < 2.2


def test_vertices_have_the_slot_symmetries():
    th = general_theory(n_inputs=3)
    v = th.vertex(4)
    u = th.six_point_vertex(4)
    np.testing.assert_allclose(v, v.transpose(1, 0, 2, 3), rtol=1e-13)
    np.testing.assert_allclose(v, v.transpose(2, 3, 0, 1), rtol=1e-13)
    for perm in [(1, 0, 2, 3, 4, 5), (2, 3, 0, 1, 4, 5), (4, 5, 2, 3, 0, 1), (0, 1, 5, 4, 2, 3)]:
        np.testing.assert_allclose(u, u.transpose(perm), rtol=1e-12)


def test_kernel_recursion_and_input_layer():
    th = general_theory(n_inputs=3)
    net = th.network
    np.testing.assert_allclose(th.kernel(0), th.x @ th.x.T / net.n0)
    for l in range(1, net.depth + 1):
        np.testing.assert_allclose(
            th.kernel(l), net.cb[l - 1] + net.cw[l - 1] * th.kernel(l - 1), rtol=1e-14
        )
        assert close(th.moment(l, [2, 2], [0, 1]), th.kernel(l)[0, 1])
    # Bias-free: G^(l) = ∏ C_W G^(0).
    th0 = LinearTheory(Network([3, 4, 5], cw=[1.5, 0.7]), [1.0, 2.0, -1.0])
    assert close(th0.kernel(2)[0, 0], 1.5 * 0.7 * 6 / 3)


# ---------------------------------------------------------------- cumulants
def test_cumulant_matches_section0_rule():
    """κ_{2k}(z) = Σ_π ∏δ κ_k(Ĝ) with κ_2 = V/n_{l-1}, κ_3 = U/n_{l-1}²."""
    th = general_theory(n_inputs=2)
    layer = 4
    n_prev = th.network.widths[layer - 1]
    v = th.vertex(layer) / n_prev
    u = th.six_point_vertex(layer) / n_prev**2
    rng = np.random.default_rng(3)
    for m in (4, 6):
        for _ in range(12):
            neurons = [int(i) for i in rng.integers(0, 2, size=m)]
            inputs = [int(a) for a in rng.integers(0, 2, size=m)]
            expected = 0.0
            for pi in pairings(tuple(range(m))):
                if any(neurons[p] != neurons[q] for p, q in pi):
                    continue
                idx = tuple(inputs[p] for pq in pi for p in pq)
                expected += v[idx] if m == 4 else u[idx]
            got = th.cumulant(layer, neurons, inputs)
            assert math.isclose(
                got, expected, rel_tol=1e-9, abs_tol=1e-9 * abs(th.moment(layer, neurons, inputs))
            ), (
                neurons,
                inputs,
            )


def test_cumulant_matches_explicit_mobius_sum():
    th = general_theory(n_inputs=2)
    neurons, inputs = [0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 1, 0, 0, 1]
    expected = 0.0
    for part in set_partitions_of(list(range(8))):
        term = (-1) ** (len(part) - 1) * math.factorial(len(part) - 1)
        for block in part:
            term *= th.moment(3, [neurons[p] for p in block], [inputs[p] for p in block])
            if term == 0:
                break
        expected += term
    got = th.cumulant(3, neurons, inputs)
    assert math.isclose(got, expected, rel_tol=1e-8, abs_tol=1e-10 * th.moment(3, neurons, inputs))
    assert close(th.cumulant(3, [5, 5], [0, 1]), th.kernel(3)[0, 1])


# ---------------------------------------------------------------- structure and invariances
def test_six_point_neuron_patterns():
    th = general_theory(n_inputs=2)
    t = th.kernel_moments(4, 3)
    idx = (0, 1, 1, 1, 0, 0)
    assert close(th.moment(4, [0, 0, 1, 1, 2, 2], list(idx)), t[idx])
    a = idx
    pattern_42 = t[a[0], a[1], a[2], a[3], a[4], a[5]] + t[a[0], a[2], a[1], a[3], a[4], a[5]]
    pattern_42 += t[a[0], a[3], a[1], a[2], a[4], a[5]]
    assert close(th.moment(4, [0, 0, 0, 0, 1, 1], list(idx)), pattern_42)
    one = sum(t[tuple(a[p] for pq in pi for p in pq)] for pi in pairings(tuple(range(6))))
    assert close(th.moment(4, [3] * 6, list(idx)), one)


def test_moment_is_symmetric_under_points_and_neuron_relabelling():
    th = general_theory(n_inputs=3)
    neurons, inputs = [0, 1, 0, 2, 1, 2, 0, 0], [0, 2, 1, 1, 0, 2, 2, 1]
    base = th.moment(3, neurons, inputs)
    base_c = th.cumulant(3, neurons, inputs)
    assert base != 0.0
    rng = np.random.default_rng(11)
    for _ in range(5):
        perm = rng.permutation(8)
        assert close(th.moment(3, [neurons[p] for p in perm], [inputs[p] for p in perm]), base)
        assert close(th.cumulant(3, [neurons[p] for p in perm], [inputs[p] for p in perm]), base_c)
    relabel = {0: 2, 1: 0, 2: 1}  # an injective relabelling within n_3 = 8 neurons
    assert close(th.moment(3, [relabel[i] for i in neurons], inputs), base)
    assert close(th.moment(3, [i + 3 for i in neurons], inputs), base)


def test_odd_correlators_vanish():
    th = general_theory(n_inputs=2)
    assert th.moment(2, [0], [0]) == 0.0
    assert th.moment(2, [0, 0, 0], [0, 1, 0]) == 0.0
    assert th.moment(2, [0, 0, 0, 1], [0, 1, 0, 1]) == 0.0
    assert th.moment(5, [0, 1, 2, 3, 0, 1], [0, 1, 1, 0, 0, 1]) == 0.0
    assert th.cumulant(2, [0, 0, 0], [0, 1, 0]) == 0.0
    assert th.cumulant(3, [0, 1, 1, 1], [1, 1, 1, 1]) == 0.0


def test_ten_point_moment_and_cumulant_single_input():
    # One input, C_b = 0: E z^{2m} = (2m-1)!! ∏_{l<L} c_{2m}(n_l) G^m (PDLT 3.47).
    net = Network([3, 5, 9, 4, 6, 7], cw=[1.1, 0.9, 1.2, 0.8, 1.05])
    th = LinearTheory(net, [1.0, -1.0, 0.5])
    g = th.kernel(5)[0, 0]
    for m in (2, 3, 4, 5):
        c = math.prod(math.prod(1 + 2 * s / n for s in range(m)) for n in net.widths[1:5])
        assert close(
            th.moment(5, [0] * (2 * m), [0] * (2 * m)), math.prod(range(1, 2 * m, 2)) * c * g**m
        )
        assert close(th.kernel_product_moment(5, [(0, 0)] * m), c * g**m)


def test_ntk_multi_input_per_layer_rates():
    th = general_theory(n_inputs=2)
    net = th.network
    lb, lw = [0.5, 1.0, 0.3, 0.8, 0.0], [1.0, 0.7, 1.2, 0.9, 2.0]
    theta = lb[0] + lw[0] * th.kernel(0)
    np.testing.assert_allclose(th.ntk(1, lb, lw), theta)
    for l in range(1, net.depth):
        theta = lb[l] + lw[l] * th.kernel(l) + net.cw[l] * theta
        np.testing.assert_allclose(th.ntk(l + 1, lambda_b=lb, lambda_w=lw), theta, rtol=1e-14)
    np.testing.assert_allclose(th.ntk(3, 0.0, 1.0), th.ntk(3, [0.0] * 5, [1.0] * 5))


def test_six_point_tensor_for_four_inputs_and_hundred_layers_completes():
    rng = np.random.default_rng(5)
    th = LinearTheory(Network([5] + [12] * 100, cw=1.0, cb=0.05), rng.normal(size=(4, 5)))
    u = th.six_point_vertex(100)
    assert u.shape == (4,) * 6
    assert np.all(np.isfinite(u))
    t = th.kernel_moments(100, 3)
    assert t.shape == (4,) * 6
    assert close(
        t[0, 1, 2, 3, 0, 0], th.kernel_product_moment(100, [(0, 1), (2, 3), (0, 0)]), rtol=1e-9
    )
    # Going back to a shallower layer restarts cleanly.
    assert close(th.vertex(2)[0, 0, 0, 0], 2 * th.kernel(1)[0, 0] ** 2)


def test_theory_dispatch_and_repr():
    th = deepeft.theory(Network([3, 4, 5]), np.ones(3))
    assert isinstance(th, LinearTheory)
    assert th.exact
    assert "LinearTheory" in repr(th)


# ---------------------------------------------------------------- bad input
def test_bad_input_messages():
    th = general_theory(n_inputs=2)
    with pytest.raises(ValueError, match=re.escape("`layer` must be an integer in [1, 5]")):
        th.moment(0, [0, 0], [0, 0])
    with pytest.raises(ValueError, match="`layer`"):
        th.vertex(6)
    with pytest.raises(ValueError, match="`layer`"):
        th.kernel(-1)
    with pytest.raises(TypeError, match="`layer`"):
        th.kernel(1.5)
    with pytest.raises(ValueError, match="`neurons` entries must be in"):
        th.moment(2, [0, 3], [0, 0])  # n_2 = 3
    with pytest.raises(ValueError, match="`inputs` entries must be in"):
        th.cumulant(2, [0, 0], [0, 2])
    with pytest.raises(ValueError, match="`neurons` and `inputs` must have the same length"):
        th.moment(2, [0, 0], [0])
    with pytest.raises(ValueError, match=re.escape("`order` must be one of ['exact', 'leading']")):
        th.vertex(2, order="nlo")
    with pytest.raises(ValueError, match="`order`"):
        th.six_point_vertex(2, order="Exact")
    with pytest.raises(ValueError, match="`lambda_b`"):
        th.ntk(2, lambda_b=-1.0)
    with pytest.raises(ValueError, match="`lambda_w`"):
        th.ntk(2, lambda_w=[1.0, 1.0])
    with pytest.raises(ValueError, match="`lambda_w`"):
        th.ntk(2, lambda_w=float("inf"))
    with pytest.raises(ValueError, match="`k` must be 1, 2 or 3"):
        th.kernel_moments(2, 4)
    with pytest.raises(ValueError, match="`k`"):
        th.kernel_moments(2, 0)
    with pytest.raises(ValueError, match="`pairs` entries must be in"):
        th.kernel_product_moment(2, [(0, 5)])
    with pytest.raises(ValueError, match="`pairs` must contain pairs"):
        th.kernel_product_moment(2, [(0, 1, 1)])
    with pytest.raises(
        ValueError, match="LinearTheory covers linear networks with Gaussian weights"
    ):
        LinearTheory(Network([2, 3], activation="relu"), [1.0, 1.0])
    with pytest.raises(ValueError, match="init='orthogonal'"):
        LinearTheory(Network([2, 2], init="orthogonal"), [1.0, 1.0])


# ---------------------------------------------------------------- overflow and scale
DEEP = Network([1] + [10] * 2000, cw=1.5)


def test_reproducer_raises_a_helpful_overflow_error_not_nan():
    th = deepeft.theory(DEEP)
    with pytest.raises(OverflowError, match=r"layer 2000 .*10\^862\.\d.*log=True") as info:
        th.cumulant(2000, [0, 0, 1, 1], [0] * 4)
    assert "normalized=True" in str(info.value)
    assert "deepeft.single_input" in str(info.value)
    with pytest.raises(OverflowError, match="the kernel at layer 2000"):
        th.kernel(2000)


def test_deep_network_scale_free_ratios_are_exact():
    th = deepeft.theory(DEEP)
    n, depth = 10, 2000
    g = float(th.kernel(depth, normalized=True)[0, 0])
    assert 1 <= g < 2
    # log G^(L) = L log C_W for G^(0) = 1.
    assert close(th.log_scale(depth) + math.log(g), depth * math.log(1.5), 1e-12)
    exact = (1 + 2 / n) ** (depth - 1) - 1  # V / (n G²), THEORY.md §1.2
    v = float(th.vertex(depth, normalized=True)[0, 0, 0, 0])
    assert close(v / g**2 / n, exact, 1e-11)
    assert close(th.cumulant(depth, [0, 0, 1, 1], [0] * 4, normalized=True) / g**2, exact, 1e-11)
    assert close(th.vertex(depth, "leading", normalized=True)[0, 0, 0, 0] / g**2, 2 * (depth - 1))
    # Against the log-space closed form: E[Ĝ²] = e^{2 log s} × normalized value.
    log_g4 = single_input.kernel_power_moment(DEEP, 1.0, depth, 2, log=True)
    value = th.kernel_product_moment(depth, [(0, 0), (0, 0)], normalized=True)
    assert close(2 * th.log_scale(depth) + math.log(value), log_g4, 1e-12)


def test_no_nan_anywhere_for_a_deep_network():
    net = Network([3] + [50] * 1800, cw=1.5, cb=0.2)
    th = deepeft.theory(net, np.array([[1.0, 0.5, -1.0], [0.2, -2.0, 1.0]]))
    queries = [
        lambda l, norm: th.kernel(l, normalized=norm),
        lambda l, norm: th.kernel_moments(l, 2, normalized=norm),
        lambda l, norm: th.vertex(l, normalized=norm),
        lambda l, norm: th.vertex(l, "leading", normalized=norm),
        lambda l, norm: th.six_point_vertex(l, normalized=norm),
        lambda l, norm: th.six_point_vertex(l, "leading", normalized=norm),
        lambda l, norm: th.moment(l, [0, 0, 1, 1], [0, 1, 1, 0], normalized=norm),
        lambda l, norm: th.cumulant(l, [0, 0, 1, 1], [0, 1, 1, 0], normalized=norm),
        lambda l, norm: th.cumulant(l, [0] * 6, [0, 0, 1, 1, 0, 1], normalized=norm),
        lambda l, norm: th.kernel_product_moment(l, [(0, 1), (1, 1)], normalized=norm),
    ]
    overflowed = 0
    for layer in (1, 100, 1800):
        for query in queries:
            assert np.all(np.isfinite(query(layer, True)))
            try:
                value = query(layer, False)
            except OverflowError:
                overflowed += 1
            else:
                assert np.all(np.isfinite(value))
    assert overflowed == len(queries)  # everything at layer 1800 is beyond float64
    with pytest.raises(OverflowError, match="NTK at layer 1800"):
        th.ntk(1800)
    assert np.all(np.isfinite(th.ntk(100)))


def test_ratio_that_itself_overflows_raises():
    # G_8 / G_2^4 = ∏ c_8(2) = 24 per layer for n = 2: beyond float64 at L = 300.
    th = deepeft.theory(Network([2] * 301))
    with pytest.raises(OverflowError, match="scale-free ratio itself overflows"):
        th.moment(300, [0] * 8, [0] * 8, normalized=True)
    with pytest.raises(OverflowError, match="layer 300"):
        th.cumulant(300, [0] * 8, [0] * 8)


def test_scale_is_exact_so_ordinary_results_are_unchanged():
    net = Network([4, 12, 8, 16, 10], cw=[1.2, 0.8, 1.5, 1], cb=[0.3, 0.1, 0, 0.5])
    x = np.array([[1.0, 2.0, -1.0, 0.5], [0.3, 0.0, 1.0, -2.0]])
    th = LinearTheory(net, x)
    g = x @ x.T / 4
    for l in range(4):
        g = net.cb[l] + net.cw[l] * g
        assert np.array_equal(th.kernel(l + 1), g)  # bit for bit
        scale = math.exp(th.log_scale(l + 1))
        assert scale == 2.0 ** round(math.log2(scale))
        assert np.array_equal(th.kernel(l + 1, normalized=True) * scale, g)
        v = th.vertex(l + 1)
        assert np.array_equal(th.vertex(l + 1, normalized=True) * scale**2, v)
    assert th.log_scale(0) == 0.0
