"""Single-input closed forms: references, agreement with LinearTheory, depth, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from deepeft import Network
from deepeft.linear_theory import LinearTheory
from deepeft.single_input import (
    coordinate_moment,
    kernel_power_moment,
    log_norm_cumulants,
    norm_moment,
)

RTOL = 1e-10


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol)


NETS = [
    Network([3, 7, 5, 9, 6, 4], cw=[1.3, 0.7, 1.1, 0.9, 1.2], cb=[0.2, 0.5, 0.0, 0.3, 0.1]),
    Network([2, 4, 4, 4, 4], cw=1.0, cb=0.0),
    Network([5, 12, 3, 20], cw=[0.6, 2.0, 1.4], cb=[0.0, 0.7, 0.0]),
]


def test_r1_and_r2_references():
    net = Network([10] * 6)
    assert close(kernel_power_moment(net, 1.0, 5, 2), 1296 / 625)
    assert close(kernel_power_moment(net, 1.0, 5, 3), 3111696 / 390625)
    assert close(coordinate_moment(net, 1.0, 5, 8), 267655643136 / 48828125)
    # R1c from the norm: Var(|z|²/n) = E|z|⁴/n² - G².
    assert close(norm_moment(net, 1.0, 5, 2) / 100 - 1.0, 4651 / 3125)
    net2 = Network([1, 4, 4, 4], cw=1.0, cb=0.5)
    assert close(kernel_power_moment(net2, [1.0], 3, 1), 2.5)
    assert close(kernel_power_moment(net2, 1.0, 3, 2), 9.9375)
    assert close(kernel_power_moment(net2, 1.0, 3, 3), 62.46875)
    assert close(coordinate_moment(net2, 1.0, 3, 4), 29.8125)


def test_r8c_log_coordinate_cumulants():
    net = Network([10] * 101)
    k1, k2 = log_norm_cumulants(net, 1.0, 100, (1, 2), coordinate=True)
    assert close(k1, -11.4990670017, 1e-10)
    assert close(k2, 26.8457748185, 1e-10)


def test_log_norm_cumulants_of_theory_sheet_check_table():
    # THEORY.md §1.4 check (c): n = [4, 6, 9, 5, 7, 8, 3], bias-free.
    # κ_2 and κ_3 do not depend on G^(0) or C_W (the sheet does not give its inputs).
    net = Network([4, 6, 9, 5, 7, 8, 3])
    k2, k3 = log_norm_cumulants(net, 1.0, 6, (2, 3))
    assert abs(k2 - 2.6830) < 5e-5
    assert abs(k3 - -1.4689) < 5e-5
    c2, c3 = log_norm_cumulants(net, 1.0, 6, [2, 3], coordinate=True)
    assert abs(c2 - 6.6830) < 5e-5
    assert abs(c3 - -17.469) < 5e-4


def test_moments_of_theory_sheet_check_table_are_consistent():
    # THEORY.md §1.4 check (b) does not state G^(0); fix it from E z² and test the other rows.
    net = Network([3, 7, 5, 9, 6, 4], cw=[1.3, 0.7, 1.1, 0.9, 1.2], cb=[0.2, 0.5, 0.0, 0.3, 0.1])
    offset = coordinate_moment(net, 0.0, 5, 2)
    g0 = (2.30861 - offset) / (coordinate_moment(net, 1.0, 5, 2) - offset)
    rows = [
        (coordinate_moment(net, g0, 5, 4), 33.666),
        (coordinate_moment(net, g0, 5, 6), 1667.7),
        (coordinate_moment(net, g0, 5, 8), 218982),
        (norm_moment(net, g0, 5, 1), 9.2344),
        (norm_moment(net, g0, 5, 2), 269.32),
        (norm_moment(net, g0, 5, 3), 21347),
    ]
    for got, printed in rows:
        assert abs(got / printed - 1) < 2e-5, (got, printed)


def test_bias_free_product_formula_and_recursion_agree():
    # With no biases the binomial recursion collapses to ∏ c_{2k}(n_l) G^k (PDLT 3.47).
    net = Network([3, 5, 9, 4, 6, 7], cw=[1.1, 0.9, 1.2, 0.8, 1.05])
    g0 = 0.7
    for layer in range(1, 6):
        g = g0 * math.prod(net.cw[:layer])
        for k in range(6):
            c = math.prod(math.prod(1 + 2 * s / n for s in range(k)) for n in net.widths[1:layer])
            assert close(kernel_power_moment(net, g0, layer, k), c * g**k)


def test_agreement_with_linear_theory():
    for net in NETS:
        x = np.linspace(-1.0, 1.0, net.n0) + 0.3
        th = LinearTheory(net, x)
        for layer in range(1, net.depth + 1):
            for k in range(1, 6):
                assert close(
                    kernel_power_moment(net, x, layer, k),
                    th.kernel_product_moment(layer, [(0, 0)] * k),
                )
            for m in (2, 4, 6, 8, 10):
                assert close(
                    coordinate_moment(net, x, layer, m), th.moment(layer, [0] * m, [0] * m)
                )
            n = net.widths[layer]
            # E|z|⁴ = n E z⁴ + n(n-1) E z_i² z_j²; E|z|⁶ likewise by neuron patterns.
            e4 = n * th.moment(layer, [0] * 4, [0] * 4)
            if n > 1:
                e4 += n * (n - 1) * th.moment(layer, [0, 0, 1, 1], [0] * 4)
            assert close(norm_moment(net, x, layer, 2), e4)
            if n > 2:
                e6 = (
                    n * th.moment(layer, [0] * 6, [0] * 6)
                    + 3 * n * (n - 1) * th.moment(layer, [0, 0, 0, 0, 1, 1], [0] * 6)
                    + n * (n - 1) * (n - 2) * th.moment(layer, [0, 0, 1, 1, 2, 2], [0] * 6)
                )
                assert close(norm_moment(net, x, layer, 3), e6)
            assert close(norm_moment(net, x, layer, 1), n * th.kernel(layer)[0, 0])


def test_trivial_orders_and_odd_moments():
    net = NETS[0]
    assert kernel_power_moment(net, 2.0, 3, 0) == 1.0
    assert close(kernel_power_moment(net, 2.0, 0, 3), 8.0)
    assert coordinate_moment(net, 2.0, 3, 0) == 1.0
    assert coordinate_moment(net, 2.0, 3, 5) == 0.0
    assert coordinate_moment(net, 2.0, 3, 5, log=True) == -math.inf
    assert norm_moment(net, 2.0, 3, 0) == 1.0
    # A zero input with no first-layer bias gives zero moments, not a warning.
    bias_free = Network([2, 3, 3])
    assert kernel_power_moment(bias_free, 0.0, 2, 2) == 0.0
    assert kernel_power_moment(bias_free, 0.0, 2, 2, log=True) == -math.inf


def test_log_space_handles_very_deep_networks():
    net = Network([10] * 1001, cw=1.5)
    log_m = kernel_power_moment(net, 1.0, 1000, 3, log=True)
    expected = 3 * 1000 * math.log(1.5) + 999 * (math.log1p(0.2) + math.log1p(0.4))
    assert close(log_m, expected, 1e-12)
    log_c = coordinate_moment(net, 1.0, 1000, 6, log=True)
    assert close(log_c, math.log(15) + expected, 1e-12)
    log_n = norm_moment(net, 1.0, 1000, 3, log=True)
    assert close(log_n, math.log(10 * 12 * 14) + expected, 1e-12)
    ks = log_norm_cumulants(net, 1.0, 1000)
    assert np.all(np.isfinite(ks))


def test_log_norm_cumulants_match_numerical_integration():
    # widths [1, 3, 2]: |z^(2)|² = G^(2) (χ²_3 / 3) χ²_2,
    # so log|z|² is a sum of independent log χ²'s.
    net = Network([1, 3, 2], cw=[1.7, 0.6])
    g0 = 0.8

    def log_chi2_cumulants(nu: float) -> list[float]:
        # Density of t = log χ²_ν: exp(ν t / 2 - e^t / 2) / (2^{ν/2} Γ(ν/2)).
        log_norm = nu / 2 * math.log(2) + special.gammaln(nu / 2)
        mom = [
            integrate.quad(
                lambda t, p=p: t**p * math.exp(nu * t / 2 - math.exp(t) / 2 - log_norm),
                -120,
                8,
                limit=500,
            )[0]
            for p in range(1, 5)
        ]
        m1, m2, m3, m4 = mom
        c2 = m2 - m1**2
        c3 = m3 - 3 * m2 * m1 + 2 * m1**3
        c4 = m4 - 4 * m3 * m1 - 3 * m2**2 + 12 * m2 * m1**2 - 6 * m1**4
        return [m1, c2, c3, c4]

    a, b = log_chi2_cumulants(3.0), log_chi2_cumulants(2.0)
    log_g = math.log(g0 * 1.7 * 0.6)
    expected = [log_g - math.log(3) + a[0] + b[0], *(a[j] + b[j] for j in (1, 2, 3))]
    np.testing.assert_allclose(log_norm_cumulants(net, g0, 2), expected, rtol=1e-8)
    # One coordinate: χ²_2 → χ²_1.
    c = log_chi2_cumulants(1.0)
    expected = [log_g - math.log(3) + a[0] + c[0], *(a[j] + c[j] for j in (1, 2, 3))]
    np.testing.assert_allclose(log_norm_cumulants(net, g0, 2, coordinate=True), expected, rtol=1e-8)
    # One layer, one coordinate: log z² with z ~ N(0, G): κ_1 = log(2G) + ψ(1/2).
    k1 = log_norm_cumulants(net, g0, 1, 1, coordinate=True)[0]
    assert close(k1, math.log(2 * g0 * 1.7) + special.digamma(0.5))


def test_input_vector_and_scalar_metric_agree():
    net = NETS[2]
    x = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    g0 = float(x @ x) / 5
    assert close(kernel_power_moment(net, x, 3, 3), kernel_power_moment(net, g0, 3, 3))
    assert close(coordinate_moment(net, x[None, :], 2, 4), coordinate_moment(net, g0, 2, 4))


def test_bad_input_messages():
    net = NETS[0]
    with pytest.raises(ValueError, match="`layer`"):
        kernel_power_moment(net, 1.0, 6, 2)
    with pytest.raises(ValueError, match="`layer`"):
        coordinate_moment(net, 1.0, 0, 2)
    with pytest.raises(ValueError, match="`k`"):
        norm_moment(net, 1.0, 2, -1)
    with pytest.raises(TypeError, match="`m`"):
        coordinate_moment(net, 1.0, 2, 2.5)
    with pytest.raises(ValueError, match="`x` given as a scalar"):
        kernel_power_moment(net, -1.0, 2, 2)
    with pytest.raises(ValueError, match="`x` must be a single input"):
        kernel_power_moment(net, np.ones((2, 3)), 2, 2)
    with pytest.raises(ValueError, match="`x` must have input dimension"):
        kernel_power_moment(net, np.ones(4), 2, 2)
    with pytest.raises(ValueError, match="bias-free"):
        log_norm_cumulants(net, 1.0, 2)
    with pytest.raises(ValueError, match="nonzero input"):
        log_norm_cumulants(NETS[1], 0.0, 2)
    with pytest.raises(ValueError, match="`orders`"):
        log_norm_cumulants(NETS[1], 1.0, 2, (0, 1))
    with pytest.raises(TypeError, match="`orders`"):
        log_norm_cumulants(NETS[1], 1.0, 2, "12")
    with pytest.raises(ValueError, match="Gaussian weights"):
        kernel_power_moment(Network([2, 2], activation="relu"), 1.0, 1, 1)
    with pytest.raises(TypeError, match="`net`"):
        norm_moment("net", 1.0, 1, 1)
    # Layers beyond `layer` may carry biases.
    assert np.all(np.isfinite(log_norm_cumulants(NETS[2], 1.0, 1)))


def test_overflow_raises_and_log_space_stays_finite():
    net = Network([1] + [10] * 2000, cw=1.5)
    with pytest.raises(OverflowError, match=r"layer 2000 .*log=True"):
        kernel_power_moment(net, 1.0, 2000, 2)
    with pytest.raises(OverflowError, match="log=True"):
        coordinate_moment(net, 1.0, 2000, 4)
    with pytest.raises(OverflowError, match="log=True"):
        norm_moment(net, 1.0, 2000, 1)
    log_g = kernel_power_moment(net, 1.0, 2000, 1, log=True)
    assert math.isclose(log_g, 2000 * math.log(1.5), rel_tol=1e-12)
    # Underflow is a true zero, not an error.
    assert kernel_power_moment(Network([1] + [10] * 2000, cw=0.5), 1.0, 2000, 1) == 0.0
