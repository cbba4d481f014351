"""Monte Carlo sampling (deepeft.sample): exactness of the estimators, agreement with theory in
units of the estimator's own standard error, reproducibility, and bad input.

Statistical assertions follow STYLE.md B10: one fixed SEED, bounds in standard errors
(|z| <= 5, raised Bonferroni-style for families of checks so that each test's false-alarm
probability stays below 1e-4), and negative controls that must fail at the same run size.
"""

from __future__ import annotations

import json
import math
import re
from itertools import permutations

import numpy as np
import pytest
from scipy import stats

import deepeft
from deepeft._combinatorics import canonical_pattern, matchings
from deepeft.sampling import block_rng, enumerate_patterns
from deepeft.sampling._methods import (
    GaussianGivenKernel,
    LayerFeatures,
    Preactivations,
    UniformOnSphere,
    _psd_factor,
)
from deepeft.sampling._patterns import ODD_UP_TO, is_even, pattern_order

SEED = 20240917  # one seed for this module; never re-tuned
Z_CRIT = 5.0
FAMILY_ALPHA = 1e-4  # false-alarm probability allowed per test


def z_bound(n_checks: int, *, jackknife: bool = False) -> float:
    """|z| bound for ``n_checks`` checks: at least Z_CRIT, Bonferroni at FAMILY_ALPHA.

    Moments get their s.e. from ~1e4 per-network values (normal); jackknife s.e. over
    32 batches make z a Student t with 31 degrees of freedom.
    """
    p = FAMILY_ALPHA / (2 * n_checks)
    q = stats.t.isf(p, 31) if jackknife else stats.norm.isf(p)
    return max(Z_CRIT, float(q))


def points(pattern):
    neurons = [i for i, b in enumerate(pattern) for _ in b]
    inputs = [a for b in pattern for a in b]
    return neurons, inputs


def assert_z(z, bound, what):
    z = np.atleast_1d(np.asarray(z, dtype=float))
    worst = float(np.max(np.abs(z)))
    assert worst <= bound, f"{what}: max|z| = {worst:.2f} > {bound:.2f} (seed={SEED})"


def two_sample_z(a: deepeft.Estimate, b: deepeft.Estimate) -> np.ndarray:
    return (np.asarray(a.mean) - np.asarray(b.mean)) / np.hypot(a.stderr, b.stderr)


# ------------------------------------------------------------------- ensembles
LINEAR = deepeft.Network([3, 8, 8, 8, 8])  # C_W = 1, no biases; default input has G^(0) = 1
BIASED = deepeft.Network([3, 10, 8, 12], cw=[1.2, 0.8, 1.1], cb=[0.3, 0.1, 0.2])
X2 = np.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.8]])


def _c(n: int, m: int) -> float:
    """c_{2m}(n) = E[(χ²_n/n)^m] (THEORY.md §1.4)."""
    return math.prod(1 + 2 * s / n for s in range(m))


# ================================================================ patterns
def test_patterns_are_canonical_and_complete():
    pats = enumerate_patterns(2, 6)
    assert len(set(pats)) == len(pats)
    for p in pats:
        assert canonical_pattern(*points(p)) == p
        assert pattern_order(p) <= ODD_UP_TO or is_even(p)
    # Brute force: every (neurons, inputs) of order <= 4 over 4 neuron labels maps into the list.
    seen = set()
    for m in range(1, 5):
        for neurons in np.ndindex(*(4,) * m):
            for inputs in np.ndindex(*(2,) * m):
                seen.add(canonical_pattern(neurons, inputs))
    assert seen == {p for p in pats if pattern_order(p) <= 4}
    assert len(enumerate_patterns(1, 4)) == 11  # integer partitions of 1..4
    assert len(enumerate_patterns(1, 6)) == 14  # + (6), (4,2), (2,2,2)


def test_ustatistic_equals_brute_force():
    rng = np.random.default_rng(SEED)
    z = rng.standard_normal((3, 5, 2))
    pats = enumerate_patterns(2, 6)
    feats = LayerFeatures(pats, 5, 2, 6)(Preactivations(z))
    for c, p in enumerate(pats):
        for net in range(3):
            terms = [
                math.prod(z[net, tup[b], a] for b, block in enumerate(p) for a in block)
                for tup in permutations(range(5), len(p))
            ]
            assert feats[net, c] == pytest.approx(np.mean(terms), rel=1e-10, abs=1e-12), p


