"""NonlinearTheory: THEORY.md reference values, cross-checks with the exact linear theory, MC, errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import deepeft
from deepeft import Network, activations
from deepeft.linear_theory import LinearTheory
from deepeft.nonlinear_theory import NonlinearTheory

SEED = 20240917
Z_CRIT = 5.0
X_R10 = np.array([[1.0, -0.5, 0.2], [0.3, 0.9, -0.7]])  # the inputs of THEORY.md R10 and §3.2


# ------------------------------------------------------------ reference values (THEORY.md §8)
def test_r4_relu_exact_and_leading_vertex():
    for n, exact in ((10, 374.43359375), (100, 55.1328215979)):
        th = NonlinearTheory(Network([1] + [n] * 10, "relu", cw=2.0), [1.0])
        k = th.kernel(10)[0, 0]
        assert th.vertex(10, order="exact")[0, 0, 0, 0] / k**2 == pytest.approx(exact, rel=1e-10)
        assert th.vertex(10)[0, 0, 0, 0] / k**2 == pytest.approx(45.0, rel=1e-13)


def test_r5_tanh_leading_order():
    th = deepeft.theory(Network([1] + [50] * 1000, "tanh"), [1.0])
    assert isinstance(th, NonlinearTheory)
    k, v = th.kernel(10)[0, 0], th.vertex(10)[0, 0, 0, 0]
    assert k == pytest.approx(0.0580118478, rel=1e-9)
    assert v == pytest.approx(1.8588727586e-2, rel=1e-9)
    assert v / k**2 == pytest.approx(5.52352424, rel=1e-8)
    k, v = th.kernel(1000)[0, 0], th.vertex(1000)[0, 0, 0, 0]
    assert k == pytest.approx(5.016665e-4, rel=1e-6)
    assert v / k**2 == pytest.approx(664.148045, rel=1e-8)


def test_r6_relu_correlations():
    x = np.array([[1.0, 0.0], [0.5, math.sqrt(0.75)]]) * math.sqrt(2)  # G^(0) = [[1, .5], [.5, 1]]
    th = NonlinearTheory(Network([2] + [10] * 10, "relu", cw=2.0), x)
    for layer, rho in ((1, 0.5), (2, 0.6089977810), (5, 0.7788951374), (10, 0.8860334783)):
        k = th.kernel(layer)
        assert k[0, 1] / k[0, 0] == pytest.approx(rho, rel=1e-9)


def test_relu_kernel_is_the_arc_cosine_map():
    """Cho & Saul's degree-1 arc-cosine kernel, iterated independently of deepeft."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(4, 6))
    cw, cb = 1.7, 0.3
    th = NonlinearTheory(Network([6] + [20] * 8, "relu", cw=cw, cb=cb), x)
    K = cb + cw * x @ x.T / 6
    for layer in range(1, 9):
        np.testing.assert_allclose(th.kernel(layer), K, rtol=1e-13)
        d = np.sqrt(np.diag(K))
        c = np.clip(K / np.outer(d, d), -1, 1)
        t = np.arccos(c)
        K = cb + cw * np.outer(d, d) / (2 * np.pi) * (np.sin(t) + (np.pi - t) * c)


def test_r10_ntk():
    lin = NonlinearTheory(Network([1] + [10] * 5, "linear"), [1.0])
    assert lin.ntk(5)[0, 0] == pytest.approx(10.0, rel=1e-15)
    relu = NonlinearTheory(Network([1] + [10] * 6, "relu", cw=2.0), [1.0])
    for layer in range(1, 7):
        assert relu.ntk(layer, lambda_b=0.0, lambda_w=1.0)[0, 0] == pytest.approx(layer, rel=1e-14)
    th = NonlinearTheory(Network([3, 10, 10, 10, 10], "tanh", cw=1.3, cb=0.1), X_R10)
    theta = th.ntk(4, lambda_b=[0.5, 1, 0.3, 0.8], lambda_w=[1, 0.7, 1.2, 0.9])
    np.testing.assert_allclose(theta, [[2.6655844, 1.72251302], [1.72251302, 2.66515148]], rtol=2e-8)


