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


def describe(runs) -> str:
    """n (networks), widths, method and seed of the runs behind a z-score (STYLE.md B10)."""
    runs = runs if isinstance(runs, tuple) else (runs,)
    return "; ".join(
        f"n={r.networks:,} networks, widths={list(r.network.widths)}, method={r.method}, seed={r.seed}" for r in runs
    )


def assert_z(z, bound, what, runs):
    """Every |z| <= bound; ``runs`` (an Estimates or a tuple of them) are described on failure."""
    z = np.atleast_1d(np.asarray(z, dtype=float))
    worst = float(np.max(np.abs(z)))
    assert worst <= bound, f"{what}: max|z| = {worst:.2f} > {bound:.2f} ({len(z)} checks; {describe(runs)})"


def assert_power(z, what, runs, bound=Z_CRIT):
    """Negative control: some |z| > bound, i.e. the test can tell the wrong value apart."""
    z = np.atleast_1d(np.asarray(z, dtype=float))
    worst = float(np.max(np.abs(z)))
    assert worst > bound, f"{what}: max|z| = {worst:.2f} <= {bound:.2f}, no power ({describe(runs)})"


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
    assert_z(z, z_bound(len(z)), "dense moments vs closed forms", est)
    zc = []
    for layer in range(2, 5):
        hidden = [8] * (layer - 1)
        g4 = math.prod(_c(n, 2) for n in hidden)
        g6 = math.prod(_c(n, 3) for n in hidden)
        zc.append(est.cumulant(layer, (0, 0, 1, 1), (0,) * 4).z(g4 - 1))
        zc.append(est.cumulant(layer, (0, 0, 1, 1, 2, 2), (0,) * 6).z(g6 - 3 * g4 + 2))
        zc.append(est.vertex(layer).z(np.full((1, 1, 1, 1), 8 * (g4 - 1))).item())
    assert_z(zc, z_bound(len(zc), jackknife=True), "dense cumulants vs closed forms", est)


def test_dense_negative_controls():
    est = deepeft.sample(LINEAR, networks=20_000, seed=SEED, method="dense", order=4)
    # The Gaussian (infinite-width) value 0 for the connected 4-pt at layer 3 is excluded...
    assert_power(est.cumulant(3, (0, 0, 1, 1), (0,) * 4).z(0.0), "negative control", est)
    # ...and so is a 3 % wrong C_W in the first layer.
    assert_power(est.kernel(1).z(np.full((1, 1), 1.03)).item(), "negative control", est)


def test_dense_odd_patterns_vanish():
    est = deepeft.sample(BIASED, X2, networks=10_000, seed=SEED, method="dense", order=4)
    z = []
    for layer in est.layers:
        for p in est.patterns(layer):
            if not is_even(p):
                z.append(est.moment(layer, *points(p)).z(0.0))
    assert len(z) > 50
    assert_z(z, z_bound(len(z)), "odd patterns", est)
    # Negative control: a mean of 5 % of the standard deviation, E z = 0.05 √K^(1), is excluded.
    k1 = deepeft.theory(BIASED, X2).kernel(1)[0, 0]
    assert_power(est.moment(1, (0,), (0,)).z(0.05 * math.sqrt(k1)), "odd patterns: mean 0.05 √K", est)


@pytest.fixture(scope="module")
def linear_theory():
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
    assert_z(zm, z_bound(len(zm)), f"{method}: moments vs LinearTheory", est)
    assert_z(zc, z_bound(len(zc), jackknife=True), f"{method}: cumulants/vertices vs LinearTheory", est)


def test_conditional_with_singular_kernel():
    """Duplicate / dependent inputs make Ĝ singular: the sampler falls back from Cholesky."""
    net = deepeft.Network([2, 6, 5, 6])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    th = deepeft.theory(net, x)
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, method="conditional", order=4)
    z = [est.kernel(l).z(th.kernel(l)) for l in est.layers]
    assert_z(z, z_bound(16 * 3), "singular Ĝ: kernel", est)
    assert_z(est.vertex(3).z(th.vertex(3)), z_bound(256, jackknife=True), "singular Ĝ: vertex", est)
    # Negative control: a 5 % larger C_W in the last layer is excluded.
    off = deepeft.theory(deepeft.Network([2, 6, 5, 6], cw=[1.0, 1.0, 1.05]), x)
    assert_power(est.kernel(3).z(off.kernel(3)), "singular Ĝ: 5 % wrong C_W", est)


