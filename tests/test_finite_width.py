"""Finite-width check: the 1/n fit, Monte Carlo against theory, the theory's b, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from deepeft import Network
from deepeft.finite_width import FiniteWidthCheck, finite_width_check, fit_inverse_width

SEED = 20240917
Z_CRIT = 5.0


def test_fit_recovers_exact_lines_and_weights():
    sizes = [8, 16, 32, 64]
    vals = [2.0 + 3.0 / s for s in sizes]
    fit = fit_inverse_width(sizes, vals, [0.0] * 4)
    assert fit["x_inf"] == pytest.approx(2.0, rel=1e-13)
    assert fit["b"] == pytest.approx(3.0, rel=1e-12)
    fit = fit_inverse_width(sizes, vals, [0.1, 0.1, 0.1, 0.1])
    assert fit["chi2"] == pytest.approx(0.0, abs=1e-20)
    assert fit["dof"] == 2
    # the standard errors of a two-point fit follow from error propagation
    fit = fit_inverse_width([1, 2], [1.0, 1.0], [0.1, 0.1])
    # x_inf = 2 X(2) - X(1): se = sqrt(4 + 1) * 0.1
    assert fit["x_inf_se"] == pytest.approx(np.sqrt(5) * 0.1, rel=1e-12)
    with pytest.raises(ValueError, match="at least two distinct values"):
        fit_inverse_width([4, 4], [1.0, 1.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="same length >= 2"):
        fit_inverse_width([4], [1.0], [0.1])


def test_relu_single_input_x_inf_and_b_against_exact_theory():
    """Homogeneous σ, one input, no biases: the theory also gives b (exact finite-width V)."""
    res = finite_width_check(Network([1, 8, 8, 8, 8], "relu", cw=2.0), [1.0], widths=[8, 16, 32, 64],
                             networks=40_000, seed=SEED)
    assert isinstance(res, FiniteWidthCheck)
    (kern,) = res.select("kernel")
    (vert,) = res.select("vertex")
    assert kern.theory == 2.0
    assert vert.theory == pytest.approx(60.0)
    assert vert.b_theory is not None
    assert kern.b_theory == pytest.approx(0.0, abs=1e-12)
    assert res.max_abs_z < Z_CRIT, res.table()
    assert abs(vert.z_b) < Z_CRIT, res.table()
    assert "max |z|" in res.table()
    # negative control: the width-n value itself is biased by b/n, visibly at n = 8
    assert abs((vert.values[0] - vert.theory) / vert.stderr[0]) > Z_CRIT


def test_tanh_multi_input_and_plot():
    import matplotlib.pyplot as plt

    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    res = finite_width_check(Network([2, 8, 8, 8], "tanh", cw=1.5, cb=0.2), x, widths=[16, 32, 64],
                             networks=10_000, seed=SEED)
    assert len(res.select("kernel")) == 3
    assert len(res.select("vertex")) == 6
    assert res.max_abs_z < Z_CRIT, res.table()
    assert all(r.b_theory is None for r in res.records)
    ax = res.plot("vertex", (0, 1, 0, 1))
    assert ax.get_xlabel() == "1/n"
    plt.close("all")
    d = res.to_dict()
    assert d["sizes"] == [16.0, 32.0, 64.0]
    assert len(d["records"]) == 9


def test_scales_and_callables():
    net = Network([3, 4, 2, 6], "tanh")
    res = finite_width_check(net, np.ones(3), scales=[2, 4, 8], networks=2_000, seed=1, quantities=["kernel"])
    assert res.size_label == "s"
    assert res.sizes == (2.0, 4.0, 8.0)
    res2 = finite_width_check(lambda n: Network([n] * 4, "tanh", init="orthogonal"), lambda n: np.ones(n),
                              widths=[8, 16], networks=1_000, seed=1)
    assert res2.select("vertex")[0].theory < 0  # V^(3) of orthogonal tanh is negative (THEORY.md §3.6)


def test_bad_arguments():
    net = Network([1, 8, 8], "tanh")
    with pytest.raises(ValueError, match="give `widths`"):
        finite_width_check(net, widths=[8, 16], scales=[1, 2])
    with pytest.raises(ValueError, match="at least two distinct sizes"):
        finite_width_check(net, widths=[8, 8])
    with pytest.raises(ValueError, match=re.escape("`widths` must be positive integers")):
        finite_width_check(net, widths=[8, 0])
    with pytest.raises(ValueError, match=re.escape("`networks` must be an integer >= 2")):
        finite_width_check(net, widths=[8, 16], networks=1)
    with pytest.raises(ValueError, match=re.escape("`quantities` must contain only")):
        finite_width_check(net, widths=[8, 16], quantities=["six_point"])
    with pytest.raises(ValueError, match=re.escape("`layer` must be an integer in [1, 2]")):
        finite_width_check(net, widths=[8, 16], layer=3)
    with pytest.raises(ValueError, match=re.escape("`layer` must be >= 2 to check the vertex")):
        finite_width_check(net, widths=[8, 16], layer=1)
    with pytest.raises(TypeError, match=re.escape("`network` must be a deepeft.Network")):
        finite_width_check("tanh", widths=[8, 16])