def test_section_3_2_multi_input_vertices():
    """THEORY.md §3.2 table (2 inputs, L = 4), inputs of R10."""
    cases = [
        ("tanh", 1.0, 0.0, (0, 0, 0, 0), 0.03938),
        ("tanh", 1.0, 0.0, (0, 1, 0, 1), 0.05141),
        ("tanh", 1.5, 0.2, (0, 1, 0, 1), 0.40167),
        ("relu", 2.0, 0.0, (0, 0, 0, 0), 11.094),
        ("relu", 2.0, 0.0, (0, 1, 1, 1), 4.5320),
        ("relu", 1.6, 0.3, (0, 0, 1, 1), 4.0169),
    ]
    for act, cw, cb, idx, ref in cases:
        v = NonlinearTheory(Network([3, 32, 32, 32, 32], act, cw=cw, cb=cb), X_R10).vertex(4)
        assert v[idx] == pytest.approx(ref, abs=0.6e-4 * max(1, ref)), (act, cw, cb, idx)


def test_width_ratio_factor():
    """THEORY.md §3.2: tanh (C_W, C_b) = (1.2, 0.1), widths [3,40,12,80,24]: 0.20424 (0.1018 without ratios)."""
    v = NonlinearTheory(Network([3, 40, 12, 80, 24], "tanh", cw=1.2, cb=0.1), X_R10).vertex(4)
    assert v[0, 0, 0, 0] == pytest.approx(0.20424, abs=1e-5)
    v_eq = NonlinearTheory(Network([3, 40, 40, 40, 40], "tanh", cw=1.2, cb=0.1), X_R10).vertex(4)
    assert v_eq[0, 0, 0, 0] == pytest.approx(0.1018, abs=1e-4)


def test_section_3_6_orthogonal_weights():
    def v5(act, cw, cb):
        th = NonlinearTheory(Network([16] * 6, act, cw=cw, cb=cb, init="orthogonal"), np.ones(16))
        return th, th.vertex(5)[0, 0, 0, 0]

    assert v5("tanh", 1.0, 0.0)[1] == pytest.approx(-0.029322, abs=1e-6)
    assert v5("relu", 2.0, 0.0)[1] == pytest.approx(40.0, rel=1e-12)
    assert v5("tanh", 1.5, 0.2)[1] == pytest.approx(-0.37668, abs=1e-5)
    th, _ = v5("linear", 1.0, 0.0)
    for layer in range(1, 6):
        assert th.vertex(layer)[0, 0, 0, 0] / th.kernel(layer)[0, 0] ** 2 == pytest.approx(-2.0, rel=1e-12)
    th, _ = v5("relu", 2.0, 0.0)
    for layer in range(1, 6):
        assert th.vertex(layer)[0, 0, 0, 0] / th.kernel(layer)[0, 0] ** 2 == pytest.approx(3 * layer - 5, rel=1e-12)
    deep = NonlinearTheory(Network([8] * 101, "tanh", init="orthogonal"), np.ones(8))
    assert deep.vertex(100)[0, 0, 0, 0] / deep.kernel(100)[0, 0] ** 2 == pytest.approx(-1.976, abs=5e-4)


def test_homogeneous_exact_ghat_moments():
    """THEORY.md §3.4 checks: ReLU and leaky-0.2, widths [4,16,12,20,16,8], no biases."""
    widths = [4, 16, 12, 20, 16, 8]
    th = NonlinearTheory(Network(widths, "relu", cw=2.0), np.ones(4))
    k = th.kernel(5)[0, 0]
    assert th.ghat_moment(5, 1) == pytest.approx(k, rel=1e-14)
    assert th.ghat_moment(5, 2) / k**2 == pytest.approx(3.05054, abs=1e-5)
    assert th.ghat_moment(5, 3) / k**3 == pytest.approx(21.150, abs=1e-3)
    leaky = NonlinearTheory(Network(widths, activations.leaky_relu(0.2), cw=2 / 1.04), np.ones(4))
    assert leaky.ghat_moment(5, 2) / leaky.kernel(5)[0, 0] ** 2 == pytest.approx(2.79613, abs=1e-5)