@pytest.mark.parametrize("method", ["conditional", "radial"])
def test_biases_in_deep_layers_against_exact_theory(method):
    """Biases in layers >= 2 dominate Ĝ there: a 5 % error in a deep C_b must show.

    Linear network, one input with G^(0) = 1, C_b = 0 in layer 1 and 1.0 afterwards, so
    K^(2) = 2, K^(3) = 3. A 5 % error in C_b^(l) shifts K^(l) by 0.05. Ĝ^(2) = C_b + (1/8) Σ z^(1)²
    has spread √(2/8) = 0.5, Ĝ^(3) about 1.14: at 80k networks the s.e. are 0.0018 and 0.004,
    so the shifts are at z ≈ 28 and 12.
    """
    net = deepeft.Network([1, 8, 8, 8], cb=[0.0, 1.0, 1.0])
    th = deepeft.theory(net)
    est = deepeft.sample(net, networks=80_000, seed=SEED, method=method, order=4)
    z = []
    for layer in est.layers:
        z.append(est.kernel(layer).z(th.kernel(layer)).item())
        z.append(est.moment(layer, (0, 0, 1, 1), (0,) * 4).z(th.moment(layer, (0, 0, 1, 1), (0,) * 4)))
    assert_z(z, z_bound(len(z)), f"{method}: deep biases vs exact theory", est)
    for layer, cb in ((2, [0.0, 1.05, 1.0]), (3, [0.0, 1.0, 1.05])):
        wrong = deepeft.theory(deepeft.Network([1, 8, 8, 8], cb=cb))
        zw = est.kernel(layer).z(wrong.kernel(layer))
        assert_power(zw, f"{method}: 5 % wrong C_b in layer {layer}", est)


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
    assert_power(est.vertex(3).z(wrong), "negative control", est)


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
    assert_z(z, z_bound(len(z)), f"orthogonal {method} moments", est)
    assert_z(zc, z_bound(len(zc), jackknife=True), f"orthogonal {method} cumulants (THEORY.md §2.2)", est)
    if method == "dense":
        # Negative control: the Gaussian-weight value at layer 3 is excluded.
        gauss = (_c(n, 2) ** 2 - 1) * 1.2**6
        assert_power(est.cumulant(3, (0, 0, 1, 1), (0,) * 4).z(gauss), "negative control", est)


@pytest.mark.parametrize("method", ["dense", "conditional"])
def test_orthogonal_multi_input_vertex(method):
    """THEORY.md §8 R9: n = 4, G^(0) = I_2, no biases."""
    net = deepeft.Network([4, 4, 4], init="orthogonal")
    x = 2.0 * np.eye(4)[:2]
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, method=method)
    v = est.vertex(2)
    exact = {(0, 0, 0, 0): -4 / 3, (0, 1, 0, 1): -8 / 9, (0, 0, 1, 1): 4 / 9}
    z = [v[k].z(val) for k, val in exact.items()]
    assert_z(z, z_bound(3, jackknife=True), "orthogonal multi-input V", est)
    assert_power(v[0, 0, 1, 1].z(0.0), "negative control", est)  # the leading-order value 0 is excluded


@pytest.mark.parametrize("method", ["dense", "conditional"])
def test_orthogonal_multi_input_against_theory(method):
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
    assert_z(zm, z_bound(len(zm)), f"orthogonal {method}: moments vs OrthogonalLinearTheory", est)
    assert_z(zc, z_bound(len(zc), jackknife=True), f"orthogonal {method}: cumulants vs theory", est)
    # Negative control: Gaussian weights with the same C_W (LinearTheory) are excluded.
    gauss = deepeft.theory(deepeft.Network([5, 5, 5, 5], cw=[1.1, 0.9, 1.3]), x)
    assert_power(est.vertex(3).z(gauss.vertex(3)), f"orthogonal {method}: Gaussian-weight V", est)