def test_conditional_features_equal_isserlis():
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((4, 3, 3))
    g = a @ a.transpose(0, 2, 1)
    pats = enumerate_patterns(3, 6)
    feats = LayerFeatures(pats, 7, 3, 6)(GaussianGivenKernel(g))
    for c, p in enumerate(pats):
        neurons, inputs = points(p)
        for net in range(4):
            exact = sum(
                math.prod(g[net, inputs[s], inputs[t]] for s, t in pi)
                for pi in matchings(len(neurons))
                if all(neurons[s] == neurons[t] for s, t in pi)
            )
            assert feats[net, c] == pytest.approx(exact, rel=1e-12, abs=1e-14), p


def test_sphere_features():
    # u uniform on S^2 (n = 3): E u1^4 = 1/5, E u1^2 u2^2 = 1/15, E u1^6 = 1/7, E u1^2 = 1/3.
    pats = enumerate_patterns(1, 6)
    feats = LayerFeatures(pats, 3, 1, 6)(UniformOnSphere(np.array([1.0, 4.0])))
    col = {p: c for c, p in enumerate(pats)}
    assert feats[0, col[((0, 0, 0, 0),)]] == pytest.approx(1 / 5)
    assert feats[0, col[((0, 0), (0, 0))]] == pytest.approx(1 / 15)
    assert feats[0, col[((0, 0, 0, 0, 0, 0),)]] == pytest.approx(1 / 7)
    assert feats[1, col[((0, 0),)]] == pytest.approx(4 / 3)
    assert feats[0, col[((0,), (0, 0, 0))]] == 0.0


# ================================================================ reproducibility
@pytest.mark.parametrize(
    ("net", "x", "method"),
    [
        (BIASED, X2, "dense"),
        (deepeft.Network([2, 6, 6, 6], activation="tanh", cb=0.1), np.eye(2), "conditional"),
        (deepeft.Network([1, 9, 7, 5], activation="relu", cw=2.0, cb=0.2), None, "radial"),
        (deepeft.Network([5, 5, 5, 5], activation="relu", init="orthogonal"), None, "radial"),
        (deepeft.Network([5, 5, 5, 5], activation="tanh", init="orthogonal"), None, "radial"),
        (
            deepeft.Network([4, 4, 4], activation="tanh", init="orthogonal", cb=0.2),
            X2[:, :2].repeat(2, 1),
            "conditional",
        ),
        (
            deepeft.Network([4, 4, 4], activation="tanh", init="orthogonal", cb=0.2),
            X2[:, :2].repeat(2, 1),
            "dense",
        ),
    ],
)
def test_bit_identical_for_any_chunk_size(net, x, method):
    runs = [
        deepeft.sample(net, x, networks=1000, seed=SEED, method=method, chunk_size=c, order=6)
        for c in (None, 1, 77, 4096)
    ]
    for est in runs[1:]:
        for layer in est.layers:
            a, b = runs[0].stats(layer), est.stats(layer)
            np.testing.assert_array_equal(a.counts, b.counts)
            np.testing.assert_array_equal(a.means, b.means)
            np.testing.assert_array_equal(a.m2, b.m2)


def test_seed_sequence_and_prefix_property():
    net = deepeft.Network([2, 4, 4], activation="tanh")
    a = deepeft.sample(net, networks=512, seed=7, method="dense")
    b = deepeft.sample(net, networks=512, seed=np.random.SeedSequence(7), method="dense")
    np.testing.assert_array_equal(a.kernel(2).mean, b.kernel(2).mean)
    c = deepeft.sample(net, networks=512, seed=8, method="dense")
    assert not np.array_equal(a.kernel(2).mean, c.kernel(2).mean)


def test_block_streams_are_the_documented_ones():
    """Block b is drawn from SeedSequence(seed, spawn_key=(b,)), whatever the run length."""
    net = deepeft.Network([1, 1], cw=2.0)  # z = W·1 with W ~ N(0, 2)
    block = deepeft.sample(net, networks=1, seed=5, method="dense").block_size
    first = np.sqrt(2.0) * block_rng(5, 0).standard_normal((block, 1, 1)).ravel()
    second = np.sqrt(2.0) * block_rng(5, 1).standard_normal((1, 1, 1)).ravel()
    est = deepeft.sample(net, networks=block + 1, seed=5, method="dense", order=2)
    expected = np.mean(np.concatenate([first, second]) ** 2)
    assert est.moment(1, (0, 0), (0, 0)).mean == pytest.approx(expected, rel=1e-13)
    ss = np.random.SeedSequence(5).spawn(2)[1]
    np.testing.assert_array_equal(np.random.default_rng(ss).standard_normal(3), block_rng(5, 1).standard_normal(3))