# ------------------------------------------------------------ linear σ: agreement with LinearTheory
def test_linear_activation_reproduces_linear_theory_leading_order():
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(3, 4))
    net = Network([4, 7, 12, 5, 9], "linear", cw=[1.2, 0.8, 1.5, 1.0], cb=[0.3, 0.1, 0.0, 0.5])
    lin, non = LinearTheory(net, x), NonlinearTheory(net, x)
    for layer in range(1, 5):
        np.testing.assert_allclose(non.kernel(layer), lin.kernel(layer), rtol=1e-13)
        np.testing.assert_allclose(non.vertex(layer), lin.vertex(layer, order="leading"), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(non.ntk(layer, 0.7, [1, 2, 0.5, 1]), lin.ntk(layer, 0.7, [1, 2, 0.5, 1]),
                                   rtol=1e-13)


def test_linear_exact_branch_matches_linear_theory():
    net = Network([2, 5, 7, 4, 6], "linear", cw=[1.3, 0.9, 1.1, 1.0])
    x = [[0.6, -1.1]]
    lin, non = LinearTheory(net, x), NonlinearTheory(net, x)
    for layer in (2, 4):
        assert non.vertex(layer, order="exact")[0, 0, 0, 0] == pytest.approx(lin.vertex(layer)[0, 0, 0, 0], rel=1e-12)
        for neurons in ([0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0, 0, 0], [0, 1, 0, 1, 2, 2], [0] * 8):
            inputs = [0] * len(neurons)
            assert non.moment(layer, neurons, inputs, order="exact") == pytest.approx(
                lin.moment(layer, neurons, inputs), rel=1e-12)
            assert non.cumulant(layer, neurons, inputs, order="exact") == pytest.approx(
                lin.cumulant(layer, neurons, inputs), rel=1e-9, abs=1e-12)


# ------------------------------------------------------------ correlators and structure
def test_moments_cumulants_and_vertex_symmetries():
    th = NonlinearTheory(Network([3, 20, 30, 25], "tanh", cw=1.4, cb=0.2), X_R10)
    K, V = th.kernel(3), th.vertex(3)
    np.testing.assert_allclose(V, V.transpose(1, 0, 2, 3), rtol=0, atol=0)
    np.testing.assert_allclose(V, V.transpose(2, 3, 0, 1), rtol=0, atol=0)
    n = 30  # n_{l-1}
    assert th.moment(3, [0, 0], [0, 1]) == pytest.approx(K[0, 1])
    assert th.moment(3, [0, 1], [0, 1]) == 0.0
    assert th.moment(3, [0, 0, 0], [0, 1, 1]) == 0.0
    assert th.cumulant(3, [2, 2, 5, 5], [0, 1, 1, 1]) == pytest.approx(V[0, 1, 1, 1] / n, rel=1e-14)
    assert th.moment(3, [2, 2, 5, 5], [0, 1, 1, 1]) == pytest.approx(K[0, 1] * K[1, 1] + V[0, 1, 1, 1] / n)
    one = th.cumulant(3, [4, 4, 4, 4], [0, 0, 1, 1])
    assert one == pytest.approx((V[0, 0, 1, 1] + 2 * V[0, 1, 0, 1]) / n, rel=1e-14)
    full = th.moment(3, [4, 4, 4, 4], [0, 0, 1, 1])
    assert full == pytest.approx(K[0, 0] * K[1, 1] + 2 * K[0, 1] ** 2 + one, rel=1e-14)
    assert th.cumulant(3, [1, 2, 1, 2], [0, 0, 0, 0]) == pytest.approx(V[0, 0, 0, 0] / n)
    assert th.cumulant(3, [1, 1, 1, 2], [0, 0, 0, 0]) == 0.0


def test_exact_order_for_relu_single_input_any_order():
    th = NonlinearTheory(Network([1, 6, 8, 5], "relu", cw=2.0), [1.0])
    k = th.kernel(3)[0, 0]
    m6 = th.moment(3, [0] * 6, [0] * 6, order="exact")
    assert m6 == pytest.approx(15 * th.ghat_moment(3, 3), rel=1e-14)
    c4 = th.cumulant(3, [0, 0, 1, 1], [0] * 4, order="exact")
    assert c4 == pytest.approx(th.vertex(3, order="exact")[0, 0, 0, 0] / 8, rel=1e-12)  # n_2 = 8
    assert th.ghat_moment(3, 1) == pytest.approx(k)
    # E[(Y/n)^2] = 1 + κ/n exactly, κ = 5
    assert th.ghat_moment(2, 2) / k**2 == pytest.approx(1 + 5 / 6, rel=1e-14)


def test_exactness_report_and_dispatch():
    th = deepeft.theory(Network([2, 8, 8], "relu", cw=2.0), [[1.0, 0.0]])
    assert isinstance(th, NonlinearTheory)
    assert th.exact is False
    assert th.exact_available
    assert "exact" in th.exactness["vertex"]
    assert set(th.exactness) >= {"kernel", "vertex", "moment", "cumulant", "ntk"}
    orth = deepeft.theory(Network([4, 4, 4], "tanh", init="orthogonal"), np.eye(4)[:2])
    assert isinstance(orth, NonlinearTheory)
    assert orth.orthogonal
    assert not orth.exact_available
    chi_par, chi_perp = deepeft.theory(Network([1, 5, 5, 5], "tanh"), [1.0]).susceptibilities(1)
    assert chi_par[0] == pytest.approx(0.1818, abs=1e-4)
    assert chi_perp[0] == pytest.approx(0.4644, abs=1e-4)


@pytest.mark.parametrize("act", ["relu", "leaky_relu(0.2)", "tanh", "gelu", "erf"])
def test_degenerate_inputs(act):
    """Duplicate, zero, positively and negatively collinear inputs (singular kernels)."""
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.6, 0.8], [2.0, 0.0], [-1.0, 0.0]])
    th = NonlinearTheory(Network([2, 5, 5, 5], act, cw=1.5), x)
    V = th.vertex(3)
    assert np.all(np.isfinite(V))
    np.testing.assert_allclose(V[0], V[1], rtol=1e-12, atol=1e-15)
    assert np.all(V[2, 2] == 0.0)  # a zero input stays exactly zero without biases (σ(0) = 0)
    if act in ("relu", "leaky_relu(0.2)"):  # homogeneous: z_4 = 2 z_0 exactly
        # (collinear inputs: the orthant route regularises at 1e-11)
        assert V[4, 4, 4, 4] == pytest.approx(16 * V[0, 0, 0, 0], rel=1e-10)
        assert V[0, 4, 0, 4] == pytest.approx(4 * V[0, 0, 0, 0], rel=1e-10)
    # continuity: perturbing the singular configuration changes V only a little
    xp = x + 1e-7 * np.random.default_rng(SEED).normal(size=x.shape)
    Vp = NonlinearTheory(Network([2, 5, 5, 5], act, cw=1.5), xp).vertex(3)
    np.testing.assert_allclose(Vp, V, atol=1e-5 * np.max(np.abs(V)))


