"""Exact output distributions: closed forms, mpmath, exact moments, consistency, Monte Carlo, errors.

Reference values: THEORY.md §8 (R3, R8a–R8c) and closed forms; mpmath values are
computed live at ``mp.dps = 30`` (small depths only; larger depths are ``slow``).
Monte Carlo tests follow STYLE.md B10: a fixed seed, z-scores in units of the
binomial standard error of each bin, a Bonferroni-aware threshold and a negative
control showing that the test has power.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special, stats

import deepeft
from deepeft import Network
from deepeft.distributions import (
    KINDS,
    CoordinateLaw,
    LogGammaSum,
    LogLaw,
    NormSquaredLaw,
    SphereCoordinateLaw,
    output_distribution,
)

SEED = 20240917
Z_CRIT = 5.0


# ----------------------------------------------------------------------------- helpers
def mp_density(widths, cw, g0, z, dps=30):
    """THEORY.md §2.1 Meijer-G density of one output coordinate, with mpmath."""
    with mp.workdps(dps):
        depth = len(widths) - 1
        hidden = widths[1:-1]
        g = mp.mpf(g0) * mp.fprod([mp.mpf(c) for c in cw])
        c = mp.mpf(2) ** depth * g / mp.fprod([mp.mpf(n) for n in hidden])
        b = [mp.mpf(n - 1) / 2 for n in hidden] + [mp.mpf(0)]
        pre = 1 / (mp.sqrt(mp.pi) * mp.sqrt(c) * mp.fprod([mp.gamma(mp.mpf(n) / 2) for n in hidden]))
        return pre * mp.meijerg([[], []], [b, []], mp.mpf(z) ** 2 / c)


def c2k(n, k):
    """E[(χ²_n/n)^k] = Π_{s<k} (1 + 2s/n)  (PDLT eq. 3.46)."""
    return math.prod(1 + 2 * s / n for s in range(k))


def double_factorial(m):
    return math.prod(range(m, 0, -2)) if m > 0 else 1


def simulate_matrices(net, x, networks, rng):
    """One output coordinate of `networks` random networks with full weight matrices."""
    z = np.broadcast_to(x, (networks, net.n0)).astype(float)
    for layer in range(1, net.depth + 1):
        n_in, n_out = net.widths[layer - 1], net.widths[layer]
        h = z if layer == 1 else net.activation(z)
        if net.init == "orthogonal":
            q, r = np.linalg.qr(rng.standard_normal((networks, n_out, n_in)))
            q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
            z = math.sqrt(net.cw[layer - 1]) * np.einsum("bij,bj->bi", q, h)
        else:
            w = rng.standard_normal((networks, n_out, n_in)) * math.sqrt(net.cw[layer - 1] / n_in)
            z = np.einsum("bij,bj->bi", w, h)
    return z[:, 0]


def bin_zscores(sample, edges, probs):
    """z-scores of bin counts against expected probabilities (binomial standard errors)."""
    counts = np.histogram(sample, bins=edges)[0]
    n = sample.size
    return (counts - n * probs) / np.sqrt(n * probs * (1 - probs))


# ----------------------------------------------------------------------------- closed forms
class TestClosedForms:
    def test_product_of_two_normals_is_bessel_k0(self):
        d = output_distribution(Network([1, 1, 1]))
        z = np.array([1e-12, 1e-6, 1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0, 600.0])
        ref = np.log(special.k0e(z)) - z - math.log(math.pi)
        assert np.all(np.abs(d.logpdf(z) - ref) <= 1e-12 * np.maximum(1, np.abs(ref)))
        np.testing.assert_allclose(d.pdf(-z[:8]), special.k0(z[:8]) / math.pi, rtol=1e-12)
        assert d.pdf(1.0) == pytest.approx(0.134016241017, rel=1e-11)  # THEORY.md R8b
        assert d.pdf(0.0) == np.inf  # log divergence (hidden width 1), never NaN

    def test_product_of_two_normals_tail_probability(self):
        d = output_distribution(Network([1, 1, 1]))
        for t in (0.01, 0.5, 3.0, 20.0):
            tail = integrate.quad(lambda u: special.k0e(u) * math.exp(-u) / math.pi, t, np.inf,
                                  epsabs=0, epsrel=1e-13, limit=200)[0]
            assert d.sf(t) == pytest.approx(tail, rel=1e-10)
            assert d.cdf(-t) == pytest.approx(tail, rel=1e-10)

    def test_width_two_is_laplace(self):
        d = output_distribution(Network([1, 2, 2]))
        z = np.array([1e-9, 0.3, 1.0, 4.0, 30.0, 300.0])
        np.testing.assert_allclose(d.logpdf(z), -math.sqrt(2) * z - 0.5 * math.log(2), rtol=1e-13, atol=1e-14)
        assert d.pdf(1.0) == pytest.approx(0.171909491538, rel=1e-11)  # THEORY.md R8b
        assert d.pdf(0.0) == pytest.approx(1 / math.sqrt(2), rel=1e-13)  # finite: hidden width 2
        np.testing.assert_allclose(d.sf(z), 0.5 * np.exp(-math.sqrt(2) * z), rtol=1e-12)
        np.testing.assert_allclose(d.logcdf(-z), math.log(0.5) - math.sqrt(2) * z, rtol=1e-13)
        assert d.ppf(0.25) == pytest.approx(-math.log(2) / math.sqrt(2), rel=1e-12)

    def test_depth_one_is_gaussian_any_activation_and_bias(self):
        x = np.array([1.0, -2.0, 0.5])
        net = Network([3, 4], activation="tanh", cw=1.7, cb=0.3)
        var = 0.3 + 1.7 * (x @ x) / 3
        d = output_distribution(net, x)
        ref = stats.norm(0, math.sqrt(var))
        z = np.array([-40.0, -5.0, -1.0, 0.0, 0.2, 3.0, 12.0])
        np.testing.assert_allclose(d.pdf(z), ref.pdf(z), rtol=1e-12)
        np.testing.assert_allclose(d.logpdf(z), ref.logpdf(z), rtol=1e-13)
        np.testing.assert_allclose(d.cdf(z), ref.cdf(z), rtol=1e-12)
        np.testing.assert_allclose(d.logsf(z), ref.logsf(z), rtol=1e-12)
        q = np.array([1e-300, 1e-10, 0.3, 0.5, 0.9, 1 - 1e-12])
        np.testing.assert_allclose(d.ppf(q), ref.ppf(q), rtol=1e-10)
        assert d.var() == pytest.approx(var, rel=1e-14)
        assert d.family == "gaussian"

    def test_theory_r8a_per_layer_widths_and_cw(self):
        # widths [3,5,8,6], C_W = [1.2, .9, 1.1], G^(0) = 0.8: log p(z_i = 1)
        x = np.full(3, math.sqrt(0.8))
        d = output_distribution(Network([3, 5, 8, 6], cw=[1.2, 0.9, 1.1]), x)
        assert d.logpdf(1.0) == pytest.approx(-1.650573769469, abs=1e-11)

    def test_theory_r8c_depth_100(self):
        net = Network([1] + [10] * 100)
        assert output_distribution(net).logpdf(1.0) == pytest.approx(-5.1493833291, abs=1e-9)
        log_law = output_distribution(net, kind="log_coordinate_squared")
        assert log_law.mean() == pytest.approx(-11.4990670017, abs=1e-9)
        assert log_law.var() == pytest.approx(26.8457748185, abs=1e-9)
        assert log_law.logpdf(0.0) == pytest.approx(-5.1493833291, abs=1e-9)

    def test_symmetric_activation_equals_linear(self):
        x = np.array([0.4, 1.3])
        lin = output_distribution(Network([2, 3, 4, 2], cw=[1.0, 1.5, 0.5]), x)
        absolute = output_distribution(Network([2, 3, 4, 2], deepeft.activations.leaky_relu(-1.0),
                                               cw=[1.0, 1.5, 0.5]), x)
        z = np.array([0.01, 0.7, 3.0])
        np.testing.assert_allclose(absolute.pdf(z), lin.pdf(z), rtol=1e-13)


# ----------------------------------------------------------------------------- mpmath
@pytest.mark.parametrize(
    ("widths", "cw", "g0"),
    [
        ([1, 10, 10], [1.0, 1.0], 1.0),
        ([2, 3, 7, 4], [1.3, 0.8, 1.1], 0.6),
        ([1, 10, 10, 10, 10, 10], [1.0] * 5, 1.0),
        ([3, 2, 5, 1, 4, 3], [0.9, 1.2, 1.0, 1.4, 0.7], 2.0),
    ],
)
def test_density_matches_mpmath_meijerg(widths, cw, g0):
    x = np.full(widths[0], math.sqrt(g0))
    d = output_distribution(Network(widths, cw=cw), x)
    z = np.array([1e-8, 1e-3, 0.2, 1.0, 3.0, 9.0]) * math.sqrt(d.var())
    ref = np.array([float(mp_density(widths, cw, g0, zz)) for zz in z])
    np.testing.assert_allclose(d.pdf(z), ref, rtol=1e-10)
    np.testing.assert_allclose(d.pdf(-z), ref, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [8, 12])
def test_density_matches_mpmath_meijerg_deeper(depth):
    widths = [1] + [3, 5] * (depth // 2) + [4]
    widths = widths[: depth + 1]
    d = output_distribution(Network(widths))
    z = np.array([1e-6, 0.05, 0.5, 2.0, 10.0])
    ref = np.array([float(mp_density(widths, [1.0] * depth, 1.0, zz)) for zz in z])
    np.testing.assert_allclose(d.pdf(z), ref, rtol=1e-10)


def test_batch_table_agrees_with_direct_evaluation():
    d_batch = output_distribution(Network([1, 4, 6, 4, 6, 3]))
    d_direct = output_distribution(Network([1, 4, 6, 4, 6, 3]))
    z = np.geomspace(1e-9, 60, 400) * np.where(np.arange(400) % 2, 1, -1)
    batch = d_batch.logpdf(z)  # >= 200 points: served by the Chebyshev table
    sub = z[::37]
    direct = np.array([d_direct.logpdf(v) for v in sub])  # one point at a time: direct integral
    np.testing.assert_allclose(batch[::37], direct, rtol=0, atol=1e-11)
    np.testing.assert_allclose(d_batch.cdf(z)[::37], [d_direct.cdf(v) for v in sub], rtol=1e-11)


# ----------------------------------------------------------------------------- exact moments, deep
class TestExactMoments:
    def test_moments_formula_and_overflow_free(self):
        widths = [2, 7, 3, 9, 5, 6]
        cw = [1.2, 0.7, 1.1, 0.9, 1.3]
        x = np.array([0.3, -1.1])
        g = (x @ x) / 2 * math.prod(cw)
        d = output_distribution(Network(widths, cw=cw), x)
        for k in (1, 2, 3, 4):
            exact = double_factorial(2 * k - 1) * math.prod(c2k(n, k) for n in widths[1:-1]) * g**k
            assert d.moment(2 * k) == pytest.approx(exact, rel=1e-12)
            assert d.moment(2 * k - 1) == 0.0
        kurt = d.stats(moments="k")
        assert kurt == pytest.approx(3 * math.prod(1 + 2 / n for n in widths[1:-1]) - 3, rel=1e-12)

    def test_normalisation_and_moments_depth_100_by_quadrature(self):
        net = Network([1] + [10] * 120)
        law = output_distribution(net, kind="log_coordinate_squared")
        m, s = law.mean(), law.std()
        v = np.linspace(m - 14 * s, m + 10 * s, 6001)
        p = law.pdf(v)
        assert integrate.simpson(p, x=v) == pytest.approx(1.0, abs=1e-10)
        assert integrate.simpson(p * v, x=v) == pytest.approx(m, abs=1e-8)
        # E z² = E e^V = G = 1 and E z⁴ = 3 c_4(10)^(L-1): Mellin-tilted integrals of the same density
        for k, exact in ((1, 1.0), (2, 3 * 1.2 ** 119)):
            w = np.linspace(m - 5 * s, m + 30 * s, 20001)
            assert integrate.simpson(law.pdf(w) * np.exp(k * w), x=w) == pytest.approx(exact, rel=1e-7)
        z = output_distribution(net)
        assert z.var() == pytest.approx(1.0, rel=1e-13)
        assert z.moment(4) == pytest.approx(3 * 1.2**119, rel=1e-12)

    @pytest.mark.parametrize("kind", ["log_norm_squared", "log_coordinate_squared"])
    def test_log_norm_cumulants(self, kind):
        # THEORY.md §1.4: κ1 = log(n_out G) + Σ[ψ(n/2) + log(2/n)], κ_m = Σ ψ^(m-1)(n/2)
        widths = [4, 6, 9, 5, 7, 8, 3]
        net = Network(widths)
        n_out = widths[-1] if kind == "log_norm_squared" else 1
        shapes = [n / 2 for n in widths[1:-1]] + [n_out / 2]
        kappa1 = math.log(n_out * 1.0) + sum(special.psi(a) + math.log(1 / a) for a in shapes)
        law = output_distribution(net, kind=kind)
        k = law.cumulants(5)
        assert k[0] == pytest.approx(kappa1, rel=1e-13)
        for m in range(2, 6):
            assert k[m - 1] == pytest.approx(sum(special.polygamma(m - 1, a) for a in shapes), rel=1e-13)
        # THEORY.md §1.4 check table (κ2, κ3 do not depend on the input; κ1 there is for an
        # input the sheet does not state)
        if kind == "log_norm_squared":
            assert (k[1], k[2]) == (pytest.approx(2.6830, abs=5e-5), pytest.approx(-1.4689, abs=5e-4))
        else:
            assert (k[1], k[2]) == (pytest.approx(6.6830, abs=5e-5), pytest.approx(-17.469, abs=5e-4))
        mean, var, skew, kurt = law.stats(moments="mvsk")
        assert (mean, var) == (pytest.approx(k[0]), pytest.approx(k[1]))
        assert skew == pytest.approx(k[2] / k[1] ** 1.5)
        assert kurt == pytest.approx(k[3] / k[1] ** 2)

    def test_depth_1e5(self):
        depth = 100_000
        law = output_distribution(Network([1] + [10] * depth), kind="log_coordinate_squared")
        # THEORY.md §2.1 check table: −10333.19144, 22137.00905. Exact (mpmath, 40 digits):
        # κ1 = log G + (L−1)[ψ(5) + log(1/5)] + ψ(½) + log 2, κ2 = (L−1) ψ'(5) + ψ'(½). A constant
        # c0 accumulated layer by layer in floats is off by ~4e-7 here (relative 3.5e-11).
        assert law.law.c0 == math.fsum([math.log(2.0)] + [math.log(0.2)] * (depth - 1))
        assert law.mean() == pytest.approx(-10333.191442831449366, rel=1e-13)
        assert law.var() == pytest.approx(22137.0090529563401, rel=1e-13)
        assert law.cumulants(1)[0] == pytest.approx(-10333.191442831449366, rel=1e-13)
        m, s = law.mean(), law.std()
        v = np.linspace(m - 12 * s, m + 9 * s, 4001)
        p = law.pdf(v)
        assert integrate.simpson(p, x=v) == pytest.approx(1.0, abs=1e-9)
        assert integrate.simpson(p * (v - m) ** 2, x=v) == pytest.approx(s**2, rel=1e-8)
        assert law.cdf(m) + law.sf(m) == pytest.approx(1.0, abs=1e-13)

    def test_norm_squared_moments(self):
        widths = [3, 5, 4, 6]
        d = output_distribution(Network(widths, cw=[1.1, 0.9, 1.3]), np.ones(3), kind="norm_squared")
        g = 1.1 * 0.9 * 1.3
        n_out = widths[-1]
        for k in (1, 2, 3):
            exact = math.prod(c2k(n, k) for n in widths[1:-1]) * g**k * math.prod(n_out + 2 * s for s in range(k))
            assert d.moment(k) == pytest.approx(exact, rel=1e-12)


# ----------------------------------------------------------------------------- generic consistency
CASES = {
    "linear-deep-narrow": lambda: output_distribution(Network([1, 3, 2, 4, 3, 2, 5, 3], cw=1.1)),
    "linear-wide": lambda: output_distribution(Network([5, 50, 80, 60, 40], cw=0.9), np.arange(1.0, 6.0)),
    "relu": lambda: output_distribution(Network([2, 3, 5, 4, 2], "relu", cw=2.0), np.array([1.0, 0.5])),
    "orthogonal": lambda: output_distribution(Network([6, 6, 6, 6], init="orthogonal", cw=1.3)),
    "orthogonal-n2": lambda: output_distribution(Network([2, 2, 2], init="orthogonal")),
    "norm-squared": lambda: output_distribution(Network([2, 4, 3, 5]), kind="norm_squared"),
    "norm-squared-relu": lambda: output_distribution(Network([2, 4, 3, 5], "relu", cw=2.0),
                                                     kind="norm_squared"),
    "log-norm": lambda: output_distribution(Network([2, 4, 3, 5]), kind="log_norm_squared"),
    "log-coordinate-relu": lambda: output_distribution(Network([1, 3, 3, 3], "relu", cw=2.0),
                                                       kind="log_coordinate_squared"),
    "log-coordinate-orthogonal": lambda: output_distribution(Network([5, 5, 5], init="orthogonal"),
                                                             kind="log_coordinate_squared"),
}


def _interior_points(d):
    q = np.array([1e-7, 1e-3, 0.05, 0.2, 0.35, 0.65, 0.8, 0.95, 0.999, 1 - 1e-7])
    x = np.asarray(d.ppf(q))
    return x[(x != 0) & (x > d.support()[0]) & (x < d.support()[1])]


@pytest.mark.parametrize("case", sorted(CASES))
def test_consistency(case):
    d = CASES[case]()
    x = _interior_points(d)
    # logpdf = log pdf, cdf + sf = 1, logcdf/logsf
    np.testing.assert_allclose(d.logpdf(x), np.log(d.pdf(x)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(d.cdf(x) + d.sf(x), 1.0, rtol=0, atol=1e-14)
    # (log cdf near 1 is more accurate than log(cdf): compare with an absolute tolerance there)
    np.testing.assert_allclose(d.logcdf(x), np.log(d.cdf(x)), rtol=1e-12, atol=2e-16)
    np.testing.assert_allclose(d.logsf(x), np.log(d.sf(x)), rtol=1e-12, atol=2e-16)
    # pdf = d cdf / dx (central differences; the cdf is independently computed)
    a, b = d.support()
    xd = x[np.minimum(x - a, b - x) > 1e-6 * np.minimum(b - a, 1e6 * d.std())]  # not at an edge
    h = np.minimum(1e-5 * np.maximum(np.abs(xd), 1e-3 * d.std()), 1e-3 * np.minimum(xd - a, b - xd))
    deriv = (d.cdf(xd + h) - d.cdf(xd - h)) / (2 * h)
    np.testing.assert_allclose(deriv, d.pdf(xd), rtol=2e-5)
    # ppf ∘ cdf and isf ∘ sf round trips
    np.testing.assert_allclose(d.ppf(d.cdf(x)), x, rtol=1e-9, atol=1e-12 * d.std())
    np.testing.assert_allclose(d.isf(d.sf(x)), x, rtol=1e-9, atol=1e-12 * d.std())
    # normalisation: continuous part + atom
    assert d.expect(lambda t: 1.0) == pytest.approx(1.0, abs=1e-8)
    # no NaN anywhere, including the boundary of the support
    edge = [p for p in (a, b, 0.0) if np.isfinite(p) and a <= p <= b]
    assert not np.any(np.isnan(d.pdf(edge)))


def test_shapes_and_scalars():
    d = output_distribution(Network([1, 3, 3]))
    assert isinstance(d, CoordinateLaw)
    assert np.ndim(d.pdf(1.0)) == 0
    assert d.pdf(np.ones((2, 3))).shape == (2, 3)
    frozen = d()  # scipy-style freezing works and gives the same numbers
    assert frozen.pdf(0.7) == d.pdf(0.7)
    assert d.rvs(size=(4, 5), random_state=1).shape == (4, 5)
    np.testing.assert_array_equal(d.rvs(size=10, random_state=7), d.rvs(size=10, random_state=7))
    assert d.cdf(-np.inf) == 0.0
    assert d.cdf(np.inf) == 1.0


def test_pdf_at_zero_rules():
    # all hidden widths >= 2: finite, E[(2π Ĝ)^{-1/2}]; the limit z → 0 agrees
    d = output_distribution(Network([1, 3, 5, 2]))
    assert np.isfinite(d.pdf(0.0))
    assert d.pdf(1e-10) == pytest.approx(d.pdf(0.0), rel=1e-8)
    exact = math.prod(math.sqrt(n / 2) * special.gamma((n - 1) / 2) / special.gamma(n / 2) for n in (3, 5))
    assert d.pdf(0.0) == pytest.approx(exact / math.sqrt(2 * math.pi), rel=1e-13)
    assert output_distribution(Network([1, 3, 1, 2])).pdf(0.0) == np.inf
    relu = output_distribution(Network([1, 3, 3], "relu", cw=2.0))
    assert relu.pdf(0.0) == np.inf
    assert relu.logpdf(0.0) == np.inf
    assert output_distribution(Network([1, 1, 3]), kind="norm_squared").pdf(0.0) == np.inf
    assert output_distribution(Network([1, 4, 3]), kind="norm_squared").pdf(0.0) == 0.0
    assert output_distribution(Network([1, 4, 3]), kind="norm_squared").logpdf(0.0) == -np.inf
    # exactly one Exp(1) factor (output width 2): p(0) = e^{−c0} Π_l 1/(a_l − 1), a_l = n_l/2
    d = output_distribution(Network([1, 3, 5, 2], cw=[1.3, 0.8, 1.1]), kind="norm_squared")
    g1 = 1.3
    exact = 1 / (g1 * 0.8 * 1.1 * (2 / 3) * (2 / 5) * 2) / ((3 / 2 - 1) * (5 / 2 - 1))
    assert d.pdf(0.0) == pytest.approx(exact, rel=1e-13)
    assert d.pdf(1e-24) == pytest.approx(exact, rel=1e-10)  # p(x) − p(0) = O(x^{1/2}) (pole at s = −3/2)


@pytest.mark.parametrize(("depth", "cw", "pdf0"), [(9000, 1.0, np.inf), (9000, 10.0, 0.0), (300, 1.0, None)])
def test_pdf_at_zero_deep_nets_in_log_space(depth, cw, pdf0):
    # log p(0) = −½ log(2π) − ½ c0 + (L−1) [log Γ(n/2 − ½) − log Γ(n/2)], c0 = log C_W + (L−1) log(2 C_W/n):
    # far beyond the float range at L = 9000 (pdf(0) is then inf or 0 as a float, without
    # an OverflowError, a NaN or a warning; warnings are errors in this test suite)
    n = 10
    d = output_distribution(Network([1] + [n] * depth, cw=cw))
    with mp.workdps(30):
        ref = float(-mp.log(2 * mp.pi) / 2 - mp.log(cw) / 2 - (depth - 1) * mp.log(2 * mp.mpf(cw) / n) / 2
                    + (depth - 1) * (mp.loggamma(mp.mpf(n - 1) / 2) - mp.loggamma(mp.mpf(n) / 2)))
    assert d.logpdf(0.0) == pytest.approx(ref, rel=1e-13)
    np.testing.assert_allclose(d.logpdf([0.0, -0.0]), [ref, ref], rtol=1e-13)
    if pdf0 is None:
        assert d.pdf(0.0) == pytest.approx(math.exp(ref), rel=1e-12)
    else:
        assert d.pdf(0.0) == pdf0
    assert not np.any(np.isnan(d.pdf([0.0, 1e-300])))


def test_norm_squared_pdf_at_zero_deep_net_in_log_space():
    # output width 2 (one Exp(1) factor): log p(0) = −c0 − (L−1) log(n/2 − 1), c0 = (L−1) log(2/n) + log 2
    depth, n = 4001, 10
    d = output_distribution(Network([1] + [n] * (depth - 1) + [2]), kind="norm_squared")
    ref = (depth - 1) * (math.log(n / 2) - math.log(n / 2 - 1)) - math.log(2)
    assert d.logpdf(0.0) == pytest.approx(ref, rel=1e-13)
    assert d.pdf(0.0) == np.inf
    # output width 3: the density vanishes at 0 at any depth
    d3 = output_distribution(Network([1] + [n] * (depth - 1) + [3]), kind="norm_squared")
    assert (d3.pdf(0.0), d3.logpdf(0.0)) == (0.0, -np.inf)


# ----------------------------------------------------------------------------- ReLU mixture
class TestReLU:
    def test_atom(self):
        widths = [2, 3, 2, 4, 3]
        d = output_distribution(Network(widths, "relu", cw=2.0))
        assert d.atom == pytest.approx(1 - math.prod(1 - 2.0**-n for n in widths[1:-1]), rel=1e-14)
        assert d.cdf(0.0) - d.cdf(-1e-300) == pytest.approx(d.atom, rel=1e-12)
        assert d.ppf(0.5) == 0.0
        assert d.family == "relu-mixture"

    def test_mixture_matches_enumeration(self):
        widths, cw = [2, 3, 2, 4, 3], [1.3, 2.0, 1.7, 0.8]
        x = np.array([0.7, -1.1])
        d = output_distribution(Network(widths, "relu", cw=cw), x)
        g1 = cw[0] * (x @ x) / 2
        hidden = widths[1:-1]
        z = np.array([-5.0, -0.2, -1e-4, 1e-7, 0.4, 7.0])
        pdf = np.zeros_like(z)
        sf_pos = np.zeros_like(z)
        atom = 0.0
        for ms in itertools.product(*[range(n + 1) for n in hidden]):
            weight = math.prod(math.comb(n, m) / 2**n for n, m in zip(hidden, ms, strict=True))
            if min(ms) == 0:
                atom += weight
                continue
            # given the active counts M_l: a linear law with shapes M_l/2 and scales 2 C_W / n_l
            c0 = math.log(g1) + sum(math.log(2 * cw[l + 1] / hidden[l]) for l in range(len(hidden))) + math.log(2)
            shapes = Counter(m / 2 for m in ms)
            shapes[0.5] += 1
            law = LogGammaSum(c0, shapes)
            v = 2 * np.log(np.abs(z))
            pdf += weight * np.exp(law.logpdf(v)) / np.abs(z)
            sf_pos += weight * 0.5 * np.exp(law.log_cdf_sf(v)[1])
        assert d.atom == pytest.approx(atom, rel=1e-14)
        np.testing.assert_allclose(d.pdf(z), pdf, rtol=1e-12)
        np.testing.assert_allclose(d.sf(np.abs(z)), sf_pos, rtol=1e-12)

    def test_moments(self):
        # E[(Y/n)^k] = E_M[Π_{s<k} (M + 2s)] / n^k with M ~ Bin(n, ½)  (THEORY.md §3.4)
        widths = [4, 16, 12, 20, 16, 8]
        d = output_distribution(Network(widths, "relu", cw=2.0))

        def mixture_moment(n, k):
            m = np.arange(n + 1)
            w = special.comb(n, m) / 2.0**n
            return float(np.sum(w * np.prod([m + 2 * s for s in range(k)], axis=0)) / n**k)

        g1 = 2.0  # C_W G^(0), G^(0) = 1
        for k in (1, 2, 3):
            exact = double_factorial(2 * k - 1) * g1**k * math.prod(2**k * mixture_moment(n, k) for n in widths[1:-1])
            assert d.moment(2 * k) == pytest.approx(exact, rel=1e-12)
        # THEORY.md §3.4 check table: E Ĝ²/K² = 3.05054 for n = [4,16,12,20,16,8]
        assert d.moment(4) / 3 / d.moment(2) ** 2 == pytest.approx(3.05054, abs=5e-6)

    def test_log_law_is_conditional_on_nonzero(self):
        net = Network([1, 2, 3, 2], "relu", cw=2.0)
        law = output_distribution(net, kind="log_coordinate_squared")
        assert isinstance(law, LogLaw)
        assert law.atom == 0.0
        assert law.p_zero == pytest.approx(output_distribution(net).atom)
        m, s = law.mean(), law.std()
        v = np.linspace(m - 25 * s, m + 8 * s, 8001)
        assert integrate.simpson(law.pdf(v), x=v) == pytest.approx(1.0, abs=1e-8)


# ----------------------------------------------------------------------------- orthogonal
class TestOrthogonal:
    @pytest.mark.parametrize("n", [3, 10])
    def test_sphere_moments(self, n):
        d = output_distribution(Network([n] * 4, init="orthogonal", cw=[1.2, 0.8, 1.5]), np.linspace(0.5, 2, n))
        assert isinstance(d, SphereCoordinateLaw)
        g2 = d.moment(2)
        r2 = (np.linspace(0.5, 2, n) ** 2).sum() * 1.2 * 0.8 * 1.5
        assert g2 == pytest.approx(r2 / n, rel=1e-14)
        g4, g6 = d.moment(4) / 3, d.moment(6) / 15
        # THEORY.md §2.2 / R3: conn4/G² = −2/(n+2), conn6/G³ = 16/((n+2)(n+4))
        assert (g4 - g2**2) / g2**2 == pytest.approx(-2 / (n + 2), rel=1e-12)
        assert (g6 - 3 * g4 * g2 + 2 * g2**3) / g2**3 == pytest.approx(16 / ((n + 2) * (n + 4)), rel=1e-11)
        if n == 10:
            assert (g4 - g2**2) / g2**2 == pytest.approx(-1 / 6, rel=1e-12)
        # the numerical moments of the density agree
        assert d.expect(lambda t: t**4) == pytest.approx(d.moment(4), rel=1e-9)

    def test_support_and_density(self):
        d = output_distribution(Network([4, 4, 4], init="orthogonal"), np.array([1.0, 1.0, 1.0, 1.0]))
        r = 2.0
        assert d.support() == (-r, r)
        assert d.pdf(0.0) == pytest.approx(special.gamma(2) / (math.sqrt(math.pi) * special.gamma(1.5) * r))
        assert d.pdf([r, -r, 2.5, -7.0]).tolist() == [0.0, 0.0, 0.0, 0.0]
        assert d.cdf(2.5) == 1.0
        assert d.cdf(-2.5) == 0.0
        np.testing.assert_allclose(d.cdf([-1.0, 0.5]), stats.beta(1.5, 1.5, loc=-r, scale=2 * r).cdf([-1.0, 0.5]))


def test_relu_log_law_cumulants_of_any_order_match_quadrature():
    # The mixture-of-log-Gamma cumulants (any order) against the moments of the exact log density.
    d = output_distribution(Network([1, 6, 5, 4, 1], activation="relu", cw=2.0), kind="log_coordinate_squared")
    k = d.cumulants(6)
    v = np.linspace(-200.0, 25.0, 450_001)  # p(v) ~ e^{v/2} on the left: negligible below -200
    p = d.pdf(v)
    m = np.array([integrate.simpson(v**j * p, x=v) for j in range(7)])
    assert m[0] == pytest.approx(1.0, rel=1e-10)
    m = m / m[0]
    ref: list[float] = []
    for n in range(1, 7):
        ref.append(m[n] - sum(math.comb(n - 1, j - 1) * ref[j - 1] * m[n - j] for j in range(1, n)))
    np.testing.assert_allclose(k, ref, rtol=1e-9)


# ----------------------------------------------------------------------------- approximations
class TestApproximations:
    def test_gaussian_and_edgeworth_from_exact_kappa4(self):
        widths = [1, 6, 9, 7, 5]
        d = output_distribution(Network(widths))
        assert d.gaussian_approximation().var() == pytest.approx(1.0)
        k = d.cumulants(4)
        assert k[0] == 0
        assert k[2] == 0
        ratio = math.prod(1 + 2 / n for n in widths[1:-1])  # G4/G2²
        assert k[3] == pytest.approx(3 * (ratio - 1), rel=1e-12)
        z = np.linspace(-12, 12, 4001)
        assert integrate.simpson(d.edgeworth_pdf(z), x=z) == pytest.approx(1.0, abs=1e-8)
        assert d.edgeworth_cdf(0.0) == pytest.approx(0.5)

    def test_edgeworth_improves_on_gaussian_when_depth_over_width_is_small(self):
        d = output_distribution(Network([1, 300, 300, 300]))
        z = np.linspace(-3, 3, 13)
        err_gauss = np.max(np.abs(d.gaussian_approximation().pdf(z) - d.pdf(z)))
        err_edge = np.max(np.abs(d.edgeworth_pdf(z) - d.pdf(z)))
        assert err_edge < 0.05 * err_gauss

    def test_edgeworth_breaks_down_when_depth_over_width_is_large(self):
        d = output_distribution(Network([1] + [3] * 8))
        assert np.min(d.edgeworth_pdf(np.linspace(-3, 3, 61))) < 0  # negative "density"


# ----------------------------------------------------------------------------- Monte Carlo (B10)
def _equiprobable_edges(d, bins):
    edges = np.asarray(d.ppf(np.linspace(0, 1, bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], edges, [np.inf]])


def _atom_matched_linear_cdf(d, widths, x):
    """Negative control for a ReLU law ``d``: a point mass at 0 of the same probability plus
    the linear-network law (same widths) with the variance of the continuous part of ``d``."""
    atom = d.atom
    g0 = float(x @ x) / len(x)
    cw = [d.var() / (1 - atom) / g0] + [1.0] * (len(widths) - 2)
    lin = output_distribution(Network(list(widths), cw=cw), x)
    return lambda e: atom * (np.asarray(e) >= 0) + (1 - atom) * lin.cdf(e)


def test_monte_carlo_linear_deep_narrow_with_negative_control():
    net = Network([1, 3, 3, 3, 3, 3, 3], cw=[1.0, 1.2, 0.9, 1.0, 1.1, 1.0])
    d = output_distribution(net)
    rng = np.random.default_rng(SEED)
    sample = simulate_matrices(net, np.ones(1), 40_000, rng)
    edges = _equiprobable_edges(d, 20)
    edges = np.concatenate([edges[:1], [float(d.ppf(1e-3))], edges[1:-1], [float(d.isf(1e-3))], edges[-1:]])
    probs = np.diff(d.cdf(edges))
    z = bin_zscores(sample, edges, probs)
    assert np.max(np.abs(z)) <= Z_CRIT, f"max|z| = {np.max(np.abs(z)):.2f} (seed {SEED})"
    # negative control: the Gaussian with the exact variance is rejected by the same test
    gauss = d.gaussian_approximation()
    z_gauss = bin_zscores(sample, edges, np.diff(gauss.cdf(edges)))
    assert np.max(np.abs(z_gauss)) > 3 * Z_CRIT


def test_monte_carlo_relu_atom_and_histogram():
    net = Network([2, 2, 3, 2, 3], "relu", cw=2.0)
    x = np.array([0.8, -0.6])
    d = output_distribution(net, x)
    sample = simulate_matrices(net, x, 40_000, np.random.default_rng(SEED + 1))
    zero = np.mean(sample == 0.0)
    se = math.sqrt(d.atom * (1 - d.atom) / sample.size)
    assert abs(zero - d.atom) / se <= Z_CRIT
    edges = np.array([-np.inf, float(d.ppf(0.01)), -1.0, -0.3, -0.05, -1e-300, 1e-300, 0.05, 0.3, 1.0,
                      float(d.isf(0.01)), np.inf])
    probs = np.diff(d.cdf(edges))
    z = bin_zscores(sample, edges, probs)
    assert np.max(np.abs(z)) <= Z_CRIT
    # negative control: the same atom and variance, but the linear-network law for the continuous part
    control = _atom_matched_linear_cdf(d, net.widths, x)
    assert np.max(np.abs(bin_zscores(sample, edges, np.diff(control(edges))))) > 3 * Z_CRIT


def test_monte_carlo_orthogonal():
    net = Network([4, 4, 4, 4], init="orthogonal", cw=[1.0, 1.5, 0.8])
    x = np.array([1.0, 0.0, -2.0, 0.5])
    d = output_distribution(net, x)
    sample = simulate_matrices(net, x, 20_000, np.random.default_rng(SEED + 2))
    edges = _equiprobable_edges(d, 16)
    z = bin_zscores(sample, edges, np.diff(d.cdf(edges)))
    assert np.max(np.abs(z)) <= Z_CRIT
    assert np.max(np.abs(sample)) <= d.support()[1] * (1 + 1e-12)
    # negative control: the Gaussian-weight law of the same network (same variance) is rejected
    gaussian_weights = output_distribution(Network(net.widths, cw=net.cw), x)
    assert gaussian_weights.var() == pytest.approx(d.var(), rel=1e-13)
    assert np.max(np.abs(bin_zscores(sample, edges, np.diff(gaussian_weights.cdf(edges))))) > 3 * Z_CRIT


def test_exact_sampler_matches_law():
    net = Network([1, 2, 5, 3, 4], "relu", cw=2.0)
    d = output_distribution(net)
    sample = d.rvs(size=50_000, random_state=np.random.default_rng(SEED + 3))
    edges = np.array([-np.inf, -2.0, -0.5, -0.1, -1e-300, 1e-300, 0.1, 0.5, 2.0, np.inf])
    z = bin_zscores(sample, edges, np.diff(d.cdf(edges)))
    assert np.max(np.abs(z)) <= Z_CRIT
    # negative control: the same atom and variance, but the linear-network law for the continuous part
    control = _atom_matched_linear_cdf(d, net.widths, np.ones(1))
    assert np.max(np.abs(bin_zscores(sample, edges, np.diff(control(edges))))) > 3 * Z_CRIT
    for kind in ("norm_squared", "log_norm_squared"):
        law = output_distribution(Network([1, 2, 5, 3, 4], cw=1.3), kind=kind)
        s = law.rvs(size=20_000, random_state=np.random.default_rng(SEED + 4))
        edges = _equiprobable_edges(law, 10)
        edges[0] = -np.inf
        assert np.max(np.abs(bin_zscores(s, edges, np.diff(law.cdf(edges))))) <= Z_CRIT


# ----------------------------------------------------------------------------- bad input
class TestErrors:
    def test_not_a_network(self):
        with pytest.raises(TypeError, match="`net` must be a deepeft.Network"):
            output_distribution([1, 2, 3])

    def test_bad_kind(self):
        with pytest.raises(ValueError, match="`kind` must be one of"):
            output_distribution(Network([1, 2]), kind="density")
        assert set(KINDS) == {"coordinate", "norm_squared", "log_norm_squared", "log_coordinate_squared"}

    def test_several_inputs(self):
        with pytest.raises(ValueError, match=r"`x` must be a single input.*deepeft\.sample"):
            output_distribution(Network([2, 3, 3]), np.eye(2))

    def test_wrong_input_dimension(self):
        with pytest.raises(ValueError, match="`x` must have input dimension"):
            output_distribution(Network([2, 3, 3]), np.ones(3))

    def test_zero_input(self):
        with pytest.raises(ValueError, match="`x` is the zero vector"):
            output_distribution(Network([2, 3, 3]), np.zeros(2))

    def test_biases_after_first_layer(self):
        with pytest.raises(ValueError, match=r"`net.cb` is nonzero in layer\(s\) \[3\].*deepeft\.sample"):
            output_distribution(Network([1, 3, 3, 3], cb=[0.1, 0.0, 0.2]))
        # a first-layer bias keeps the law exact: it only shifts G^(1)
        d = output_distribution(Network([1, 3, 3], cb=[0.5, 0.0]))
        assert d.var() == pytest.approx(1.5)

    @pytest.mark.parametrize("activation", ["tanh", "gelu", "leaky_relu"])
    def test_unsupported_activation(self, activation):
        with pytest.raises(ValueError, match=r"`net.activation` is .*Exact output laws are implemented"):
            output_distribution(Network([1, 3, 3], activation))

    def test_orthogonal_errors(self):
        with pytest.raises(ValueError, match=r"`net.widths` = \[3, 4, 4\] are not all equal"):
            output_distribution(Network([3, 4, 4], init="orthogonal"))
        with pytest.raises(ValueError, match="with orthogonal weights the law is exact only without biases"):
            output_distribution(Network([3, 3, 3], init="orthogonal", cb=0.1))
        with pytest.raises(ValueError, match="`net.activation` is 'relu': with orthogonal weights"):
            output_distribution(Network([3, 3, 3], "relu", init="orthogonal"))
        with pytest.raises(ValueError, match=r"`kind`='norm_squared'.*exactly"):
            output_distribution(Network([3, 3, 3], init="orthogonal"), kind="norm_squared")
        with pytest.raises(ValueError, match="`net.widths` are all 1"):
            output_distribution(Network([1, 1], init="orthogonal"))

    @pytest.mark.parametrize("method", ["pdf", "logpdf", "cdf", "sf", "logcdf", "logsf"])
    def test_non_finite_evaluation_point(self, method):
        d = output_distribution(Network([1, 3, 3]))
        with pytest.raises(ValueError, match="`x` .* must"):
            getattr(d, method)([0.5, np.nan])
        if method in ("pdf", "logpdf"):
            with pytest.raises(ValueError, match="`x` .* must be finite"):
                getattr(d, method)(np.inf)
        with pytest.raises(ValueError, match="`x` .* must"):
            d.edgeworth_pdf(np.nan)

    def test_types(self):
        assert isinstance(output_distribution(Network([1, 2, 2]), kind="norm_squared"), NormSquaredLaw)
        with pytest.raises(TypeError, match="`x` must be a real number"):
            output_distribution(Network([1, 2, 2])).pdf("a")
        with pytest.raises(ValueError, match="`order` must be a positive integer"):
            output_distribution(Network([1, 2, 2])).cumulants(0)


def test_lazy_export_from_package():
    assert deepeft.output_distribution is output_distribution
