"""Gaussian expectations: closed forms against quadrature and identities, orthant machinery, errors."""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pytest
from scipy import integrate, special

from deepeft import activations as A, gaussian as g

SEED = 20240917
Z_CRIT = 5.0


def random_kernel(n: int, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n + 2))
    return scale * B @ B.T / (n + 2)


ALL_QUADS4 = list(itertools.combinations_with_replacement(range(4), 4))


# ------------------------------------------------------------ closed forms
def test_relu_closed_forms_of_theory_md():
    """THEORY.md §3.5 formulas, written out here, against the library (<= 1e-13)."""
    relu = A.relu()
    for seed in range(5):
        K = random_kernel(2, 1.7, seed)
        k11, k22, k12 = K[0, 0], K[1, 1], K[0, 1]
        c = k12 / math.sqrt(k11 * k22)
        th = math.acos(c)
        E, Ed, _ = g.pair_statistics(relu, K)
        assert E[0, 1] == pytest.approx(math.sqrt(k11 * k22) / (2 * math.pi) * (math.sin(th) + (math.pi - th) * c),
                                        rel=1e-13)
        assert Ed[0, 1] == pytest.approx((math.pi - th) / (2 * math.pi), rel=1e-13)
        deg2 = k11 * k22 / (2 * math.pi) * (3 * math.sin(th) * c + (math.pi - th) * (1 + 2 * c * c))
        assert g.four_point(relu, K, [[0, 0, 1, 1]])[0] == pytest.approx(deg2, rel=1e-13)
    for p in (1, 2, 3, 4):
        ref = 2.3 ** (p / 2) * 2 ** (p / 2 - 1) * math.gamma((p + 1) / 2) / math.sqrt(math.pi)
        assert float(relu.power_mean(2.3, p)) == pytest.approx(ref, rel=1e-14)


@pytest.mark.parametrize("slopes", [(1.0, 0.0), (1.0, 0.2), (0.7, -1.3), (1.0, 1.0)])
def test_homogeneous_two_and_four_point_against_polar_quadrature(slopes):
    """Orthant/Stein route vs an independent 1-d angular integral (scipy.integrate.quad)."""
    act = A.piecewise_linear(*slopes)

    def polar(A2: np.ndarray, powers: list[int]) -> float:
        def f(t: float) -> float:
            z = A2 @ np.array([math.cos(t), math.sin(t)])
            s = np.where(z > 0, slopes[0] * z, slopes[1] * z)
            return float(np.prod(s ** np.array(powers)))

        phi = np.arctan2(A2[:, 1], A2[:, 0])
        pts = sorted(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
        with warnings.catch_warnings():  # roundoff notices of QUADPACK on a reference value
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            val = integrate.quad(f, 0, 2 * np.pi, points=pts, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
        P = sum(powers)
        return 2 ** (P / 2) * math.gamma(1 + P / 2) * val / (2 * math.pi)

    for seed in range(3):
        K = random_kernel(2, 1.3, seed + 10)
        L = np.linalg.cholesky(K)
        E = g.two_point(act, K)
        assert E[0, 1] == pytest.approx(polar(L, [1, 1]), rel=1e-10, abs=1e-12)
        for quad, pw in (([0, 0, 0, 1], [3, 1]), ([0, 0, 1, 1], [2, 2]), ([0, 1, 1, 1], [1, 3])):
            assert g.four_point(act, K, [quad])[0] == pytest.approx(polar(L, pw), rel=1e-10, abs=1e-12)


def _theory_erf_pair(K):
    a, b, c = 1 + 2 * K[0, 0], 1 + 2 * K[1, 1], K[0, 1]
    return 2 / math.pi * math.asin(2 * c / math.sqrt(a * b)), 4 / math.pi / math.sqrt(a * b - 4 * c * c)


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_erf_and_sin_closed_forms_against_quadrature(scale):
    """The closed forms (erf: THEORY.md §3.5 and orthants; sin: Fourier) vs generic quadrature, <= 1e-10."""
    K = random_kernel(4, scale, 3)
    for closed, quad in ((A.erf(), A.custom(special.erf, A._erf_prime, name="erf-q")),
                         (A.sin(), A.custom(np.sin, np.cos, name="sin-q"))):
        for a, b in zip(g.pair_statistics(closed, K), g.pair_statistics(quad, K), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=closed.name)
        f1 = g.four_point(closed, K, ALL_QUADS4)
        f2 = g.four_point(quad, K, ALL_QUADS4, tol_high_dim=1e-9)
        np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12, err_msg=closed.name)
    E, Ed, _ = g.pair_statistics(A.erf(), K)
    e, ed = _theory_erf_pair(K[np.ix_([0, 2], [0, 2])])
    assert E[0, 2] == pytest.approx(e, rel=1e-14)
    assert Ed[0, 2] == pytest.approx(ed, rel=1e-14)


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.5])
def test_gelu_four_point_closed_form_against_quadrature(scale):
    K = random_kernel(4, scale, 21)
    quad = A.custom(A._gelu, A._gelu_prime, name="gelu-q")
    f1 = g.four_point(A.gelu(), K, ALL_QUADS4)
    f2 = g.four_point(quad, K, ALL_QUADS4, tol=1e-13, tol_high_dim=1e-9)
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12 * scale**2)