def test_orthogonal_radial_linear_is_exact():
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
    assert_z(z, z_bound(len(z)), f"orthogonal {activation}: radial vs dense", (fast, ref))
    # Negative control: Gaussian weights with the same C_W, at the same run size, are told apart.
    gauss = deepeft.sample(deepeft.Network([6] * 4, activation=activation, cw=1.5), networks=20_000, seed=SEED + 2)
    zg = [
        two_sample_z(gauss.moment(3, *points(p)), ref.moment(3, *points(p)))
        for p in fast.patterns(3)
        if is_even(p) and pattern_order(p) == 4
    ]
    assert_power(zg, f"orthogonal {activation}: Gaussian weights vs dense", (gauss, ref))


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
    assert_z(z, z_bound(len(z)), f"orthogonal {activation}: conditional vs dense moments", (fast, ref))
    assert_z(zv, z_bound(len(zv), jackknife=True), f"orthogonal {activation}: conditional vs dense V", (fast, ref))
    # Negative control: Gaussian weights with the same C_W, C_b are told apart.
    gauss = deepeft.Network([5] * 4, activation=activation, cw=1.5, cb=0.2)
    other = deepeft.sample(gauss, x, networks=20_000, seed=SEED + 2, method="conditional", order=4)
    assert_power(two_sample_z(fast.vertex(3), other.vertex(3)), "negative control", (fast, other))


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
    assert_z(z, z_bound(4), "radial R2 moments", est)
    assert_z(est.vertex(3).z(np.full((1, 1, 1, 1), 14.75)), Z_CRIT, "radial R2 vertex", est)
    # Negative control: the leading-order (1/n-truncated) recursion gives V^(3) = 12.5.
    assert_power(est.vertex(3).z(np.full((1, 1, 1, 1), 12.5)).item(), "negative control", est)


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
    assert_z(z, z_bound(len(z)), "radial ReLU moments (THEORY.md §3.4)", est)
    # Negative control: the linear-network factor (1 + 2/n) instead of ReLU's (1 + 5/n).
    wrong = 4 * math.prod(_c(n, 2) for n in widths[1:4])
    assert_power(est.moment(4, (0, 0, 1, 1), (0,) * 4).z(wrong), "negative control", est)


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
    assert_z(z, z_bound(len(z)), f"{activation}: radial vs dense", (fast, ref))
    # Negative control at the same run size: a radial run with a 15 % larger C_W in the last
    # layer is told apart from dense (|z| ≈ 10). Errors below ~10 % in deep layers are beyond
    # this test's resolution (dense is the noisy side); test_radial_relu_exact_moments checks
    # radial against exact theory with 200k networks.
    off = deepeft.Network([3, 7, 5, 6], activation=activation, cw=[1.7, 1.7, 1.7 * 1.15], cb=0.3)
    other = deepeft.sample(off, networks=20_000, seed=SEED + 2, method="radial", order=2)
    assert_power(two_sample_z(other.kernel(3), ref.kernel(3)), f"{activation}: 15 % wrong C_W", (other, ref))


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
    assert_z(z, z_bound(len(z)), "tanh: conditional vs dense moments", (fast, ref))
    assert_z(zv, z_bound(len(zv), jackknife=True), "tanh: conditional vs dense vertices", (fast, ref))
    # Negative control: a 3 % larger C_W in the last layer is seen.
    off = deepeft.Network([2, 8, 6, 8], activation="tanh", cw=[1.5, 1.5, 1.5 * 1.03], cb=0.2)
    other = deepeft.sample(off, x, networks=20_000, seed=SEED + 2, method="conditional", order=2)
    assert_power(two_sample_z(fast.kernel(3), other.kernel(3)), "negative control", (fast, other))


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
    assert_z(zc, z_bound(len(zc), jackknife=True), "6-pt cumulants vs LinearTheory", est)
    # Negative control: the Gaussian (infinite-width) value 0 of the 6-pt cumulants is excluded.
    z0 = [
        est.cumulant(l, *points(p)).z(0.0)
        for l in (2, 3)
        for p in est.patterns(l)
        if is_even(p) and pattern_order(p) == 6
    ]
    assert_power(z0, "6-pt cumulants: Gaussian value 0", est)


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
    assert_z(z, z_bound(len(z)), "tanh 6-pt: conditional vs dense", (fast, ref))


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
    assert_z(z, z_bound(2), "R1a, R1d moments", est)
    zc = [
        est.cumulant(5, (0, 0, 1, 1), (0,) * 4).z(671 / 625),
        est.vertex(5).z(np.full((1, 1, 1, 1), 10.736)).item(),
        est.cumulant(5, (0, 0, 1, 1, 2, 2), (0,) * 6).z(1462946 / 390625),
    ]
    assert_z(zc, z_bound(3, jackknife=True), "R1b, R1d cumulants", est)
    # Negative control: the leading-order V = 8 G² is excluded.
    assert_power(est.vertex(5).z(np.full((1, 1, 1, 1), 8.0)).item(), "negative control", est)