# ================================================================ dense vs exact theory
def test_dense_single_input_closed_forms():
    est = deepeft.sample(LINEAR, networks=20_000, seed=SEED, method="dense", order=6)
    z = []
    for layer in range(1, 5):
        hidden = [8] * (layer - 1)
        g4 = math.prod(_c(n, 2) for n in hidden)
        g6 = math.prod(_c(n, 3) for n in hidden)
        z += [
            est.kernel(layer).z(np.ones((1, 1))).item(),
            est.moment(layer, (0, 0, 1, 1), (0, 0, 0, 0)).z(g4),
            est.moment(layer, (0, 0, 0, 0), (0, 0, 0, 0)).z(3 * g4),
            est.moment(layer, (0, 0, 1, 1, 2, 2), (0,) * 6).z(g6),
        ]
    assert_z(z, z_bound(len(z)), "dense moments vs closed forms")
    zc = []
    for layer in range(2, 5):
        hidden = [8] * (layer - 1)
        g4 = math.prod(_c(n, 2) for n in hidden)
        g6 = math.prod(_c(n, 3) for n in hidden)
        zc.append(est.cumulant(layer, (0, 0, 1, 1), (0,) * 4).z(g4 - 1))
        zc.append(est.cumulant(layer, (0, 0, 1, 1, 2, 2), (0,) * 6).z(g6 - 3 * g4 + 2))
        zc.append(est.vertex(layer).z(np.full((1, 1, 1, 1), 8 * (g4 - 1))).item())
    assert_z(zc, z_bound(len(zc), jackknife=True), "dense cumulants vs closed forms")


def test_dense_negative_controls():
    est = deepeft.sample(LINEAR, networks=20_000, seed=SEED, method="dense", order=4)
    # The Gaussian (infinite-width) value 0 for the connected 4-pt at layer 3 is excluded...
    assert abs(est.cumulant(3, (0, 0, 1, 1), (0,) * 4).z(0.0)) > Z_CRIT
    # ...and so is a 3 % wrong C_W in the first layer.
    assert abs(est.kernel(1).z(np.full((1, 1), 1.03)).item()) > Z_CRIT


def test_dense_odd_patterns_vanish():
    est = deepeft.sample(BIASED, X2, networks=10_000, seed=SEED, method="dense", order=4)
    z = []
    for layer in est.layers:
        for p in est.patterns(layer):
            if not is_even(p):
                z.append(est.moment(layer, *points(p)).z(0.0))
    assert len(z) > 50
    assert_z(z, z_bound(len(z)), "odd patterns")


@pytest.fixture(scope="module")
def linear_theory():
    pytest.importorskip("deepeft.linear_theory")
    return deepeft.theory(BIASED, X2)


@pytest.mark.parametrize("method", ["dense", "conditional"])
def test_multi_input_against_exact_theory(method, linear_theory):
    est = deepeft.sample(BIASED, X2, networks=20_000, seed=SEED, method=method, order=6)
    th = linear_theory
    zm, zc = [], []
    for layer in est.layers:
        zm.extend(np.ravel(est.kernel(layer).z(th.kernel(layer))))
        for p in est.patterns(layer):
            if is_even(p):
                zm.append(est.moment(layer, *points(p)).z(th.moment(layer, *points(p))))
                if pattern_order(p) <= 4:
                    zc.append(est.cumulant(layer, *points(p)).z(th.cumulant(layer, *points(p))))
        if layer > 1:
            zc.extend(np.ravel(est.vertex(layer).z(th.vertex(layer))))
    assert_z(zm, z_bound(len(zm)), f"{method}: moments vs LinearTheory")
    assert_z(zc, z_bound(len(zc), jackknife=True), f"{method}: cumulants/vertices vs LinearTheory")


def test_conditional_with_singular_kernel():
    """Duplicate / dependent inputs make Ĝ singular: the sampler falls back from Cholesky."""
    pytest.importorskip("deepeft.linear_theory")
    net = deepeft.Network([2, 6, 5, 6])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    th = deepeft.theory(net, x)
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, method="conditional", order=4)
    z = [est.kernel(l).z(th.kernel(l)) for l in est.layers]
    assert_z(z, z_bound(16 * 3), "singular Ĝ: kernel")
    assert_z(est.vertex(3).z(th.vertex(3)), z_bound(256, jackknife=True), "singular Ĝ: vertex")