def test_single_input_closed_forms():
    K = np.array([1e-4, 0.3, 1.0, 4.0])
    erf = g.single_input(A.erf(), K)
    quad = g.single_input(A.custom(special.erf, A._erf_prime, name="erf-q"), K)
    for key in ("s2", "ds2", "sp2", "s4"):
        np.testing.assert_allclose(erf[key], quad[key], rtol=1e-10, err_msg=key)
    sin = g.single_input(A.sin(), K)
    np.testing.assert_allclose(sin["s2"], (1 - np.exp(-2 * K)) / 2, rtol=1e-14)
    assert float(A.sin().power_mean(0.7, 4)) == pytest.approx(float(g.single_input(A.sin(), 0.7)["s4"]), rel=1e-15)


@pytest.mark.parametrize("name", ["tanh", "relu", "erf", "sin", "gelu", "leaky_relu(0.3)"])
def test_derivatives_use_the_symmetric_entry_convention(name):
    """D and Ed equal central differences of <σσ> moving K_aa alone and K_ab = K_ba together."""
    act = A.get(name)
    K = random_kernel(3, 0.8, 7)
    _E, Ed, D = g.pair_statistics(act, K)
    h = 1e-5
    for a, b in ((0, 1), (1, 2), (0, 2)):
        dK = np.zeros_like(K)
        dK[a, b] = dK[b, a] = h
        fd = (g.two_point(act, K + dK)[a, b] - g.two_point(act, K - dK)[a, b]) / (2 * h)
        assert Ed[a, b] == pytest.approx(fd, rel=1e-7, abs=1e-9)
        for i, j in ((a, b), (b, a)):
            dK = np.zeros_like(K)
            dK[i, i] = h
            fd = (g.two_point(act, K + dK)[a, b] - g.two_point(act, K - dK)[a, b]) / (2 * h)
            assert D[i, j] == pytest.approx(fd, rel=1e-7, abs=1e-9)
    for a in range(3):
        dK = np.zeros_like(K)
        dK[a, a] = h
        fd = (g.two_point(act, K + dK)[a, a] - g.two_point(act, K - dK)[a, a]) / (2 * h)
        assert D[a, a] == pytest.approx(fd, rel=1e-7, abs=1e-9)


