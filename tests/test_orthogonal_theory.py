"""Haar-orthogonal deep linear networks: references, exact Haar quadrature, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import deepeft
from deepeft import Network
from deepeft.orthogonal_theory import OrthogonalLinearTheory

RTOL = 1e-10


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=1e-14)


def haar_o2():
    """Nodes of an exact quadrature of Haar measure on O(2) (exact for degree < 64)."""
    thetas = 2 * np.pi * np.arange(64) / 64
    mats = []
    for t in thetas:
        c, s = math.cos(t), math.sin(t)
        mats.append(np.array([[c, -s], [s, c]]))  # rotations
        mats.append(np.array([[c, s], [s, -c]]))  # reflections
    return mats, np.full(len(mats), 1 / len(mats))


def haar_o3():
    """Exact quadrature of Haar measure on SO(3) (ZYZ Euler angles).

    Enough for the even moments on O(3), since -I is orthogonal and odd in n = 3.
    """
    angles = 2 * np.pi * np.arange(12) / 12
    nodes, weights = np.polynomial.legendre.leggauss(8)

    def rz(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def ry(cb):
        sb = math.sqrt(1 - cb * cb)
        return np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])

    mats, ws = [], []
    for a, g in itertools.product(angles, angles):
        for cb, w in zip(nodes, weights, strict=True):
            mats.append(rz(a) @ ry(cb) @ rz(g))
            ws.append(w / 2 / len(angles) ** 2)
    return mats, np.array(ws)


def haar_moment(mats, weights, scale, x, neurons, inputs) -> float:
    total = 0.0
    for o, w in zip(mats, weights, strict=True):
        z = math.sqrt(scale) * (o @ x.T)  # (n, N_D)
        total += w * math.prod(z[i, a] for i, a in zip(neurons, inputs, strict=True))
    return total


def test_r3_single_input_n10():
    th = OrthogonalLinearTheory(Network([10] * 5, init="orthogonal"), np.ones(10))
    for layer in (1, 2, 4):
        g = th.kernel(layer)[0, 0]
        assert close(g, 1.0)
        assert close(th.cumulant(layer, [0] * 4, [0] * 4) / 3 / g**2, -1 / 6)
        assert close(th.cumulant(layer, [0, 0, 1, 1], [0] * 4) / g**2, -1 / 6)
        assert close(th.vertex(layer)[0, 0, 0, 0] / g**2, -5 / 3)
        assert close(th.cumulant(layer, [0] * 6, [0] * 6) / 15 / g**3, 2 / 21)
        assert close(th.cumulant(layer, [0, 0, 1, 1, 2, 2], [0] * 6) / g**3, 2 / 21)


def test_r9_multi_input_vertex_n4():
    x = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]])  # G^(0) = I_2
    th = OrthogonalLinearTheory(Network([4, 4, 4, 4], init="orthogonal"), x)
    np.testing.assert_allclose(th.kernel(0), np.eye(2))
    for layer in (1, 3):
        v = th.vertex(layer)
        assert close(v[0, 0, 0, 0], -4 / 3)
        assert close(v[0, 1, 0, 1], -8 / 9)
        assert close(v[0, 0, 1, 1], 4 / 9)
        # V is n times the δ_{12}δ_{34} coefficient of the connected 4-pt function.
        assert close(th.cumulant(layer, [0, 0, 1, 1], [0, 1, 0, 1]) * 4, v[0, 1, 0, 1])
        assert close(th.cumulant(layer, [0, 0, 1, 1], [0, 0, 1, 1]) * 4, v[0, 0, 1, 1])


def test_kernel_scales_with_cw_product():
    x = np.array([[1.0, 0.5, -1.0], [0.0, 2.0, 1.0]])
    th = OrthogonalLinearTheory(Network([3] * 4, init="orthogonal", cw=[1.5, 0.5, 2.0]), x)
    for layer, scale in enumerate([1.0, 1.5, 0.75, 1.5]):
        np.testing.assert_allclose(th.kernel(layer), scale * x @ x.T / 3, rtol=1e-14)
    # Depth enters only through the scale: V^(l) / (∏C_W)² is the same at every layer.
    np.testing.assert_allclose(th.vertex(1) / 1.5**2, th.vertex(3) / 1.5**2, rtol=1e-14)


def test_moments_match_exact_haar_quadrature_n2():
    mats, weights = haar_o2()
    x = np.array([[1.0, 0.5], [-0.3, 1.2], [0.7, -0.4]])
    th = OrthogonalLinearTheory(Network([2, 2, 2], init="orthogonal", cw=[1.3, 0.8]), x)
    scale = 1.3 * 0.8
    rng = np.random.default_rng(0)
    for m in (2, 4):
        for _ in range(20):
            neurons = [int(i) for i in rng.integers(0, 2, size=m)]
            inputs = [int(a) for a in rng.integers(0, 3, size=m)]
            expected = haar_moment(mats, weights, scale, x, neurons, inputs)
            assert math.isclose(
                th.moment(2, neurons, inputs), expected, rel_tol=1e-10, abs_tol=1e-12
            )
    # Single distinct input: any even M (uniform law on the circle).
    for neurons in ([0] * 6, [0, 0, 1, 1, 1, 1], [0] * 8, [0, 1] * 4, [1] * 10):
        inputs = [1] * len(neurons)
        expected = haar_moment(mats, weights, scale, x, neurons, inputs)
        assert close(th.moment(2, neurons, inputs), expected)
        c = th.cumulant(2, neurons, inputs)
        assert math.isfinite(c)


def test_moments_match_exact_haar_quadrature_n3():
    mats, weights = haar_o3()
    x = np.array([[1.0, 0.5, 0.2], [-0.3, 1.2, 0.4], [0.7, -0.4, 1.0]])
    th = OrthogonalLinearTheory(Network([3, 3], init="orthogonal", cw=1.7), x)
    cases = [
        ([0, 0, 0, 0], [0, 1, 2, 0]),
        ([0, 0, 1, 1], [0, 1, 2, 0]),
        ([0, 1, 0, 1], [1, 1, 2, 2]),
        ([2, 2, 1, 1], [0, 0, 1, 1]),
        ([0, 0, 1, 1], [2, 2, 2, 2]),
        ([0, 0], [1, 2]),
        ([0, 0, 0, 0, 0, 0], [2] * 6),
        ([0, 0, 1, 1, 2, 2], [0] * 6),
    ]
    for neurons, inputs in cases:
        expected = haar_moment(mats, weights, 1.7, x, neurons, inputs)
        assert close(th.moment(1, neurons, inputs), expected), (neurons, inputs)


def test_weingarten_and_sphere_formulas_agree_on_duplicated_inputs():
    x = np.array([[1.0, -2.0, 0.5, 0.3, 1.1], [1.0, -2.0, 0.5, 0.3, 1.1]])
    th = OrthogonalLinearTheory(Network([5] * 3, init="orthogonal", cw=1.2), x)
    for neurons in ([0, 0, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]):
        single = th.moment(2, neurons, [0, 0, 0, 0])
        assert close(th.moment(2, neurons, [0, 1, 1, 0]), single)
        assert close(th.moment(2, neurons, [0, 1, 0, 1]), single)


def test_large_n_vertex_limit():
    x = np.array([[1.0, 0.2], [0.4, -0.9]])
    n = 4000
    xs = np.zeros((2, n))
    xs[:, :2] = x * math.sqrt(n / 2)  # same G^(0) as x in two dimensions
    th = OrthogonalLinearTheory(Network([n, n], init="orthogonal"), xs)
    g = th.kernel(1)
    limit = -(np.einsum("ac,bd->abcd", g, g) + np.einsum("ad,bc->abcd", g, g))
    np.testing.assert_allclose(th.vertex(1), limit, atol=5e-3 * np.max(np.abs(limit)))


def test_single_neuron_width_one():
    th = OrthogonalLinearTheory(Network([1, 1, 1], init="orthogonal", cw=2.0), [[1.5], [-0.5]])
    # O(1) = {±1}: z_α = ±2 x_α at layer 2, all moments deterministic up to sign.
    assert close(
        th.moment(2, [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 1]), 4.0**3 * 1.5**3 * (-0.5) ** 3
    )
    assert close(th.moment(2, [0, 0], [0, 1]), 4.0 * 1.5 * -0.5)
    # |z| = 3 is constant: κ_4 = E z⁴ - 3 (E z²)² = 81 - 243.
    assert close(th.cumulant(2, [0, 0, 0, 0], [0, 0, 0, 0]), -162.0)
    with pytest.raises(ValueError, match="n=1"):
        th.vertex(1)


def test_odd_correlators_vanish():
    th = OrthogonalLinearTheory(Network([3] * 3, init="orthogonal"), np.eye(3))
    assert th.moment(2, [0, 0, 1], [0, 1, 2]) == 0.0
    assert th.moment(2, [0, 1, 1, 1], [0, 1, 2, 2]) == 0.0
    assert th.cumulant(2, [0, 0, 0], [0, 0, 0]) == 0.0
    assert th.moment(2, [0, 0, 0, 0, 0, 1], [0, 1, 2, 0, 1, 2]) == 0.0  # odd before the M ≤ 4 limit


def test_dispatch_and_repr():
    th = deepeft.theory(Network([3] * 3, init="orthogonal"), np.ones(3))
    assert isinstance(th, OrthogonalLinearTheory)
    assert th.exact
    assert "OrthogonalLinearTheory" in repr(th)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="biases .* for a single input only"):
        OrthogonalLinearTheory(Network([3, 3], init="orthogonal", cb=0.1), np.eye(3))
    biased = OrthogonalLinearTheory(Network([3, 3, 3], init="orthogonal", cb=0.1), np.ones(3))
    with pytest.raises(ValueError, match="with biases gives M-point correlators only for M <= 4"):
        biased.moment(2, [0] * 6, [0] * 6)
    with pytest.raises(ValueError, match="with biases gives M-point correlators only for M <= 4"):
        biased.cumulant(2, [0, 0, 1, 1, 2, 2], [0] * 6)
    with pytest.raises(ValueError, match="square layers only"):
        OrthogonalLinearTheory(Network([3, 4, 4], init="orthogonal"), np.ones(3))
    with pytest.raises(ValueError, match="init='orthogonal'"):
        OrthogonalLinearTheory(Network([3, 3]), np.ones(3))
    th = OrthogonalLinearTheory(Network([3] * 3, init="orthogonal"), np.eye(3))
    with pytest.raises(ValueError, match="only for M <= 4"):
        th.moment(2, [0] * 6, [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="only for M <= 4"):
        th.cumulant(2, [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 2, 2])
    with pytest.raises(ValueError, match="`layer`"):
        th.moment(3, [0, 0], [0, 0])
    with pytest.raises(ValueError, match="`layer`"):
        th.vertex(0)
    with pytest.raises(ValueError, match="`neurons` entries must be in"):
        th.moment(1, [0, 3], [0, 0])
    with pytest.raises(ValueError, match="`inputs` entries must be in"):
        th.moment(1, [0, 0], [0, 3])
    with pytest.raises(ValueError, match="same length"):
        th.cumulant(1, [0, 0], [0, 0, 1])


# ---------------------------------------------------------------- biases, one input
def _biased_moments(n, cw, cb, r0):
    """E R_l, E R_l² by the noncentral-χ² route: R_{l+1}/C_b | R_l ~ χ'²_n(λ = C_W R_l / C_b).

    E[χ'²] = n + λ and E[χ'²²] = 2(n + 2λ) + (n + λ)², averaged over R_l.
    """
    r1, r2 = r0, r0 * r0
    out = [(r1, r2)]
    for w, b in zip(cw, cb, strict=True):
        if b == 0:
            r1, r2 = w * r1, w * w * r2
        else:
            lam1, lam2 = w * r1 / b, w * w * r2 / b**2  # E λ, E λ²
            r1 = b * (n + lam1)
            r2 = b * b * (2 * n + 4 * lam1 + n * n + 2 * n * lam1 + lam2)
        out.append((r1, r2))
    return out


def test_biases_single_input_matches_noncentral_chi2_route():
    n, cw, cb = 8, [1.2, 0.8, 1.5, 1.0], [0.3, 0.1, 0.0, 0.5]
    x = np.array([1.0, -0.5, 2.0, 0.0, 0.3, 1.0, -1.0, 0.2])
    th = deepeft.theory(Network([n] * 5, init="orthogonal", cw=cw, cb=cb), x)
    assert isinstance(th, OrthogonalLinearTheory)
    assert th.exact
    ref = _biased_moments(n, cw, cb, float(x @ x))
    for layer in range(1, 5):
        r1, r2 = ref[layer]
        assert close(th.kernel(layer)[0, 0], r1 / n)
        assert close(th.moment(layer, [3, 3], [0, 0]), r1 / n)
        assert th.moment(layer, [0, 1], [0, 0]) == 0.0
        assert close(th.moment(layer, [0, 0, 1, 1], [0] * 4), r2 / (n * (n + 2)))
        assert close(th.moment(layer, [2] * 4, [0] * 4), 3 * r2 / (n * (n + 2)))
        conn = r2 / (n * (n + 2)) - (r1 / n) ** 2
        assert close(th.cumulant(layer, [0, 1, 0, 1], [0] * 4), conn)
        assert close(th.cumulant(layer, [0] * 4, [0] * 4), 3 * conn)
        assert close(th.vertex(layer)[0, 0, 0, 0], n * conn)
        # Biases drop out of V: V^(l) = (∏ C_W)² × (bias-free value) = -2 (∏C_W)² R_0² / (n(n+2)).
        scale = math.prod(cw[:layer])
        assert close(th.vertex(layer)[0, 0, 0, 0], -2 * (scale * float(x @ x)) ** 2 / (n * (n + 2)))


def test_biases_exact_haar_and_gauss_hermite_quadrature_n2():
    """Exact for polynomial moments: O(2) quadrature (degree < 64) and 3-point Gauss-Hermite biases."""
    cw, cb, x = (1.3, 0.7), (0.4, 0.25), np.array([0.6, -1.1])
    th = OrthogonalLinearTheory(Network([2, 2, 2], init="orthogonal", cw=cw, cb=cb), x)
    mats, wo = haar_o2()
    mats = np.array(mats)
    t, wt = np.polynomial.hermite_e.hermegauss(3)  # weight exp(-t²/2)
    wt = wt / wt.sum()
    bnodes = np.array(list(itertools.product(t, t)))
    bw = np.array([a * b for a, b in itertools.product(wt, wt)])
    # Layer 1: z1 = sqrt(cw1) O x + b, over (O, b); layer 2: the same map applied again.
    z = math.sqrt(cw[0]) * np.einsum("kij,j->ki", mats, x)[:, None, :] + math.sqrt(cb[0]) * bnodes
    w = (wo[:, None] * bw[None, :]).ravel()
    z = z.reshape(-1, 2)
    for layer in (1, 2):
        if layer == 2:
            z = math.sqrt(cw[1]) * np.einsum("kij,pj->kpi", mats, z)
            z = z[:, :, None, :] + math.sqrt(cb[1]) * bnodes
            w = (wo[:, None, None] * w[None, :, None] * bw[None, None, :]).ravel()
            z = z.reshape(-1, 2)
        assert close(w @ z[:, 0] ** 2, th.moment(layer, [0, 0], [0, 0]))
        assert close(w @ (z[:, 0] ** 2 * z[:, 1] ** 2), th.moment(layer, [0, 0, 1, 1], [0] * 4))
        assert close(w @ z[:, 1] ** 4, th.moment(layer, [1] * 4, [0] * 4))
        assert abs(w @ (z[:, 0] ** 3 * z[:, 1])) < 1e-12


def _haar(rng, size, n):
    """Haar-distributed O(n) matrices: QR of Gaussian matrices with the sign fix."""
    q, r = np.linalg.qr(rng.standard_normal((size, n, n)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def test_biases_monte_carlo_full_haar_matrices_with_negative_control():
    n, depth, cw, cb, samples = 8, 4, 1.1, 0.25, 40_000
    x = np.linspace(-1.0, 1.5, n)
    th = deepeft.theory(Network([n] * (depth + 1), init="orthogonal", cw=cw, cb=cb), x)
    rng = np.random.default_rng(20240611)
    z_orth = np.broadcast_to(x, (samples, n))
    z_gauss = z_orth
    for _ in range(depth):
        o = _haar(rng, samples, n)
        z_orth = math.sqrt(cw) * np.einsum("sij,sj->si", o, z_orth)
        z_orth = z_orth + math.sqrt(cb) * rng.standard_normal((samples, n))
        w = rng.standard_normal((samples, n, n)) * math.sqrt(cw / n)
        z_gauss = np.einsum("sij,sj->si", w, z_gauss)
        z_gauss = z_gauss + math.sqrt(cb) * rng.standard_normal((samples, n))

    def zscore(values, pred):
        return (values.mean() - pred) / (values.std(ddof=1) / math.sqrt(len(values)))

    r = (z_orth**2).sum(axis=1)
    pred_r2 = th.moment(depth, [0, 0, 1, 1], [0] * 4) * n * (n + 2)
    scores = [
        zscore(r, n * th.kernel(depth)[0, 0]),
        zscore(r**2, pred_r2),
        zscore(z_orth[:, 0] ** 4, th.moment(depth, [0] * 4, [0] * 4)),
        zscore(z_orth[:, 2] ** 2 * z_orth[:, 5] ** 2, th.moment(depth, [0, 0, 1, 1], [0] * 4)),
    ]
    assert max(abs(s) for s in scores) < 4, scores
    # Negative control: Gaussian weights share E R but not E R², which the test must reject.
    r_gauss = (z_gauss**2).sum(axis=1)
    assert abs(zscore(r_gauss, n * th.kernel(depth)[0, 0])) < 4
    assert abs(zscore(r_gauss**2, pred_r2)) > 8