# ------------------------------------------------------------ Monte Carlo
def test_leading_vertex_against_width_extrapolated_monte_carlo():
    """Cheap version: tanh, 2 inputs, L = 3, widths 16..128; plus a negative control (C_W off by 4 %)."""
    from deepeft.finite_width import finite_width_check

    net = Network([3, 8, 8, 8], "tanh", cw=1.2, cb=0.1)
    res = finite_width_check(net, X_R10, widths=[16, 32, 64, 128], networks=20_000, seed=SEED)
    assert res.max_abs_z < Z_CRIT, res.table()
    wrong = NonlinearTheory(Network([3, 8, 8, 8], "tanh", cw=1.25, cb=0.1), X_R10).vertex(3)
    zs = [(r.x_inf - wrong[r.index]) / r.x_inf_se for r in res.select("vertex")]
    assert max(abs(z) for z in zs) > Z_CRIT


def _ntk_monte_carlo(widths, act, cw, cb, lb, lw, x, nets, seed, outs=8, chunk=250):
    """E[Ĥ_ii] of finite networks by backpropagation (dense weights), with its standard error."""
    rng = np.random.default_rng(seed)
    L = len(widths) - 1
    vals = []
    for start in range(0, nets, chunk):
        B = min(chunk, nets - start)
        Ws = [rng.normal(size=(B, widths[l + 1], widths[l])) * np.sqrt(cw / widths[l]) for l in range(L)]
        bs = [rng.normal(size=(B, widths[l + 1], 1)) * np.sqrt(cb) for l in range(L)]
        acts, zs = [np.broadcast_to(x.T, (B, *x.T.shape))], []
        for l in range(L):
            zs.append(Ws[l] @ acts[-1] + bs[l])
            if l < L - 1:
                acts.append(act(zs[-1]))
        theta = np.zeros((B, x.shape[0], x.shape[0]))
        delta = np.zeros((B, outs, widths[L], x.shape[0]))
        for i in range(outs):
            delta[:, i, i, :] = 1.0
        for l in range(L - 1, -1, -1):
            dd = np.einsum("bojn,bojm->bonm", delta, delta)
            gram = np.einsum("bkn,bkm->bnm", acts[l], acts[l]) / widths[l]
            theta += (lb[l] * dd + lw[l] * dd * gram[:, None]).mean(axis=1)
            if l > 0:
                delta = np.einsum("bojn,bjk->bokn", delta, Ws[l]) * act.prime(zs[l - 1])[:, None]
        vals.append(theta)
    v = np.concatenate(vals)
    return v.mean(0), v.std(0, ddof=1) / np.sqrt(len(v))