# ================================================================ memory-bounded feature evaluation
def test_feature_runs_and_network_groups_are_bit_identical(monkeypatch):
    """Features computed in runs of columns and groups of networks equal the one-shot values."""
    from deepeft.sampling import _methods

    rng = np.random.default_rng(SEED)
    pats = enumerate_patterns(2, 6)
    z = rng.standard_normal((37, 5, 2))
    a = rng.standard_normal((37, 2, 2))
    draws = (Preactivations(z), GaussianGivenKernel(a @ a.transpose(0, 2, 1)))
    whole = [LayerFeatures(pats, 5, 2, 6, rows=1)(d) for d in draws]  # one table
    monkeypatch.setattr(_methods, "STEP_ELEMENTS", 64)  # tiny runs and network groups
    small = LayerFeatures(pats, 5, 2, 6, rows=4)
    assert len(small._table("ustat")) > 10
    for d, ref in zip(draws, whole, strict=True):
        np.testing.assert_array_equal(small(d), ref)


def test_many_patterns_stay_within_memory(monkeypatch):
    """N_D = 6, order 6: 6,425 patterns; a block's (networks × features) array is never held whole."""
    import tracemalloc

    from deepeft.sampling import _methods

    monkeypatch.setattr(_methods, "STEP_ELEMENTS", 2**16)
    net = deepeft.Network([6, 32, 32], cb=0.1)
    x = np.random.default_rng(SEED).standard_normal((6, 6))
    tracemalloc.start()
    try:
        est = deepeft.sample(net, x, networks=2048, order=6, method="conditional", layers=[2])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n_feat = len(est.patterns(2))
    assert n_feat == 6425
    whole_block = est.block_size * n_feat * 8  # one (networks, features) float64 array: 50 MiB
    assert peak < whole_block / 2, f"peak {peak / 2**20:.1f} MiB vs one block of features {whole_block / 2**20:.1f} MiB"


# ================================================================ float64 range
def test_underflow_warns():
    net = deepeft.Network([1] + [2] * 2000)  # every network's kernel underflows to 0 (exact: 1)
    with pytest.warns(deepeft.sampling.SamplingAccuracyWarning, match="layer 2000 .* underflowed to exactly 0") as rec:
        deepeft.sample(net, networks=64, layers=[2000], method="dense")
    assert rec[0].filename == __file__  # points at the caller
    with pytest.warns(deepeft.sampling.SamplingAccuracyWarning, match="fewer layers"):
        deepeft.sample(net, networks=64, layers=[2000], method="radial")


def test_overflow_warns():
    net = deepeft.Network([1] + [2] * 300, cw=30.0)
    with pytest.warns(deepeft.sampling.SamplingAccuracyWarning, match="layer 300 .* non-finite values"):
        deepeft.sample(net, networks=64, layers=[300], method="conditional")
    with pytest.warns(deepeft.sampling.SamplingAccuracyWarning, match="under- or overflow"):
        deepeft.sample(deepeft.Network([1] + [2] * 120, cw=30.0), networks=64, layers=[120], order=6)


def test_no_warning_for_dead_relu_or_zero_inputs():
    # Narrow ReLU layers die with positive probability: exact zeros are genuine there.
    deepeft.sample(deepeft.Network([1, 1, 1, 1], activation="relu"), networks=256, method="dense")
    # A zero input without biases has a zero kernel.
    deepeft.sample(deepeft.Network([2, 4, 4]), np.array([[0.0, 0.0], [1.0, 0.0]]), networks=64, method="dense")