# ------------------------------------------------------------ orthants
def test_orthant_probabilities_known_values():
    for m in (1, 2, 3, 4):
        R = np.full((m, m), 0.5) + 0.5 * np.eye(m)
        assert g.orthant_probability(R) == pytest.approx(1 / (m + 1), abs=1e-15)
        assert g.orthant_probability(np.eye(m)) == pytest.approx(2.0**-m, abs=1e-16)
    # singular: z1 = z2 and z3 = z4, so P4 = P2(ρ13)
    r = 0.37
    R = np.array([[1, 1, r, r], [1, 1, r, r], [r, r, 1, 1], [r, r, 1, 1]], dtype=float)
    assert g.orthant_probability(R) == pytest.approx(0.25 + math.asin(r) / (2 * math.pi), abs=1e-11)
    batch = np.stack([random_kernel(4, 1, s) for s in range(3)])
    np.testing.assert_allclose(g.orthant_probability(batch), [g.orthant_probability(k) for k in batch], rtol=1e-15)
    # the 16 orthants sum to one
    K = random_kernel(4, 1, 5)
    total = sum(g.orthant_probability(np.diag(s) @ K @ np.diag(s)) for s in itertools.product((1, -1), repeat=4))
    assert total == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("p", [(1, 1, 1, 1), (2, 1, 1, 0), (3, 1, 0, 0), (2, 2, 0, 0)])
def test_truncated_moments_sum_to_wick(p):
    K = random_kernel(4, 1.3, 9)
    m = sum(1 for v in p if v)
    Km = K[:m, :m]
    pm = p[:m]
    total = sum(
        np.prod(np.array(s) ** np.array(pm)) * g.truncated_moment(pm, (True,) * m, np.diag(s) @ Km @ np.diag(s))
        for s in itertools.product((1.0, -1.0), repeat=m)
    )
    free = g.truncated_moment(pm, (False,) * m, Km)
    slots = [i for i, v in enumerate(pm) for _ in range(v)]
    wick = sum(np.prod([Km[slots[a], slots[b]] for a, b in pi]) for pi in _matchings(len(slots)))
    assert total == pytest.approx(wick, rel=1e-12)
    assert free == pytest.approx(wick, rel=1e-12)


def _matchings(n):
    if n == 0:
        yield ()
        return
    for j in range(1, n):
        rest = [k for k in range(1, n) if k != j]
        for sub in _matchings(n - 2):
            yield ((0, j), *((rest[a], rest[b]) for a, b in sub))


def test_four_point_symmetry_and_slope_swap_identity():
    """⟨∏σ_(a+,a-)⟩ = ⟨∏σ_(a-,a+)⟩ for four factors (z -> -z): a non-trivial check of the orthant sums."""
    K = random_kernel(4, 1.1, 11)
    p, q = A.piecewise_linear(1.0, 0.3), A.piecewise_linear(0.3, 1.0)
    np.testing.assert_allclose(g.four_point(p, K, ALL_QUADS4), g.four_point(q, K, ALL_QUADS4), rtol=1e-12, atol=1e-14)
    perm = g.four_point(p, K, [[3, 1, 0, 2], [0, 1, 2, 3]])
    assert perm[0] == perm[1]