def test_ntk_against_finite_network_monte_carlo():
    lb, lw = [0.5, 1, 0.3, 0.8], [1, 0.7, 1.2, 0.9]
    net = Network([3, 32, 32, 32, 32], "tanh", cw=1.3, cb=0.1)
    mean, se = _ntk_monte_carlo(list(net.widths), net.activation, 1.3, 0.1, lb, lw, X_R10, 2000, SEED)
    th = deepeft.theory(net, X_R10)
    z = (mean - th.ntk(4, lb, lw)) / se
    assert np.max(np.abs(z)) < Z_CRIT, z
    z_wrong = (mean - th.ntk(4, 1.0, lw)) / se
    assert np.max(np.abs(z_wrong)) > Z_CRIT


@pytest.mark.slow
def test_ntk_against_monte_carlo_wide():
    lb, lw = [0.5, 1, 0.3, 0.8], [1, 0.7, 1.2, 0.9]
    net = Network([3, 128, 128, 128, 128], "tanh", cw=1.3, cb=0.1)
    mean, se = _ntk_monte_carlo(list(net.widths), net.activation, 1.3, 0.1, lb, lw, X_R10, 4000, SEED + 1)
    z = (mean - deepeft.theory(net, X_R10).ntk(4, lb, lw)) / se
    assert np.max(np.abs(z)) < Z_CRIT, z


@pytest.mark.slow
@pytest.mark.parametrize(("act", "cw", "cb"), [("tanh", 1.0, 0.0), ("relu", 1.6, 0.3), ("gelu", 1.5, 0.1)])
def test_leading_vertex_against_monte_carlo_precise(act, cw, cb):
    from deepeft.finite_width import finite_width_check

    net = Network([3, 8, 8, 8, 8], act, cw=cw, cb=cb)
    res = finite_width_check(net, X_R10, widths=[32, 64, 128, 256], networks=100_000, seed=SEED)
    assert res.max_abs_z < Z_CRIT, res.table()