# ================================================================ raw draws
def _draw_stats(z):
    """Per-network statistics of z (networks, n, N_D): mean z, mean z², mean z⁴, z_0² z_1², cross."""
    out = [z.mean(axis=1), (z**2).mean(axis=1), (z**4).mean(axis=1), z[:, 0] ** 2 * z[:, 1] ** 2]
    if z.shape[2] > 1:
        out.append((z[:, :, 0] * z[:, :, 1]).mean(axis=1)[:, None])
    return np.concatenate(out, axis=1)


def _draw_z(a, b):
    sa, sb = _draw_stats(a), _draw_stats(b)
    se = np.hypot(sa.std(axis=0, ddof=1) / math.sqrt(len(sa)), sb.std(axis=0, ddof=1) / math.sqrt(len(sb)))
    return (sa.mean(axis=0) - sb.mean(axis=0)) / se


@pytest.mark.parametrize(
    ("net", "x", "methods"),
    [
        (deepeft.Network([1, 6, 5, 7], activation="relu", cw=1.7, cb=0.3), None, ("radial", "conditional")),
        (
            deepeft.Network([2, 6, 5, 7], activation="tanh", cw=1.5, cb=0.2),
            np.array([[1.0, 0.0], [0.6, 0.8]]),
            ("conditional",),
        ),
        (deepeft.Network([5] * 3, activation="tanh", init="orthogonal", cw=1.5), None, ("radial", "conditional")),
    ],
)
def test_draw_agrees_in_law_with_dense(net, x, methods):
    n = 80_000  # draws are cheap; at this size a 10 % error in the last C_W is at |z| ≈ 9
    ref = deepeft.sampling.draw(net, x, networks=n, seed=SEED, method="dense")
    for method in methods:
        z = deepeft.sampling.draw(net, x, networks=n, seed=SEED + 1, method=method)
        assert z.shape == ref.shape == (n, net.widths[-1], 1 if x is None else len(x))
        zs = _draw_z(z, ref)
        assert np.max(np.abs(zs)) <= z_bound(zs.size), (
            f"draw {method} vs dense: max|z| = {np.max(np.abs(zs)):.2f} (n={n}, widths={list(net.widths)}, seed={SEED})"
        )
    # Negative control: a 10 % larger C_W in the last layer is told apart at the same size.
    cw = list(net.cw)
    cw[-1] *= 1.10
    off = deepeft.Network(list(net.widths), activation=net.activation, cw=cw, cb=list(net.cb), init=net.init)
    zw = _draw_z(deepeft.sampling.draw(off, x, networks=n, seed=SEED + 2, method=methods[0]), ref)
    assert np.max(np.abs(zw)) > Z_CRIT, (
        f"draw: no power against 10 % wrong C_W (n={n}, widths={list(net.widths)}, seed={SEED})"
    )


def test_draw_reproducible_and_layers():
    net = deepeft.Network([1, 6, 5, 7], activation="relu", cb=0.3)
    for method in ("dense", "conditional", "radial"):
        a = deepeft.sampling.draw(net, networks=300, seed=4, method=method, layer=2)
        b = deepeft.sampling.draw(net, networks=300, seed=4, method=method, layer=2)
        np.testing.assert_array_equal(a, b)
        assert a.shape == (300, 5, 1)
        block = deepeft.sampling.METHODS[method].block_size(net, 1)
        if block < 300:  # a longer run reuses the complete blocks
            c = deepeft.sampling.draw(net, networks=2 * block, seed=4, method=method, layer=2)
            np.testing.assert_array_equal(a[:block], c[:block])
    assert deepeft.sampling.draw(net, networks=3).shape == (3, 7, 1)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"layer": 0}, ValueError, "`layer` must be an integer in [1, 3]"),
        ({"layer": 4}, ValueError, "`layer` must be an integer in [1, 3]"),
        ({"networks": 0}, ValueError, "`networks` must be an integer >= 1"),
        ({"networks": -5}, ValueError, "`networks` must be an integer >= 1"),
        ({"method": "fast"}, ValueError, "`method` must be one of"),
        ({"x": np.ones((2, 2))}, ValueError, "`x` must have input dimension n0=1"),
    ],
)
def test_draw_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        deepeft.sampling.draw(deepeft.Network([1, 3, 3, 3]), **kwargs)