def test_homogeneous_duplicate_limit_is_continuous():
    """Input 3 -> input 2: the 4-distinct value tends to the 3-distinct value with power 2."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 5))
    act = A.leaky_relu(0.3)
    for eps, tol in ((1e-7, 1e-5), (1e-10, 1e-8), (0.0, 1e-11)):
        x = np.vstack([X, X[2] + eps * rng.normal(size=5)])
        K = x @ x.T / 5
        a, b = g.four_point(act, K, [[0, 1, 2, 3], [0, 1, 2, 2]])
        assert a == pytest.approx(b, abs=tol * abs(b) + 1e-15)


def test_homogeneous_rank_deficient_inputs():
    """Four inputs in two dimensions: against a 1-d angular integral."""
    phis = np.array([0.1, 0.5, 0.9, 1.3])
    x = np.column_stack([np.cos(phis), np.sin(phis)]) * np.array([[1.0], [1.5], [0.7], [1.2]])
    K = x @ x.T
    for act in (A.relu(), A.leaky_relu(0.2)):
        ap, am = act.slopes

        def f(t, x=x, ap=ap, am=am):
            z = x @ np.array([math.cos(t), math.sin(t)])
            return float(np.prod(np.where(z > 0, ap * z, am * z)))

        pts = sorted(np.mod(np.concatenate([phis + np.pi / 2, phis - np.pi / 2]), 2 * np.pi))
        ref = 8 * integrate.quad(f, 0, 2 * np.pi, points=pts, limit=200, epsabs=1e-15)[0] / (2 * np.pi)
        assert g.four_point(act, K, [[0, 1, 2, 3]])[0] == pytest.approx(ref, rel=1e-9)


def test_four_point_against_monte_carlo_with_negative_control():
    K = random_kernel(4, 1.2, 13)
    z = np.random.default_rng(SEED).multivariate_normal(np.zeros(4), K, size=400_000)
    for act in (A.relu(), A.tanh()):
        s = act(z)
        for quad in ([0, 1, 2, 3], [0, 0, 1, 2], [1, 1, 2, 2]):
            prod = np.prod(s[:, quad], axis=1)
            mc, se = prod.mean(), prod.std(ddof=1) / math.sqrt(len(prod))
            th = g.four_point(act, K, [quad])[0]
            assert abs(mc - th) / se < Z_CRIT, (act.name, quad, (mc - th) / se, SEED)
    wrong = g.four_point(A.leaky_relu(0.25), K, [[0, 1, 2, 3]])[0]
    prod = np.prod(A.relu()(z), axis=1)
    assert abs(prod.mean() - wrong) / (prod.std(ddof=1) / math.sqrt(len(prod))) > Z_CRIT


@pytest.mark.parametrize("name", ["tanh", "gelu", "softplus"])
def test_generic_high_dimensional_quadrature_converges(name):
    act = A.get(name)
    K = random_kernel(4, 1.0, 17)
    quads = [[0, 1, 2, 3], [0, 0, 1, 2]]
    a = g.four_point(act, K, quads)
    b = g.four_point(act, K, quads, tol_high_dim=1e-10)
    scale = float(np.max(np.diag(K))) ** 2  # errors relative to the size of the integrand
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8 * scale)


def test_zero_variance_inputs():
    K = np.diag([0.0, 1.0])
    assert g.two_point(A.relu(), K)[0, 1] == 0.0
    E, _Ed, D = g.pair_statistics(A.tanh(), K)
    assert E[0, 0] == 0.0
    assert E[0, 1] == 0.0
    assert D[0, 0] == pytest.approx(1.0)  # d<tanh²>/dK at K=0 = tanh'(0)²
    assert g.four_point(A.relu(), np.zeros((2, 2)), [[0, 0, 1, 1]])[0] == 0.0


# ------------------------------------------------------------ errors and warnings
def test_bad_kernels_and_indices():
    with pytest.raises(ValueError, match=re.escape("`K` must be symmetric")):
        g.two_point("tanh", [[1.0, 0.5], [0.2, 1.0]])
    with pytest.raises(ValueError, match="positive semi-definite"):
        g.two_point("tanh", [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=re.escape("`K` must be finite")):
        g.two_point("tanh", [[np.nan]])
    with pytest.raises(ValueError, match="square"):
        g.two_point("tanh", np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("`indices` must be in [0, 1]")):
        g.four_point("tanh", np.eye(2), [[0, 1, 2, 0]])
    with pytest.raises(ValueError, match=re.escape("`indices` must be an integer array of shape (M, 4)")):
        g.four_point("tanh", np.eye(2), [[0, 1, 1]])
    with pytest.raises(ValueError, match=re.escape("`p` must be an integer in [1, 4]")):
        g.power_mean("tanh", 1.0, 5)
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        g.single_input("tanh", [-1.0])
    with pytest.raises(ValueError, match=re.escape("`activation` must be one of")):
        g.two_point("nope", 1.0)


def test_non_finite_activation_values_are_reported():
    # An Activation built directly (custom() would reject it up front).
    bad = A.Activation("blows_up", lambda z: np.where(np.abs(z) > 3, np.inf, np.tanh(z)), A._tanh_prime)
    with pytest.raises(ValueError, match="non-finite"):
        g.two_point(bad, [[1.0]])


def test_kinked_custom_activation_warns_about_accuracy():
    kinked = A.custom(lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float), name="my_relu")
    with pytest.warns(g.AccuracyWarning, match="does not reach the tolerance"):
        val = g.two_point(kinked, [[1.0]])
    assert val[0, 0] == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("name", ["linear", "relu", "leaky_relu(0.2)", "erf", "sin", "tanh", "gelu"])
def test_single_input_agrees_with_the_multi_input_routines(name):
    act = A.get(name)
    for k in (0.05, 0.8, 2.5):
        one = g.single_input(act, np.array([k]))
        E, Ed, D = g.pair_statistics(act, [[k]])
        assert one["s2"][0] == pytest.approx(E[0, 0], rel=1e-13)
        assert one["sp2"][0] == pytest.approx(Ed[0, 0], rel=1e-13)
        assert one["ds2"][0] == pytest.approx(D[0, 0], rel=1e-13)
        assert one["s4"][0] == pytest.approx(g.four_point(act, [[k]], [[0, 0, 0, 0]])[0], rel=1e-10)
        for p in (2, 4):
            assert float(act.power_mean(k, p)) == pytest.approx(one[f"s{p}"][0], rel=1e-10)


def _quad_single(act, K):
    """Adaptive scipy.integrate.quad reference for the single-input expectations."""
    a = math.sqrt(K)
    fs = {"s2": lambda z: act.fn(z) ** 2, "sp2": lambda z: act.prime(z) ** 2,
          "zss": lambda z: z * act.fn(z) * act.prime(z), "s4": lambda z: act.fn(z) ** 4}
    edges = sorted({-12 * a, -40.0, -10.0, -1.0, 0.0, 1.0, 10.0, 40.0, 12 * a})
    edges = [e for e in edges if -12 * a <= e <= 12 * a]
    out = {}
    for key, f in fs.items():
        def h(z, f=f):
            return float(f(np.array([z]))[0]) * math.exp(-z * z / (2 * K)) / math.sqrt(2 * math.pi * K)

        with warnings.catch_warnings():  # quad may doubt it reached epsrel = 1e-13; 1e-9 is what is checked
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            out[key] = sum(integrate.quad(h, lo, hi, epsabs=0, epsrel=1e-13, limit=500)[0]
                           for lo, hi in itertools.pairwise(edges))
    out["ds2"] = out.pop("zss") / K
    return out


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "tanh"])
def test_single_input_at_large_kernels_matches_adaptive_quadrature(name):
    act = A.get(name)
    for K in (1e4, 3e5, 1e6, 2e6, 1e8):
        with warnings.catch_warnings():
            warnings.simplefilter("error", g.AccuracyWarning)
            got = g.single_input(act, K)
        ref = _quad_single(act, K)
        for key, v in ref.items():
            assert float(got[key]) == pytest.approx(v, rel=1e-9), (name, K, key)


def test_large_kernel_network_and_multi_input_warn_every_call():
    import deepeft

    net = deepeft.Network([5] + [64] * 100, "gelu", cw=2.5)  # chaotic phase: K grows ~1.25^l
    k = deepeft.theory(net, np.ones(5)).kernel(100)
    assert np.all(np.isfinite(k))
    assert float(np.ravel(k)[0]) > 1e9
    K = [[1e6, 3e5], [3e5, 2e6]]
    for _ in range(2):  # warned on every call, not only when the rule is first built
        with pytest.warns(g.AccuracyWarning):
            E = g.two_point("gelu", K)
    assert E[0, 1] == pytest.approx(g.two_point("relu", K)[0, 1], rel=1e-5)  # linear asymptotes