@pytest.mark.slow
def test_width_ratio_against_monte_carlo():
    from deepeft.finite_width import finite_width_check

    net = Network([3, 40, 12, 80, 24], "tanh", cw=1.2, cb=0.1)
    res = finite_width_check(net, X_R10[:1], scales=[1, 2, 4, 8], networks=50_000, seed=SEED,
                             quantities=["vertex"])
    assert res.max_abs_z < Z_CRIT, res.table()
    assert abs((res.records[0].x_inf - 0.1018) / res.records[0].x_inf_se) > Z_CRIT  # ratios ignored: excluded


@pytest.mark.slow
def test_orthogonal_vertex_against_monte_carlo():
    from deepeft.finite_width import finite_width_check

    res = finite_width_check(lambda n: Network([n] * 6, "tanh", init="orthogonal"), lambda n: np.ones(n),
                             widths=[32, 64, 128, 256], networks=50_000, seed=SEED, quantities=["vertex"])
    assert res.records[0].theory == pytest.approx(-0.029322, abs=1e-6)
    assert res.max_abs_z < Z_CRIT, res.table()


# ------------------------------------------------------------ errors
def test_bad_arguments():
    th = NonlinearTheory(Network([3, 8, 8, 8], "tanh"), X_R10)
    with pytest.raises(ValueError, match=re.escape("`order` must be one of ['exact', 'leading']")):
        th.vertex(2, order="nlo")
    with pytest.raises(ValueError, match="order='exact' is available only for positively homogeneous"):
        th.vertex(2, order="exact")
    with pytest.raises(ValueError, match="gives 2- and 4-point correlators, got 6 points"):
        th.moment(2, [0] * 6, [0] * 6)
    with pytest.raises(ValueError, match=re.escape("`layer` must be an integer in [1, 3]")):
        th.vertex(0)
    with pytest.raises(ValueError, match=re.escape("`lambda_b` values must be finite and >= 0")):
        th.ntk(2, lambda_b=-1.0)
    with pytest.raises(ValueError, match=re.escape("`lambda_w` must be a scalar or have one value per layer")):
        th.ntk(2, lambda_w=[1.0, 2.0])
    with pytest.raises(ValueError, match=re.escape("`tol` must be a number in [1e-15, 1e-2]")):
        NonlinearTheory(Network([3, 8], "tanh"), X_R10, tol=0.5)
    with pytest.raises(ValueError, match="square layers"):
        NonlinearTheory(Network([3, 8, 8], "tanh", init="orthogonal"), X_R10)
    relu = NonlinearTheory(Network([3, 8, 8, 8], "relu", cw=2.0), X_R10)
    with pytest.raises(ValueError, match="order='exact' vertices exist for one input only"):
        relu.vertex(3, order="exact")
    with pytest.raises(ValueError, match="order='exact' covers single-input patterns only"):
        relu.moment(3, [0, 0, 1, 1], [0, 0, 1, 1], order="exact")
    with pytest.raises(ValueError, match=re.escape("`input` must be an integer in [0, 1]")):
        relu.ghat_moment(3, 2, input=2)
    with pytest.raises(ValueError, match=re.escape("`layer` must be in [1, 2] (the susceptibility")):
        relu.susceptibilities(3)
    with pytest.raises(ValueError, match="no theory|must be one of"):
        Network([3, 8], "not-an-activation")


def test_exactness_moment_label_is_honest_about_the_disconnected_part():
    th = NonlinearTheory(Network([2, 8, 8], "tanh"), np.eye(2))
    label = th.exactness["moment"]
    assert "connected part to O(1/n)" in label
    assert "disconnected part at leading order (K)" in label
    assert "not included" in label
    assert "disconnected part at leading order" in NonlinearTheory.moment.__doc__
