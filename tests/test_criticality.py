"""Criticality: critical points, susceptibilities, universality classes, phase diagram, depth scaling."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import integrate

from deepeft import (
    ConvergenceError,
    CriticalPoint,
    NoCriticalPointError,
    activations as A,
    criticality,
    depth_scaling,
    fixed_point,
    phase_diagram,
    plot_depth_scaling,
    susceptibilities,
)


@pytest.mark.parametrize(
    ("activation", "cw", "cls"),
    [
        ("linear", 1.0, "scale-invariant"),
        ("relu", 2.0, "scale-invariant"),
        (A.leaky_relu(0.3), 2 / (1 + 0.3**2), "scale-invariant"),
        ("tanh", 1.0, "K*=0"),
        ("sin", 1.0, "K*=0"),
        ("erf", math.pi / 4, "K*=0"),
        (A.custom(np.tanh, name="user-tanh"), 1.0, "K*=0"),
    ],
)
def test_critical_points(activation, cw, cls):
    cp = criticality(activation)
    assert isinstance(cp, CriticalPoint)
    assert cp.cb == 0.0
    assert cp.cw == pytest.approx(cw, rel=1e-9)
    assert cp.universality_class == cls
    if cls == "scale-invariant":
        assert cp.fixed_point is None
        for K in (0.3, 1.0, 17.0):  # every K is critical: χ computed, not the stored literals
            chi_par, chi_perp = susceptibilities(activation, cp.cb, cp.cw, K)
            assert chi_par == pytest.approx(1.0, abs=1e-12)
            assert chi_perp == pytest.approx(1.0, abs=1e-12)
    else:
        assert cp.fixed_point == 0.0
        assert fixed_point(activation, cp.cb, cp.cw, 1e-3) < 1e-3  # K -> 0 under the map
        K = 1e-6  # χ -> 1 as K -> 0, with the first-order slopes 2 a1 and a1
        chi_par, chi_perp = susceptibilities(activation, cp.cb, cp.cw, K)
        assert chi_par == pytest.approx(1.0, abs=1e-5)
        assert chi_perp == pytest.approx(1.0, abs=1e-5)
        assert chi_par == pytest.approx(1 + 2 * cp.a1 * K, abs=1e-10)
        assert chi_perp == pytest.approx(1 + cp.a1 * K, abs=1e-10)
    assert (cp.chi_parallel, cp.chi_perp) == (1.0, 1.0)  # the stored limits agree with the above


def test_class_constants():
    assert criticality("tanh").a1 == pytest.approx(-2.0, rel=1e-12)
    assert criticality("sin").a1 == pytest.approx(-1.0, rel=1e-12)
    assert criticality("erf").a1 == pytest.approx(-2.0, rel=1e-12)
    assert criticality(A.custom(np.tanh, name="t")).a1 == pytest.approx(-2.0, rel=1e-6)
    assert criticality("linear").kappa == pytest.approx(2.0)
    assert criticality("relu").kappa == pytest.approx(5.0)
    assert criticality(A.leaky_relu(0.2)).kappa == pytest.approx(4.5562, abs=1e-4)


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_general_class_fixed_points(name):
    cp = criticality(name)
    assert cp.universality_class == "general"
    assert cp.fixed_point > 0
    assert cp.cb >= 0
    chi_par, chi_perp = susceptibilities(name, cp.cb, cp.cw, cp.fixed_point)
    assert chi_par == pytest.approx(1.0, abs=1e-9)
    assert chi_perp == pytest.approx(1.0, abs=1e-9)
    assert (cp.chi_parallel, cp.chi_perp) == pytest.approx((chi_par, chi_perp), abs=1e-12)
    # independent check by adaptive quadrature: χ∥ = C_W <z σ σ'>/K*, χ⊥ = C_W <σ'²> at K*
    act, k = A.get(name), cp.fixed_point

    def expect(f):
        def h(z):
            return float(f(np.array([z]))[0]) * math.exp(-z * z / (2 * k)) / math.sqrt(2 * math.pi * k)

        return sum(integrate.quad(h, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
                   for lo, hi in ((-60, -5), (-5, 0), (0, 5), (5, 60)))

    assert cp.cw * expect(lambda z: z * act.fn(z) * act.prime(z)) / k == pytest.approx(1.0, abs=1e-9)
    assert cp.cw * expect(lambda z: act.prime(z) ** 2) == pytest.approx(1.0, abs=1e-9)
    assert cp.cb + cp.cw * expect(lambda z: act.fn(z) ** 2) == pytest.approx(k, rel=1e-10)
    # K* is a fixed point of K -> C_b + C_W <σ²>_K
    s2 = float(A.get(name).power_mean(cp.fixed_point, 2))
    assert cp.cb + cp.cw * s2 == pytest.approx(cp.fixed_point, rel=1e-10)


def test_gelu_critical_point_values():
    cp = criticality("gelu")
    assert cp.fixed_point == pytest.approx((3 + math.sqrt(17)) / 2, rel=1e-9)
    assert cp.cb == pytest.approx(0.17292239, abs=1e-7)
    assert cp.cw == pytest.approx(1.98305826, abs=1e-7)


def test_no_critical_point_has_a_clear_message():
    with pytest.raises(NoCriticalPointError, match="has no critical initialisation"):
        criticality("softplus")
    with pytest.raises(ValueError, match=re.escape("sigma(0) = 0.1")):
        criticality(A.custom(lambda z: np.tanh(z) + 0.1, name="shifted"))


def test_susceptibilities_theory_md_values():
    """THEORY.md §3.3: (χ∥, χ⊥) at K = 1e-4 and tanh at K = 1."""
    for name, cw, ref in (("tanh", 1.0, (0.99960, 0.99980)), ("sin", 1.0, (0.99980, 0.99990)),
                          ("erf", math.pi / 4, (0.99960, 0.99980))):
        got = susceptibilities(name, 0.0, cw, 1e-4)
        assert got == pytest.approx(ref, abs=1e-5)
        a1 = criticality(name).a1
        assert got[0] == pytest.approx(1 + 2 * a1 * 1e-4, abs=1e-6)  # first order in K
        assert got[1] == pytest.approx(1 + a1 * 1e-4, abs=1e-6)
    assert susceptibilities("tanh", 0.0, 1.0, 1.0) == pytest.approx((0.1818, 0.4644), abs=1e-4)
    chi_par, chi_perp = susceptibilities("relu", 0.0, 2.0, np.array([0.5, 1.0, 7.0]))
    np.testing.assert_allclose(chi_par, 1.0)
    np.testing.assert_allclose(chi_perp, 1.0)


def test_susceptibilities_at_the_fixed_point_and_convergence_errors():
    k_star = fixed_point("tanh", 0.2, 1.5)
    assert k_star == pytest.approx(0.2 + 1.5 * float(A.tanh().power_mean(k_star, 2)), rel=1e-12)
    assert susceptibilities("tanh", 0.2, 1.5) == pytest.approx(susceptibilities("tanh", 0.2, 1.5, k_star))
    assert fixed_point("tanh", 0.0, 1.0) == 0.0  # K* = 0, approached as a power law
    assert fixed_point("relu", 0.5, 1.0) == pytest.approx(1.0, rel=1e-12)  # C_b / (1 - C_W A2)
    with pytest.raises(ConvergenceError, match="grows without bound") as info:
        susceptibilities("relu", 0.1, 3.0)
    assert info.value.partial is not None
    assert info.value.partial > 1e6
    with pytest.raises(ConvergenceError, match="grows without bound") as info:
        fixed_point("relu", 0.1, 2.0)  # K grows by C_b per layer: slow, but no fixed point
    assert info.value.partial == pytest.approx(1.0 + 0.1 * 2000, rel=1e-9)
    with pytest.raises(ConvergenceError, match="grows without bound"):
        susceptibilities("relu", 0.1, 2.0)
    with pytest.raises(ValueError, match=re.escape("`cw` must be finite > 0")):
        susceptibilities("tanh", 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("`cb` must be finite >= 0")):
        susceptibilities("tanh", -0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("`K` must be finite and >= 0")):
        susceptibilities("tanh", 0.0, 1.0, -1.0)
    with pytest.raises(ValueError, match=re.escape("`activation` must be one of")):
        susceptibilities("tanhh", 0.0, 1.0, 1.0)


def test_fixed_point_at_the_gelu_critical_point():
    """χ∥ = 1 at K*: the map is tangent there, the approach from K = 1 is slow and ends in the root polish."""
    cp = criticality("gelu")
    k = fixed_point("gelu", cp.cb, cp.cw)
    assert 1.0 < k <= cp.fixed_point * (1 + 1e-9)
    assert cp.cb + cp.cw * float(A.get("gelu").power_mean(k, 2)) == pytest.approx(k, rel=1e-12)
    chi_par, chi_perp = susceptibilities("gelu", cp.cb, cp.cw)
    assert (chi_par, chi_perp) == pytest.approx(susceptibilities("gelu", cp.cb, cp.cw, k), rel=1e-12)
    assert 0.99 < chi_par <= 1.0 + 1e-9


def test_depth_scaling_relu_and_leaky_are_exactly_linear():
    ds = depth_scaling("relu", 30)
    np.testing.assert_allclose(ds.v_over_k2, 5.0 * (ds.layers - 1), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ds.kernel, 1.0, rtol=1e-15)
    np.testing.assert_allclose(ds.v_over_k2_law, ds.v_over_k2, rtol=1e-13, atol=1e-13)
    leaky = depth_scaling(A.leaky_relu(0.2), 10)
    np.testing.assert_allclose(leaky.v_over_k2, leaky.critical.kappa * (leaky.layers - 1), rtol=1e-12)


def test_depth_scaling_k_star_zero_class_theory_md_table():
    """THEORY.md §3.4 table and R12: K ℓ (-a1) -> 1, V/(K² ℓ) -> 2/3."""
    ds = depth_scaling("tanh", 3000)
    for layer, kl, vk in ((10, 1.1602, 0.5524), (100, 1.0241, 0.6480), (1000, 1.0033, 0.6641),
                          (3000, 1.0013, 0.6657)):
        i = layer - 1
        assert ds.kernel[i] * layer * 2 == pytest.approx(kl, abs=1e-4)
        assert ds.v_over_k2[i] / layer == pytest.approx(vk, abs=1e-4)
    assert ds.v_over_k2[-1] / 3000 == pytest.approx(0.66573, abs=1e-5)
    np.testing.assert_allclose(ds.kernel_law, 1 / (2 * ds.layers))
    np.testing.assert_allclose(ds.v_over_k2_law, 2 * ds.layers / 3)
    for name, kl, vk in (("sin", 0.9991, 0.6668), ("erf", 1.0006, 0.6660)):
        d = depth_scaling(name, 3000)
        assert d.kernel[-1] * 3000 * (-d.critical.a1) == pytest.approx(kl, abs=1e-4)
        assert d.v_over_k2[-1] / 3000 == pytest.approx(vk, abs=1e-4)


def test_depth_scaling_general_class_starts_at_the_fixed_point():
    ds = depth_scaling("gelu", 20)
    np.testing.assert_allclose(ds.kernel, ds.critical.fixed_point, rtol=1e-9)
    np.testing.assert_allclose(ds.v_over_k2, ds.v_over_k2_law, rtol=1e-8, atol=1e-10)
    with pytest.raises(NoCriticalPointError):
        depth_scaling("softplus", 5)
    with pytest.raises(ValueError, match=re.escape("`depth` must be an integer >= 1")):
        depth_scaling("tanh", 0)


def test_phase_diagram():
    pd = phase_diagram("tanh", cb=[0.0, 0.2], cw=[0.5, 1.0, 1.5], depth=50)
    assert pd.chi_parallel.shape == (2, 3)
    assert pd.escape_depth.shape == (2, 3)
    assert pd.escape_depth[0, 0] > 0  # C_W < 1, C_b = 0: K collapses
    assert pd.escape_depth[1, 2] == -1
    assert pd.converged[1, 2]
    k = fixed_point("tanh", 0.2, 1.5)
    assert pd.kernel[1, 2] == pytest.approx(k, rel=1e-8)
    assert (pd.chi_parallel[1, 2], pd.chi_perp[1, 2]) == pytest.approx(susceptibilities("tanh", 0.2, 1.5, k), rel=1e-7)
    assert pd.critical.cw == 1.0
    relu = phase_diagram("relu", cb=[0.0], cw=[1.0, 2.0, 3.0], depth=30)
    assert relu.escape_depth[0, 1] == -1
    assert relu.escape_depth[0, 0] > 0
    assert relu.escape_depth[0, 2] > 0
    assert relu.kernel[0, 2] > relu.K0  # blew up
    np.testing.assert_array_equal(relu.escape_direction, [[-1, 0, 1]])
    np.testing.assert_array_equal(pd.escape_direction[0], [-1, -1, 0])  # tanh at C_W = 1: K ~ 1/(2l)
    # the last in-band kernel of a cell that fell out downwards can lie above K0 (C_b = 0, C_W = 0.1)
    low = phase_diagram("relu", cb=[0.0], cw=[0.1], depth=5)
    assert low.escape_direction[0, 0] == -1
    assert low.escape_depth[0, 0] == 2
    assert pd.to_dict()["escape_direction"][0] == [-1, -1, 0]
    d = pd.to_dict()
    assert d["activation"] == "tanh"
    assert len(d["chi_perp"]) == 2
    with pytest.raises(ValueError, match=re.escape("`cw` must be a non-empty 1-d array of finite values > 0")):
        phase_diagram("tanh", cw=[0.0, 1.0])
    with pytest.raises(ValueError, match=re.escape("`band` must be > 1")):
        phase_diagram("tanh", band=0.5)


def test_plots_return_axes():
    import matplotlib.pyplot as plt

    fig, axes = plot_depth_scaling("tanh", 20)
    assert len(axes) == 2
    assert axes[1].get_ylabel() == "V/K²"
    plt.close(fig)
    fig, ax = plt.subplots()
    fig2, axes = plot_depth_scaling("relu", 10, ax, width=50)
    assert fig2 is fig
    assert axes == [ax]
    assert "n = 50" in ax.get_ylabel()
    ax2 = phase_diagram("tanh", cb=np.linspace(0, 0.5, 4), cw=np.linspace(0.5, 2, 5), depth=10).plot()
    assert ax2.get_xlabel() == "$C_W$"
    plt.close("all")
    with pytest.raises(ValueError, match=re.escape("`width` must be a positive integer")):
        plot_depth_scaling("tanh", 5, width=0)


def test_fixed_point_finds_a_touching_fixed_point_from_above():
    # GELU at criticality: the map touches the diagonal at K* = (3 + sqrt 17)/2 (χ∥ = 1) and crosses it
    # lower down; from above the iteration stops at the touching point, from below at the crossing.
    cp = criticality("gelu")
    k_star = (3 + math.sqrt(17)) / 2
    assert fixed_point("gelu", cp.cb, cp.cw, K0=5.0) == pytest.approx(k_star, rel=1e-10)
    below = fixed_point("gelu", cp.cb, cp.cw, K0=1.0)
    assert below < k_star - 0.1
    chi_par, _ = susceptibilities("gelu", cp.cb, cp.cw, below)
    assert chi_par < 1  # an attracting crossing, not the critical point
    # a plain crossing is still returned as before (tanh off criticality, from both sides)
    assert fixed_point("tanh", 0.1, 1.5, K0=5.0) == pytest.approx(fixed_point("tanh", 0.1, 1.5, K0=0.01), rel=1e-12)