def test_psd_factor_handles_singular_kernels():
    g = np.array([[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(g)
    f = _psd_factor(g)
    np.testing.assert_allclose(f @ f.transpose(0, 2, 1), g, atol=1e-14)


def test_multi_input_negative_control(linear_theory):
    """Leading-order V (the 1/n-truncated recursion) must be excluded where it is far off."""
    est = deepeft.sample(BIASED, X2, networks=20_000, seed=SEED, method="conditional", order=4)
    wrong = linear_theory.vertex(3) * 0.8
    assert np.max(np.abs(est.vertex(3).z(wrong))) > Z_CRIT


# ================================================================ orthogonal weights
@pytest.mark.parametrize("method", ["dense", "conditional", "radial"])
def test_orthogonal_single_input_exact_law(method):
    n = 8
    net = deepeft.Network([n] * 5, init="orthogonal", cw=1.2)
    est = deepeft.sample(net, networks=4_000, seed=SEED, method=method, order=6)
    z, zc = [], []
    for layer in est.layers:
        g2 = 1.2**layer  # x = ones: G^(0) = 1
        z.append(est.kernel(layer).z(np.full((1, 1), g2)).item())
        z.append(est.moment(layer, (0, 0, 1, 1), (0,) * 4).z(n * g2**2 / (n + 2)))
        zc.append(est.cumulant(layer, (0, 0, 1, 1), (0,) * 4).z(-2 / (n + 2) * g2**2))
        zc.append(est.cumulant(layer, (0, 0, 1, 1, 2, 2), (0,) * 6).z(16 / ((n + 2) * (n + 4)) * g2**3))
    assert_z(z, z_bound(len(z)), f"orthogonal {method} moments")
    assert_z(zc, z_bound(len(zc), jackknife=True), f"orthogonal {method} cumulants (THEORY.md §2.2)")
    if method == "dense":
        # Negative control: the Gaussian-weight value at layer 3 is excluded.
        gauss = (_c(n, 2) ** 2 - 1) * 1.2**6
        assert abs(est.cumulant(3, (0, 0, 1, 1), (0,) * 4).z(gauss)) > Z_CRIT


@pytest.mark.parametrize("method", ["dense", "conditional"])
def test_orthogonal_multi_input_vertex(method):
    """THEORY.md §8 R9: n = 4, G^(0) = I_2, no biases."""
    net = deepeft.Network([4, 4, 4], init="orthogonal")
    x = 2.0 * np.eye(4)[:2]
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, method=method)
    v = est.vertex(2)
    exact = {(0, 0, 0, 0): -4 / 3, (0, 1, 0, 1): -8 / 9, (0, 0, 1, 1): 4 / 9}
    z = [v[k].z(val) for k, val in exact.items()]
    assert_z(z, z_bound(3, jackknife=True), "orthogonal multi-input V")
    assert abs(v[0, 0, 1, 1].z(0.0)) > Z_CRIT  # the leading-order value 0 is excluded


@pytest.mark.parametrize("method", ["dense", "conditional"])
def test_orthogonal_multi_input_against_theory(method):
    pytest.importorskip("deepeft.orthogonal_theory")
    net = deepeft.Network([5, 5, 5, 5], init="orthogonal", cw=[1.1, 0.9, 1.3])
    x = np.array([[1.0, 0.5, -0.2, 0.0, 0.3], [0.3, -1.0, 0.8, 0.5, 0.0], [0.0, 0.2, 0.4, -1.0, 1.0]])
    th = deepeft.theory(net, x)
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, order=4, method=method)
    zm, zc = [], []
    for layer in est.layers:
        zm.extend(np.ravel(est.kernel(layer).z(th.kernel(layer))))
        for p in est.patterns(layer):
            if pattern_order(p) in (2, 4):
                zm.append(est.moment(layer, *points(p)).z(th.moment(layer, *points(p))))
                zc.append(est.cumulant(layer, *points(p)).z(th.cumulant(layer, *points(p))))
        zc.extend(np.ravel(est.vertex(layer).z(th.vertex(layer))))
    assert_z(zm, z_bound(len(zm)), f"orthogonal {method}: moments vs OrthogonalLinearTheory")
    assert_z(zc, z_bound(len(zc), jackknife=True), f"orthogonal {method}: cumulants vs theory")


def test_orthogonal_radial_linear_is_exact():
    pytest.importorskip("deepeft.orthogonal_theory")
    net = deepeft.Network([7] * 4, init="orthogonal", cw=1.3)
    x = np.linspace(-1.0, 1.0, 7)
    th = deepeft.theory(net, x)
    est = deepeft.sample(net, x, networks=64, seed=SEED, order=6)
    assert est.method == "radial"
    for layer in est.layers:
        for p in est.patterns(layer):
            assert est.moment(layer, *points(p)).mean == pytest.approx(
                th.moment(layer, *points(p)), rel=1e-12, abs=1e-15
            )
        assert abs(est.cumulant(3, (0, 0, 1, 1), (0,) * 4).z(th.cumulant(3, (0, 0, 1, 1), (0,) * 4))) < 1


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_orthogonal_radial_agrees_with_dense(activation):
    net = deepeft.Network([6] * 4, activation=activation, init="orthogonal", cw=1.5)
    fast = deepeft.sample(net, networks=20_000, seed=SEED, method="radial", order=4)
    ref = deepeft.sample(net, networks=20_000, seed=SEED + 1, method="dense", order=4)
    z = []
    for layer in (2, 3):
        for p in fast.patterns(layer):
            if is_even(p):
                z.append(two_sample_z(fast.moment(layer, *points(p)), ref.moment(layer, *points(p))))
    assert_z(z, z_bound(len(z)), f"orthogonal {activation}: radial vs dense")


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_orthogonal_conditional_agrees_with_dense(activation):
    net = deepeft.Network([5] * 4, activation=activation, init="orthogonal", cw=1.5, cb=0.2)
    x = np.array([[1.0, 0.0, 0.5, 0.0, -1.0], [0.2, 1.0, -0.5, 0.8, 0.0]])
    fast = deepeft.sample(net, x, networks=20_000, seed=SEED, method="conditional", order=4)
    ref = deepeft.sample(net, x, networks=20_000, seed=SEED + 1, method="dense", order=4)
    z, zv = [], []
    for layer in fast.layers:
        for p in fast.patterns(layer):
            z.append(two_sample_z(fast.moment(layer, *points(p)), ref.moment(layer, *points(p))))
        zv.extend(np.ravel(two_sample_z(fast.vertex(layer), ref.vertex(layer))))
    assert_z(z, z_bound(len(z)), f"orthogonal {activation}: conditional vs dense moments")
    assert_z(zv, z_bound(len(zv), jackknife=True), f"orthogonal {activation}: conditional vs dense V")
    # Negative control: Gaussian weights with the same C_W, C_b are told apart.
    gauss = deepeft.Network([5] * 4, activation=activation, cw=1.5, cb=0.2)
    other = deepeft.sample(gauss, x, networks=20_000, seed=SEED + 2, method="conditional", order=4)
    assert np.max(np.abs(two_sample_z(fast.vertex(3), other.vertex(3)))) > Z_CRIT


# ================================================================ fast Gaussian samplers
def test_radial_with_biases_reference_values():
    """THEORY.md §8 R2: widths [1,4,4,4], C_W = 1, C_b = 0.5, x = 1."""
    net = deepeft.Network([1, 4, 4, 4], cb=0.5)
    est = deepeft.sample(net, networks=200_000, seed=SEED, method="radial", order=6)
    assert est.method == "radial"
    z = [
        est.kernel(3).z(np.full((1, 1), 2.5)).item(),
        est.moment(3, (0, 0, 1, 1), (0,) * 4).z(9.9375),
        est.moment(3, (0, 0, 0, 0), (0,) * 4).z(29.8125),
        est.moment(3, (0, 0, 1, 1, 2, 2), (0,) * 6).z(62.46875),
    ]
    assert_z(z, z_bound(4), "radial R2 moments")
    assert_z(est.vertex(3).z(np.full((1, 1, 1, 1), 14.75)), Z_CRIT, "radial R2 vertex")
    # Negative control: the leading-order (1/n-truncated) recursion gives V^(3) = 12.5.
    assert abs(est.vertex(3).z(np.full((1, 1, 1, 1), 12.5)).item()) > Z_CRIT


def _relu_moment_ratio(n: int, k: int) -> float:
    """E[(Y/n)^k] / (1/2)^k for Y ~ χ²_M, M ~ Bin(n, 1/2): exact ReLU factor per layer."""
    pmf = stats.binom.pmf(np.arange(n + 1), n, 0.5)
    mom = sum(p * math.prod(m + 2 * s for s in range(k)) for m, p in enumerate(pmf))
    return mom / (n / 2) ** k


def test_radial_relu_exact_moments():
    widths = [2, 10, 6, 12, 8]
    net = deepeft.Network(widths, activation="relu", cw=2.0)
    x = np.array([1.0, -1.0])  # G^(0) = 1, K = 2 at every layer
    est = deepeft.sample(net, x, networks=200_000, seed=SEED, order=6)
    assert est.method == "radial"
    z = []
    for layer in range(1, 5):
        r2 = math.prod(_relu_moment_ratio(n, 2) for n in widths[1:layer])
        r3 = math.prod(_relu_moment_ratio(n, 3) for n in widths[1:layer])
        z.append(est.kernel(layer).z(np.full((1, 1), 2.0)).item())
        z.append(est.moment(layer, (0, 0, 1, 1), (0,) * 4).z(4 * r2))
        z.append(est.moment(layer, (0, 0, 1, 1, 2, 2), (0,) * 6).z(8 * r3))
    assert_z(z, z_bound(len(z)), "radial ReLU moments (THEORY.md §3.4)")
    # Negative control: the linear-network factor (1 + 2/n) instead of ReLU's (1 + 5/n).
    wrong = 4 * math.prod(_c(n, 2) for n in widths[1:4])
    assert abs(est.moment(4, (0, 0, 1, 1), (0,) * 4).z(wrong)) > Z_CRIT


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_radial_agrees_with_dense(activation):
    net = deepeft.Network([3, 7, 5, 6], activation=activation, cw=1.7, cb=0.3)
    fast = deepeft.sample(net, networks=20_000, seed=SEED, method="radial", order=6)
    ref = deepeft.sample(net, networks=20_000, seed=SEED + 1, method="dense", order=6)
    z = []
    for layer in fast.layers:
        for p in fast.patterns(layer):
            if is_even(p):
                z.append(two_sample_z(fast.moment(layer, *points(p)), ref.moment(layer, *points(p))))
    assert_z(z, z_bound(len(z)), f"{activation}: radial vs dense")


def test_conditional_agrees_with_dense_tanh_multi_input():
    net = deepeft.Network([2, 8, 6, 8], activation="tanh", cw=1.5, cb=0.2)
    x = np.array([[1.0, 0.0], [0.6, 0.8], [-0.5, 1.0]])
    fast = deepeft.sample(net, x, networks=20_000, seed=SEED, method="conditional", order=4)
    ref = deepeft.sample(net, x, networks=20_000, seed=SEED + 1, method="dense", order=4)
    z, zv = [], []
    for layer in (2, 3):
        for p in fast.patterns(layer):
            if is_even(p):
                z.append(two_sample_z(fast.moment(layer, *points(p)), ref.moment(layer, *points(p))))
        zv.extend(np.ravel(two_sample_z(fast.vertex(layer), ref.vertex(layer))))
    assert_z(z, z_bound(len(z)), "tanh: conditional vs dense moments")
    assert_z(zv, z_bound(len(zv), jackknife=True), "tanh: conditional vs dense vertices")
    # Negative control: a 3 % larger C_W in the last layer is seen.
    off = deepeft.Network([2, 8, 6, 8], activation="tanh", cw=[1.5, 1.5, 1.5 * 1.03], cb=0.2)
    other = deepeft.sample(off, x, networks=20_000, seed=SEED + 2, method="conditional", order=2)
    assert np.max(np.abs(two_sample_z(fast.kernel(3), other.kernel(3)))) > Z_CRIT


def test_rao_blackwell_lowers_variance():
    net = deepeft.Network([2, 8, 8, 8], activation="tanh")
    fast = deepeft.sample(net, networks=4_000, seed=SEED, method="conditional", order=4)
    ref = deepeft.sample(net, networks=4_000, seed=SEED, method="dense", order=4)
    assert fast.kernel(3).stderr.item() < ref.kernel(3).stderr.item()
    assert fast.moment(3, (0, 0, 1, 1), (0,) * 4).stderr < ref.moment(3, (0, 0, 1, 1), (0,) * 4).stderr


def test_auto_picks_cheapest_exact_method():
    assert deepeft.sample(LINEAR, networks=64, seed=0).method == "radial"
    tanh = deepeft.Network([2, 4, 4], activation="tanh")
    assert deepeft.sample(tanh, networks=64, seed=0).method == "conditional"
    assert deepeft.sample(BIASED, X2, networks=64, seed=0).method == "conditional"
    ortho = deepeft.Network([3, 3, 3], init="orthogonal", cb=0.1)
    assert deepeft.sample(ortho, networks=64, seed=0).method == "conditional"
    assert deepeft.sample(ortho, np.eye(3), networks=64, seed=0).method == "conditional"
    assert deepeft.sample(ortho, np.ones((4, 3)), networks=64, seed=0).method == "dense"


# ================================================================ the Estimates object
def test_estimates_attributes_and_export():
    est = deepeft.sample(BIASED, X2, networks=256, seed=3, method="dense", layers=[3, 1], order=4)
    assert est.layers == (1, 3)
    assert (est.networks, est.seed, est.method, est.order) == (256, 3, "dense", 4)
    assert est.network is BIASED
    np.testing.assert_array_equal(est.x, X2)
    assert est.elapsed > 0
    k = est.kernel(3)
    assert k.mean.shape == k.stderr.shape == (2, 2)
    assert k.count == 256
    np.testing.assert_array_equal(k.mean, k.mean.T)
    d = json.loads(json.dumps(est.to_dict()))
    assert d["network"]["widths"] == [3, 10, 8, 12]
    assert d["kernel"]["3"]["mean"] == k.mean.tolist()
    assert est.vertex(3).mean.shape == (2, 2, 2, 2)
    m = est.moment(3, (5, 5, 2, 2), (0, 1, 1, 1))
    assert m.mean == est.moment(3, (1, 0, 1, 0), (1, 1, 0, 1)).mean  # only the pattern matters
    assert "Estimates(" in repr(est)


def test_progress_bar_appears_only_for_runs_longer_than_a_second(capsys, monkeypatch):
    from deepeft.sampling import _core

    deepeft.sample(LINEAR, networks=100, seed=0, progress=True)
    assert "networks/s" not in capsys.readouterr().err  # a quick run stays silent
    monkeypatch.setattr(_core, "SHOW_AFTER", 0.0)
    deepeft.sample(LINEAR, networks=100_000, seed=0, chunk_size=1000, progress=True)
    assert "networks/s" in capsys.readouterr().err


def test_default_input_is_ones():
    est = deepeft.sample(deepeft.Network([5, 3]), networks=64, seed=0)
    np.testing.assert_array_equal(est.x, np.ones((1, 5)))
    assert est.kernel(1).mean.item() == pytest.approx(1.0)


# ================================================================ bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"networks": 0}, ValueError, "`networks` must be an integer >= 1"),
        ({"networks": 2.5}, TypeError, "`networks` must be an integer"),
        ({"seed": -1}, ValueError, "`seed` must be a non-negative integer"),
        ({"seed": "abc"}, TypeError, "`seed` must be a non-negative integer"),
        (
            {"method": "fast"},
            ValueError,
            "`method` must be one of ['auto', 'radial', 'conditional', 'dense']",
        ),
        ({"method": 3}, TypeError, "`method` must be one of"),
        ({"chunk_size": 0}, ValueError, "`chunk_size` must be an integer >= 1"),
        ({"order": 7}, ValueError, "`order` must be an integer in [2, 3, 4, 5, 6]"),
        ({"order": 1}, ValueError, "`order` must be an integer in [2, 3, 4, 5, 6]"),
        ({"order": 4.0}, TypeError, "`order` must be an integer"),
        ({"layers": [0]}, ValueError, "`layers` must be an integer in [1, 4]"),
        ({"layers": [5]}, ValueError, "`layers` must be an integer in [1, 4]"),
        ({"layers": []}, ValueError, "`layers` must name at least one layer"),
        ({"layers": "1"}, TypeError, "`layers` must be None, a layer index"),
        ({"progress": "yes"}, TypeError, "`progress` must be True or False"),
        ({"x": np.ones(4)}, ValueError, "`x` must have input dimension n0=3"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    kwargs = {"networks": 10, **kwargs}
    with pytest.raises(exc, match=re.escape(match)):
        deepeft.sample(LINEAR, **kwargs)


def test_bad_network_type():
    with pytest.raises(TypeError, match=re.escape("`net` must be a deepeft.Network")):
        deepeft.sample("net")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("net", "x", "method", "match"),
    [
        (BIASED, X2, "radial", "method='radial' needs exactly one input, got N_D=2"),
        (
            deepeft.Network([2, 3, 3], activation="tanh"),
            None,
            "radial",
            "positively homogeneous activation",
        ),
        (deepeft.Network([3, 3, 3], init="orthogonal", cb=0.1), None, "radial", "needs no biases"),
        (
            deepeft.Network([2, 2, 2], init="orthogonal"),
            np.ones((3, 2)),
            "conditional",
            "needs at most n=2 inputs, got N_D=3",
        ),
        (
            deepeft.Network([2, 3, 3], init="orthogonal"),
            None,
            "dense",
            "needs square weight matrices",
        ),
        (deepeft.Network([2, 3, 3], init="orthogonal"), None, "auto", "no sampling method applies"),
    ],
)
def test_method_does_not_apply(net, x, method, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        deepeft.sample(net, x, networks=10, method=method)


def test_not_applicable_lists_alternatives():
    with pytest.raises(ValueError, match=re.escape("methods that apply here: ['conditional', 'dense']")):
        deepeft.sample(BIASED, X2, networks=10, method="radial")


def test_bad_queries():
    est = deepeft.sample(BIASED, X2, networks=64, seed=0, method="dense", layers=[2], order=4)
    with pytest.raises(ValueError, match=re.escape("`layer` 3 was not sampled; the sampled layers are [2]")):
        est.kernel(3)
    with pytest.raises(ValueError, match=re.escape("`layer` must be an integer in [1, 3]")):
        est.kernel(0)
    with pytest.raises(ValueError, match=re.escape("`neurons` entries must be in [0, 7]")):
        est.moment(2, (8, 8), (0, 0))
    with pytest.raises(ValueError, match=re.escape("`inputs` entries must be in [0, 1]")):
        est.moment(2, (0, 0), (0, 2))
    with pytest.raises(ValueError, match="must have the same length"):
        est.moment(2, (0, 0), (0,))
    with pytest.raises(ValueError, match="at least one point"):
        est.moment(2, (), ())
    with pytest.raises(ValueError, match=re.escape("order=4; sample again with order=6")):
        est.moment(2, (0,) * 6, (0,) * 6)
    low = deepeft.sample(BIASED, X2, networks=64, seed=0, method="dense", order=2)
    with pytest.raises(ValueError, match="`vertex` needs 4-point statistics"):
        low.vertex(2)
    high = deepeft.sample(deepeft.Network([2, 1, 3]), networks=64, seed=0, method="dense", order=6)
    with pytest.raises(ValueError, match=re.escape("`vertex` needs two distinct neurons; layer 1 has n_1=1")):
        high.vertex(1)
    with pytest.raises(ValueError, match="exactly 0 by the sign symmetry"):
        high.moment(2, (0, 0, 0, 1, 1, 1), (0,) * 6)


# ================================================================ heavier variants
@pytest.mark.slow
def test_slow_six_point_cumulants_against_theory(linear_theory):
    est = deepeft.sample(BIASED, X2, networks=2_000_000, seed=SEED, method="conditional", order=6)
    zc = []
    for layer in (2, 3):
        for p in est.patterns(layer):
            if is_even(p) and pattern_order(p) == 6:
                zc.append(est.cumulant(layer, *points(p)).z(linear_theory.cumulant(layer, *points(p))))
    assert_z(zc, z_bound(len(zc), jackknife=True), "6-pt cumulants vs LinearTheory")


@pytest.mark.slow
def test_slow_dense_vs_conditional_six_point_tanh():
    net = deepeft.Network([2, 12, 12, 12], activation="tanh", cw=1.3, cb=0.1)
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    fast = deepeft.sample(net, x, networks=400_000, seed=SEED, method="conditional", order=6)
    ref = deepeft.sample(net, x, networks=400_000, seed=SEED + 1, method="dense", order=6)
    z = []
    for p in fast.patterns(3):
        if is_even(p):
            z.append(two_sample_z(fast.moment(3, *points(p)), ref.moment(3, *points(p))))
    assert_z(z, z_bound(len(z)), "tanh 6-pt: conditional vs dense")


@pytest.mark.slow
def test_slow_reference_values_r1():
    """THEORY.md §8 R1a/b/d: linear, n = 10, C_W = 1, G^(0) = 1, layer 5."""
    net = deepeft.Network([1] + [10] * 5)
    est = deepeft.sample(net, networks=4_000_000, seed=SEED, order=6, layers=[5])
    assert est.method == "radial"
    z = [
        est.moment(5, (0, 0, 1, 1), (0,) * 4).z(1296 / 625),
        est.moment(5, (0, 0, 1, 1, 2, 2), (0,) * 6).z(3111696 / 390625),
    ]
    assert_z(z, z_bound(2), "R1a, R1d moments")
    zc = [
        est.cumulant(5, (0, 0, 1, 1), (0,) * 4).z(671 / 625),
        est.vertex(5).z(np.full((1, 1, 1, 1), 10.736)).item(),
        est.cumulant(5, (0, 0, 1, 1, 2, 2), (0,) * 6).z(1462946 / 390625),
    ]
    assert_z(zc, z_bound(3, jackknife=True), "R1b, R1d cumulants")
    # Negative control: the leading-order V = 8 G² is excluded.
    assert abs(est.vertex(5).z(np.full((1, 1, 1, 1), 8.0)).item()) > Z_CRIT
