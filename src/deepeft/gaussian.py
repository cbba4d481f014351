"""Gaussian expectations of activations: ``⟨F(z)⟩_K`` for ``z ~ N(0, K)``.

The layer recursions of the effective theory (Roberts & Yaida,
arXiv:2106.10165, chs. 4–5; ``THEORY.md`` §3) need, at every layer and for
every pair or quadruple of inputs,

* ``⟨σ_a σ_b⟩_K``, ``⟨σ'_a σ'_b⟩_K`` and the derivatives of ``⟨σ_a σ_b⟩_K``
  with respect to the *symmetric* entries ``K_aa``, ``K_bb``, ``K_ab`` (the
  entry ``K_ab = K_ba`` moves as one, THEORY.md §3.2);
* ``⟨σ_a σ_b σ_c σ_d⟩_K`` over 1–4 distinct inputs.

How they are computed
---------------------
*Positively homogeneous* σ = a₊z₊ + a₋z₋ (linear, ReLU, leaky ReLU):
closed forms for one and two inputs (arc-cosine kernels, Cho & Saul 2009),
and for 2–4 distinct inputs the identity σ^p = (a₊^p − a₋^p) z₊^p + a₋^p z^p,
which turns every expectation into truncated Gaussian moments
``E[∏ z_i^{p_i} 1{z_S > 0}]``. Those follow exactly from Stein's identity
(conditioning on ``z_j = 0`` at each truncation boundary) down to orthant
probabilities, which are closed-form up to three variables; four variables
need one smooth 1-d integral (Plackett 1954), done by Gauss–Legendre on a
mesh graded towards its endpoint (~1e-15, also for singular correlations).

*erf*: ``erf z = E_g[sgn(z − g/√2)]`` makes every expectation an orthant
sum of ``y ~ N(0, K + I/2)`` (Williams 1997 for two inputs).

*sin*: products of sines are sums of exponentials, ``E e^{i s·z} = e^{-sᵀKs/2}``.

*GELU* (four-point function): ``Φ(z) = P(g < z)`` turns ``⟨∏ z_s Φ(z_s)⟩``
into positive-orthant moments of ``y = z − g ~ N(0, K + I)`` (always well
conditioned); the two-point functions use quadrature.

*Everything else* (tanh, GELU, SiLU, softplus, user callables): tensor
product rules along the principal axes of K (eigen-decomposition, so
duplicate or collinear inputs only lower the dimension). Each axis gets the
cheapest 1-d rule — Gauss–Hermite or the trapezoid rule, whichever needs fewer
points — that meets the tolerance for the activation at that axis' scale;
the orders are calibrated once per activation and scale (cached), and
odd σ fold the grid in half. Measured on tanh, |K| ~ 1: 1-d/2-d integrals to
1e-12 with ≲ 40 points per axis. 3–4 inputs cost ∏ (points per axis)
(10⁴–10⁶ points, 1–50 ms each), which is why the calibration tolerance for
3 or 4 distinct inputs is looser (1e-6, measured errors 1e-10–3e-9 relative
to K²). Tolerances below are per-axis calibration targets, conservative by
a factor 10–100 in the measurements. At large scales (``sqrt(K) > 256``),
where uniform rules would need ~sqrt(K) points to resolve the O(1) region
in which σ bends, single-input expectations use a composite Gauss–Legendre
rule split at 0 and graded geometrically towards it (exact to ~1e-15 for σ
with linear asymptotes); multi-input expectations at such scales warn.

References: Cho & Saul (2009) arc-cosine kernels; Williams (1997) erf
kernel; Plackett (1954) orthant probabilities; THEORY.md §3.5.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from .activations import Activation, get as _get_activation

__all__ = [
    "DEFAULT_TOL",
    "DEFAULT_TOL_HIGH_DIM",
    "AccuracyWarning",
    "derivative_two_point",
    "four_point",
    "orthant_probability",
    "pair_statistics",
    "power_mean",
    "single_input",
    "truncated_moment",
    "two_point",
]

#: Target accuracy (relative to the scale of the integrand) of 1- and 2-input expectations.
DEFAULT_TOL = 1e-11
#: Target accuracy of 3- and 4-input expectations computed by quadrature.
DEFAULT_TOL_HIGH_DIM = 1e-6

_SQRT2PI = math.sqrt(2.0 * math.pi)
_T_TRAP = 9.0  # trapezoid rules cover |u| <= 9 (Gaussian tail e^{-40})
_GH_LADDER = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 36, 40, 48, 56, 64,
              80, 96, 112, 128, 160, 192, 224, 256)
_MAX_POINTS_1D = 20000
_FALLBACK_POINTS = 400  # per-axis size used when σ is not smooth enough to converge
_MAX_GRID = 20_000_000  # points of one tensor grid before the tolerance is loosened
_REG_FLOOR = 1e-11  # minimum eigenvalue of a correlation matrix in the orthant route
_LOW_RANK = 1e-9  # correlation eigenvalues below this count as null directions


class AccuracyWarning(UserWarning):
    """A numerical result may be less accurate than requested (see the message)."""


# =============================================================== 1-d rules
@cache
def _gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E f(u), u ~ N(0, 1)."""
    x, w = hermegauss(n)
    return x, w / _SQRT2PI


@cache
def _trapezoid(h: float, T: float = _T_TRAP) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid rule with step ``h`` on [-T, T] for E f(u), u ~ N(0, 1)."""
    k = int(T / h)
    x = h * np.arange(-k, k + 1, dtype=float)
    return x, h * np.exp(-0.5 * x * x) / _SQRT2PI


def _rule_size(rule: tuple[np.ndarray, np.ndarray]) -> int:
    return int(rule[0].size)


_GRADED_T = 10.0  # graded rules cover |u| <= 10 (Gaussian tail e^{-50})


@cache
def _graded(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre rule for E f(u), u ~ N(0, 1), graded towards u = 0.

    Meant for f(u) = F(a u) with a = 2^{k/4} large and F bending on an O(1)
    region of z = a u (σ with linear asymptotes): panels split at u = 0, grow
    geometrically from ``z = 1/64`` to ``u = 1`` (``log2(64 a)`` panels) and are
    0.5 wide up to ``u = 10``; ``n`` nodes per panel. The rule is symmetric.
    """
    a = 2.0 ** (k / 4.0)
    x, w = leggauss(n)
    edges = [0.0]
    u = 2.0**-6 / a
    while u < 1.0:
        edges.append(u)
        u *= 2.0
    edges += [1.0 + 0.5 * i for i in range(int(2 * (_GRADED_T - 1.0)) + 1)]
    us, ws = [], []
    for lo, hi in itertools.pairwise(edges):
        us.append(lo + (hi - lo) * (x + 1) / 2)
        ws.append(w * (hi - lo) / 2)
    up, wp = np.concatenate(us), np.concatenate(ws)
    wp = wp * np.exp(-0.5 * up * up) / _SQRT2PI
    return np.concatenate([-up[::-1], up]), np.concatenate([wp[::-1], wp])


#: Largest scale bin (k = ceil(4 log2 sqrt(K))) for which single-input expectations use the
#: calibrated Gauss–Hermite / trapezoid rules; beyond it they use the graded rule.
_SINGLE_GRADED_FROM = 32


class _Calibration:
    """Cheapest 1-d rule per (scale, tolerance) for one activation.

    Along a principal axis of scale ``a`` the integrand looks like products of
    σ(a u + c). The rule is chosen by integrating a few such test functions
    and comparing with a converged trapezoid reference. Large scales, where the
    uniform rules would need too many points to resolve the O(1) region in
    z = a u where σ bends, use the graded rule :func:`_graded` instead.

    Rules are cached; the caller warns (:class:`AccuracyWarning`) on every use
    of a rule that did not meet its tolerance.
    """

    def __init__(self, act: Activation) -> None:
        self.act = act
        z = np.linspace(0.0, 12.0, 61)
        with np.errstate(all="ignore"):
            fz = np.asarray(act.fn(z), dtype=float)
            fm = np.asarray(act.fn(-z), dtype=float)
        self.odd = bool(np.all(np.abs(fz + fm) <= 1e-15 * np.maximum(np.abs(fz), 1.0)))
        self.rules: dict[tuple[object, ...], tuple[tuple[np.ndarray, np.ndarray], float, bool]] = {}

    def _tests(self, a: float, *, shifted: bool = True) -> Callable[[np.ndarray], np.ndarray]:
        f, fp = self.act.fn, self.act.prime

        def g(u: np.ndarray) -> np.ndarray:
            z = a * u
            s0 = np.asarray(f(z), dtype=float)
            d = fp(z)
            if shifted:
                s1 = np.asarray(f(z + 0.5 * a + 0.3), dtype=float)
                s2 = np.asarray(f(z - 0.4 * a), dtype=float)
                s3 = np.asarray(f(z + 1.0), dtype=float)
                d0 = fp(z + 0.25 * a)
                out = np.stack([s0 * s0, (s1 * s2) ** 2, d0 * d0, z * d * s0, s3**4])
            else:  # the single-input expectations
                out = np.stack([s0 * s0, d * d, z * d * s0, s0**4, s0])
            if not np.all(np.isfinite(out)):
                msg = (
                    f"activation {self.act.name!r} returned a non-finite value (or its derivative did) "
                    f"for |z| <= {max(9.0, _GRADED_T) * a + 1.5:g}; Gaussian expectations need σ and σ' finite."
                )
                raise ValueError(msg)
            return out

        return g

    @staticmethod
    def _bin(a: float) -> int:
        return max(-56, math.ceil(4.0 * math.log2(a))) if a > 0 else -56

    def _graded_choice(self, k: int, tol: float, *, shifted: bool,
                       ref: np.ndarray | None = None) -> tuple[tuple[np.ndarray, np.ndarray], float, bool]:
        """The graded rule at bin k, its error estimated against ``ref`` or a finer graded rule."""
        g = self._tests(2.0 ** (k / 4.0), shifted=shifted)
        fine = _graded(k, 32)
        gx = g(fine[0])
        norm = np.maximum(np.abs(gx) @ fine[1], 1e-300)
        coarse = _graded(k, 16)
        if ref is None:
            e = float(np.max(np.abs(g(coarse[0]) @ coarse[1] - gx @ fine[1]) / norm))
            return fine, e, e <= tol  # the error of the coarse rule bounds that of the fine one
        e = float(np.max(np.abs(gx @ fine[1] - ref) / norm))
        return fine, e, e <= tol

    def single_rule(self, a: float, tol: float) -> tuple[tuple[np.ndarray, np.ndarray], float, bool]:
        """(rule, estimated error, met tolerance) for the single-input expectations at scale ``a``."""
        k = self._bin(a)
        if k <= _SINGLE_GRADED_FROM:
            return self.rule(a, tol)
        key = ("single", k, tol)
        hit = self.rules.get(key)
        if hit is None:
            hit = self.rules[key] = self._graded_choice(k, tol, shifted=False)
        return hit

    def rule(self, a: float, tol: float) -> tuple[tuple[np.ndarray, np.ndarray], float, bool]:
        """(rule, estimated error, met tolerance) for axis scale ``a``."""
        k = self._bin(a)
        key = (k, tol)
        hit = self.rules.get(key)
        if hit is not None:
            return hit
        if k > 48:  # beyond the table: uniform rules would need ~a points; use the graded rule
            out = self._graded_choice(k, tol, shifted=True)
            self.rules[key] = out
            return out
        a_bin = 2.0 ** (k / 4.0)
        g = self._tests(a_bin)
        # truncation of the trapezoid rules: Gaussian tail (with polynomial growth) below tol
        t_cut = float(np.clip(math.sqrt(2.0 * math.log(1.0 / tol)) + 1.5, 5.0, _T_TRAP))
        # converged reference: trapezoid, halving the step until it stops moving
        target = max(1e-15, tol / 100.0)
        h = min(0.5, 0.5 / a_bin)
        prev = None
        ref_ok = False
        while True:
            x, w = _trapezoid(h)
            gx = g(x)
            val = gx @ w
            norm = np.maximum(np.abs(gx) @ w, 1e-300)
            if prev is not None and np.all(np.abs(val - prev) <= target * norm):
                ref_ok = True
                break
            if x.size > _MAX_POINTS_1D:
                break
            prev = val
            h /= 2.0
        ref = val

        def err_of(rule: tuple[np.ndarray, np.ndarray]) -> float:
            return float(np.max(np.abs(g(rule[0]) @ rule[1] - ref) / norm))

        best: tuple[tuple[np.ndarray, np.ndarray], float] | None = None
        for n in _GH_LADDER:
            rule = _gauss_hermite(n)
            e = err_of(rule)
            if e <= tol:
                best = (rule, e)
                break
        # trapezoid, steps 2^{-j/4}: take the coarsest that meets tol
        h0 = min(1.2, 1.2 / a_bin)
        fallback = None
        for j in range(80):
            hh = h0 * 2.0 ** (-j / 4.0)
            rule = _trapezoid(hh, t_cut)
            if best is not None and _rule_size(rule) >= _rule_size(best[0]):
                break
            if _rule_size(rule) > _MAX_POINTS_1D:
                break
            e = err_of(rule)
            if fallback is None or (_rule_size(rule) <= _FALLBACK_POINTS and e < fallback[1]):
                fallback = (rule, e)
            if e <= tol:
                best = (rule, e)
                break
        if best is None or not ref_ok:
            if not ref_ok or fallback is None:
                # no converged uniform reference (large scale): the graded rule resolves z = O(1)
                out = self._graded_choice(k, tol, shifted=True, ref=ref if ref_ok else None)
            else:  # σ not smooth enough for the tolerance
                rule, e = best if best is not None else fallback
                out = (rule, e, False)
        else:
            out = (best[0], best[1], True)
        self.rules[key] = out
        return out


def _warn_inaccurate(act: Activation, a: float, tol: float, err: float, stacklevel: int) -> None:
    warnings.warn(
        f"Gaussian quadrature for activation {act.name!r} at scale sqrt(K) ~ {a:.3g} "
        f"does not reach the tolerance {tol:g} (estimated error {err:.1g}; σ or σ' is probably "
        "not smooth, or the scale is too large for the multi-input rules); results may be less accurate.",
        AccuracyWarning,
        stacklevel=stacklevel + 1,
    )


_CALIBRATIONS: dict[tuple[object, object], _Calibration] = {}


def _calibration(act: Activation) -> _Calibration:
    key = (act.fn, act.derivative)
    cal = _CALIBRATIONS.get(key)
    if cal is None:
        cal = _CALIBRATIONS[key] = _Calibration(act)
    return cal


# ============================================================ validation
def _as_activation(act: object) -> Activation:
    return _get_activation(act)  # type: ignore[arg-type]


def _as_kernel(K: object, name: str = "K") -> np.ndarray:
    try:
        arr = np.asarray(K, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"`{name}` must be a real symmetric positive semi-definite matrix, got {K!r}."
        raise TypeError(msg) from exc
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        msg = f"`{name}` must be a square (N, N) matrix, got shape {arr.shape}."
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"`{name}` must be finite; it contains NaN or inf."
        raise ValueError(msg)
    scale = max(float(np.max(np.abs(arr))), 1e-300)
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * scale):
        msg = f"`{name}` must be symmetric."
        raise ValueError(msg)
    arr = 0.5 * (arr + arr.T)
    if np.any(np.diag(arr) < 0) or np.linalg.eigvalsh(arr)[0] < -1e-9 * scale:
        msg = f"`{name}` must be positive semi-definite (a covariance matrix)."
        raise ValueError(msg)
    return arr


def _check_finite(values: np.ndarray, act: Activation, what: str = "σ") -> None:
    if not np.all(np.isfinite(values)):
        msg = (
            f"activation {act.name!r}: {what} returned a non-finite value at a quadrature node; "
            "Gaussian expectations need σ and σ' finite on the real line."
        )
        raise ValueError(msg)


# ====================================================== orthant machinery
_PAIRS4 = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1))


@cache
def _graded_mesh(levels: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes ``s = 1 − t`` for ∫_0^1 dt on panels graded towards t = 1.

    Panels [0,1/2], [1/2,3/4], …, [1−2^-levels, 1] in t; the nodes are returned
    as the distance ``s`` to the endpoint, so that ``1 − t`` has no rounding.
    """
    x, w = leggauss(n)
    edges = [1.0] + [2.0**-k for k in range(1, levels + 1)] + [0.0]  # in s, decreasing
    ss, ws = [], []
    for hi, lo in itertools.pairwise(edges):
        ss.append(lo + (hi - lo) * (x + 1) / 2)
        ws.append(w * (hi - lo) / 2)
    return np.concatenate(ss), np.concatenate(ws)


def _plackett_q(R: np.ndarray) -> np.ndarray:
    """Σ_{i<j} ρ_ij ∫_0^1 arcsin ρ_{kl·ij}(t) / sqrt(1 − t²ρ_ij²) dt along R(t) = (1−t)I + tR.

    R is a batch (B, 4, 4) of correlation matrices. Then
    ``P(z > 0) = 1/16 + Σ arcsin ρ_ij / (8π) + q / (4π²)`` and
    ``E[sgn z_1 ⋯ sgn z_4] = 4 q / π²`` (Plackett 1954: ∂P/∂ρ_ij is a
    bivariate density at 0 times the orthant probability of the other two
    given z_i = z_j = 0). The integrand has integrable endpoint singularities
    when R is (nearly) singular; the graded mesh resolves them, and the
    algebra below is arranged so that duplicated variables (ρ_ij = 1) cause
    no cancellation.
    """
    lam = np.linalg.eigvalsh(R)[:, 0]
    worst = float(np.min(lam)) if lam.size else 1.0
    levels = int(np.clip(math.ceil(math.log2(1.0 / max(worst, 1e-300))) + 6, 6, 60))
    s, w = _graded_mesh(levels)
    t = 1.0 - s
    out = np.zeros(R.shape[0])
    for i, j, k, l in _PAIRS4:
        rho = R[:, i, j][:, None]
        one_minus = (1.0 - rho) + s * rho  # 1 − tρ without cancellation
        one_plus = 1.0 + rho * t
        det = one_minus * one_plus
        rki, rkj = R[:, k, i][:, None] * t, R[:, k, j][:, None] * t
        rli, rlj = R[:, l, i][:, None] * t, R[:, l, j][:, None] * t
        rkl = R[:, k, l][:, None] * t
        # conditional covariance of (z_k, z_l) given z_i = z_j = 0, written to be stable at ρ_ij -> 1
        ckk = 1.0 - ((rki - rkj) ** 2 / det + 2 * rki * rkj / one_plus)
        cll = 1.0 - ((rli - rlj) ** 2 / det + 2 * rli * rlj / one_plus)
        ckl = rkl - ((rki - rkj) * (rli - rlj) / det + (rki * rlj + rkj * rli) / one_plus)
        denom = np.sqrt(np.maximum(ckk * cll, 1e-300))
        pc = np.clip(ckl / denom, -1.0, 1.0)
        out += (rho * np.arcsin(pc) / np.sqrt(det)) @ w
    return out


def _correlation(K: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.einsum("...ii->...i", K))
    R = K / (d[..., :, None] * d[..., None, :])
    idx = np.arange(K.shape[-1])
    R[..., idx, idx] = 1.0
    return np.clip(R, -1.0, 1.0)


def orthant_probability(K: object) -> np.ndarray:
    """P(z_1 > 0, …, z_m > 0) for z ~ N(0, K), m ≤ 4.

    ``K`` is one (m, m) covariance or a batch (B, m, m) with positive
    diagonals. Closed forms for m ≤ 3 (Sheppard), Plackett's 1-d integral for
    m = 4 (accurate to ~1e-15, singular matrices included).
    """
    K = np.asarray(K, dtype=float)
    single = K.ndim == 2
    if single:
        K = K[None]
    m = K.shape[-1]
    if m == 0:
        out = np.ones(K.shape[0])
    elif m == 1:
        out = np.full(K.shape[0], 0.5)
    else:
        R = _correlation(K)
        asum = sum(np.arcsin(R[:, i, j]) for i, j in itertools.combinations(range(m), 2))
        if m == 2:
            out = 0.25 + asum / (2 * np.pi)
        elif m == 3:
            out = 0.125 + asum / (4 * np.pi)
        elif m == 4:
            out = 1.0 / 16 + asum / (8 * np.pi) + _plackett_q(R) / (4 * np.pi**2)
        else:
            msg = f"orthant probabilities are implemented for at most 4 variables, got {m}."
            raise ValueError(msg)
    return out[0] if single else out


def _regularize(K: np.ndarray) -> np.ndarray:
    """K + ε diag(K) so the correlation matrices have λ_min ≥ 1e-11 (error O(ε))."""
    m = K.shape[-1]
    if m < 2:
        return K
    lam = np.linalg.eigvalsh(_correlation(K))[:, 0]
    eps = np.maximum(0.0, _REG_FLOOR - lam)
    if not np.any(eps > 0):
        return K
    diag = np.einsum("...ii->...i", K)
    K = K.copy()
    idx = np.arange(m)
    K[:, idx, idx] += eps[:, None] * diag
    return K


def truncated_moment(p: Sequence[int], truncated: Sequence[bool], K: object) -> np.ndarray:
    """``E[∏_i z_i^{p_i} · 1{z_i > 0 for every truncated i}]`` for z ~ N(0, K).

    Exact (Stein's identity down to orthant probabilities); ``K`` is (m, m) or
    a batch (B, m, m) with m ≤ 4 and positive diagonals.
    """
    K = np.asarray(K, dtype=float)
    single = K.ndim == 2
    if single:
        K = K[None]
    out = _truncated_moments(truncated, K)(tuple(int(v) for v in p))
    return out[0] if single else out


def _truncated_moments(truncated: Sequence[bool], K: np.ndarray) -> Callable[[tuple[int, ...]], np.ndarray]:
    """``p -> E[∏ z^p 1{z_S > 0}]`` for a batch K (B, m, m); one memo shared by all ``p``."""
    m = K.shape[-1]
    S0 = sum(1 << i for i, t in enumerate(truncated) if t)
    schur: dict[int, np.ndarray] = {0: K}

    def conditional(C: int) -> np.ndarray:
        hit = schur.get(C)
        if hit is not None:
            return hit
        j = C.bit_length() - 1
        Kp = conditional(C & ~(1 << j))
        vjj = Kp[:, j, j]
        safe = np.where(vjj > 0, vjj, 1.0)
        col = Kp[:, :, j]
        Kc = Kp - col[:, :, None] * col[:, None, :] / safe[:, None, None]
        Kc[:, j, :] = 0.0
        Kc[:, :, j] = 0.0
        schur[C] = Kc
        return Kc

    memo: dict[tuple[tuple[int, ...], int, int], np.ndarray] = {}

    def rec(pp: tuple[int, ...], S: int, C: int) -> np.ndarray:
        key = (pp, S, C)
        hit = memo.get(key)
        if hit is not None:
            return hit
        Kc = conditional(C)
        if not any(pp):
            idx = [i for i in range(m) if S >> i & 1]
            if not idx:
                val = np.ones(K.shape[0])
            else:
                val = orthant_probability(Kc[:, idx][:, :, idx])
            memo[key] = val
            return val
        # pick the highest power (free variables first): fewer boundary terms
        cands = [i for i in range(m) if pp[i] > 0]
        i = max(cands, key=lambda t: (not (S >> t & 1), pp[t]))
        q = list(pp)
        q[i] -= 1
        total = np.zeros(K.shape[0])
        for j in range(m):
            if C >> j & 1:
                continue
            kij = Kc[:, i, j]
            if q[j] > 0:
                r = list(q)
                r[j] -= 1
                total = total + kij * q[j] * rec(tuple(r), S, C)
            elif S >> j & 1:
                vjj = Kc[:, j, j]
                dens = np.where(vjj > 0, 1.0 / (_SQRT2PI * np.sqrt(np.where(vjj > 0, vjj, 1.0))), 0.0)
                total = total + kij * dens * rec(tuple(q), S & ~(1 << j), C | (1 << j))
        memo[key] = total
        return total

    return lambda p: rec(p, S0, 0)


# ================================================== homogeneous family
def _half_moment(p: int) -> float:
    """E[z₊^p] for z ~ N(0, 1)."""
    return 2.0 ** (p / 2 - 1) * math.gamma((p + 1) / 2) / math.sqrt(math.pi)


def _hom_power(slopes: tuple[float, float], p: int, K: np.ndarray) -> np.ndarray:
    ap, am = slopes
    return (ap**p + (-1) ** p * am**p) * _half_moment(p) * np.asarray(K, dtype=float) ** (p / 2)


def _hom_pair(slopes: tuple[float, float], k11: np.ndarray, k22: np.ndarray, k12: np.ndarray):
    """(⟨σσ⟩, ⟨σ'σ'⟩, ∂/∂K11, ∂/∂K22) for σ = a₊z₊ + a₋z₋, arc-cosine closed forms."""
    ap, am = slopes
    alpha2 = (ap - am) ** 2
    s = np.sqrt(k11 * k22)
    ok = s > 0
    s_safe = np.where(ok, s, 1.0)
    c = np.where(ok, np.clip(k12 / s_safe, -1.0, 1.0), 0.0)
    sin_t = np.where(ok, np.sqrt(np.maximum(k11 * k22 - k12 * k12, 0.0)) / s_safe, 1.0)
    theta = np.arctan2(sin_t, c)
    f_relu = s / (2 * np.pi) * (sin_t + (np.pi - theta) * c)
    e = alpha2 * f_relu + ap * am * k12
    ed = alpha2 * (np.pi - theta) / (2 * np.pi) + ap * am
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.where(k11 > 0, alpha2 * np.sqrt(k22 / np.where(k11 > 0, k11, 1.0)) * sin_t / (4 * np.pi), 0.0)
        d2 = np.where(k22 > 0, alpha2 * np.sqrt(k11 / np.where(k22 > 0, k22, 1.0)) * sin_t / (4 * np.pi), 0.0)
    return e, ed, d1, d2


def _hom_products(slopes: tuple[float, float], powers: tuple[int, ...], K: np.ndarray) -> np.ndarray:
    """E[∏ σ(z_i)^{p_i}] for a batch K (B, m, m) of distinct inputs, σ homogeneous."""
    ap, am = slopes
    m = len(powers)
    if m == 1:
        return _hom_power(slopes, powers[0], K[:, 0, 0])
    if ap == am:  # σ = a z: Wick
        return ap ** sum(powers) * truncated_moment(powers, (False,) * m, K)
    diag = np.einsum("...ii->...i", K)
    dead = np.any(diag <= 0, axis=1)
    Ksafe = np.where(dead[:, None, None], np.eye(m), K)
    out = np.empty(K.shape[0])
    low = np.zeros(K.shape[0], dtype=bool)
    if m >= 3:
        # two or more (near-)null directions: the orthant route loses digits; use rank <= 2 forms
        lam = np.linalg.eigvalsh(_correlation(Ksafe))
        nulls = np.sum(lam < _LOW_RANK, axis=1)
        low = nulls >= m - 2  # rank <= 2
        for b in np.nonzero(low)[0]:
            out[b] = _hom_low_rank(slopes, powers, _principal_axes_rank(Ksafe[b], m - int(nulls[b])))
    if np.all(low):
        return np.where(dead, 0.0, out)
    Kr = _regularize(Ksafe[~low])
    c = [ap**p - am**p for p in powers]
    d = [am**p for p in powers]
    total = np.zeros(Kr.shape[0])
    for trunc in itertools.product((False, True), repeat=m):
        coef = 1.0
        for i, t in enumerate(trunc):
            coef *= c[i] if t else d[i]
        if coef == 0.0:
            continue
        total = total + coef * truncated_moment(powers, trunc, Kr)
    out[~low] = total
    return np.where(dead, 0.0, out)


def _principal_axes_rank(K: np.ndarray, r: int) -> np.ndarray:
    lam, Q = np.linalg.eigh(K)
    lam = np.clip(lam[-r:], 0.0, None)
    return Q[:, -r:] * np.sqrt(lam)


def _hom_eval(slopes: tuple[float, float], z: np.ndarray) -> np.ndarray:
    ap, am = slopes
    return np.where(z > 0, ap * z, am * z)


def _hom_low_rank(slopes: tuple[float, float], powers: tuple[int, ...], A: np.ndarray) -> float:
    """E[∏ σ(z_i)^{p_i}] for z = A u, u ~ N(0, I_r), r ≤ 2, σ homogeneous (exact up to rounding).

    r = 1: E[u^P; u > 0] (∏σ(A_i)^{p_i} + ∏σ(−A_i)^{p_i}). r = 2: polar
    coordinates, E[ρ^P] times the angular mean of a piecewise trigonometric
    polynomial, integrated arc by arc (Gauss–Legendre, 24 nodes per arc).
    """
    P = sum(powers)
    pw = np.array(powers)[:, None]
    if A.shape[1] == 1:
        c = A[:, :1]
        return _half_moment(P) * float(np.prod(_hom_eval(slopes, c) ** pw) + np.prod(_hom_eval(slopes, -c) ** pw))
    phi = np.arctan2(A[:, 1], A[:, 0])
    brk = np.sort(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
    edges = np.concatenate([[0.0], brk, [2 * np.pi]])
    x, w = leggauss(24)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        if hi - lo <= 0:
            continue
        th = lo + (hi - lo) * (x + 1) / 2
        z = A[:, :1] * np.cos(th)[None, :] + A[:, 1:2] * np.sin(th)[None, :]
        total += float(np.prod(_hom_eval(slopes, z) ** pw, axis=0) @ w) * (hi - lo) / 2
    return 2.0 ** (P / 2) * math.gamma(1 + P / 2) * total / (2 * np.pi)


# =========================================================== erf family
def _erf_pair(k11, k22, k12):
    a1, a2 = 1 + 2 * k11, 1 + 2 * k22
    delta = np.maximum(a1 * a2 - 4 * k12 * k12, 1e-300)
    e = 2 / np.pi * np.arcsin(np.clip(2 * k12 / np.sqrt(a1 * a2), -1, 1))
    ed = 4 / (np.pi * np.sqrt(delta))
    return e, ed, -k12 * ed / a1, -k12 * ed / a2


def _erf_slots(C: np.ndarray) -> np.ndarray:
    """E[∏ sgn y_i] for y ~ N(0, C), C a batch (B, 4, 4) (slots may repeat an input)."""
    return 4.0 * _plackett_q(_correlation(C)) / np.pi**2


# ========================================================== GELU family
def _wick(S: np.ndarray, slots: list[int]) -> np.ndarray:
    if not slots:
        return np.ones(S.shape[0])
    if len(slots) == 2:
        return S[:, slots[0], slots[1]]
    a, b, c, d = slots
    return S[:, a, b] * S[:, c, d] + S[:, a, c] * S[:, b, d] + S[:, a, d] * S[:, b, c]


def _gelu_slots(C: np.ndarray) -> np.ndarray:
    """E[∏_s z_s Φ(z_s)] over 4 slots, z ~ N(0, C), C a batch (B, 4, 4) (slots may repeat an input).

    Φ(z_s) = P(g_s < z_s) with independent g_s ~ N(0, 1), so the expectation is
    E[∏ z_s 1{y_s > 0}] with y = z − g ~ N(0, C + I). Writing z = B y + e
    (B = C (C+I)^{-1}, e independent of y with covariance C (C+I)^{-1}) leaves
    Wick sums over e times positive-orthant moments of y (Stein recursion).
    """
    eye = np.eye(4)
    Cy = C + eye
    Bm = C @ np.linalg.inv(Cy)
    Se = 0.5 * (Bm + np.swapaxes(Bm, 1, 2))  # C (C+I)^{-1} is symmetric
    moments = _truncated_moments((True,) * 4, Cy)
    total = np.zeros(C.shape[0])
    for mask in range(16):
        T = [s for s in range(4) if mask >> s & 1]
        if len(T) % 2:
            continue
        poly: dict[tuple[int, ...], np.ndarray] = {(0, 0, 0, 0): np.ones(C.shape[0])}
        for s in range(4):
            if mask >> s & 1:
                continue
            new: dict[tuple[int, ...], np.ndarray] = {}
            for expo, coef in poly.items():
                for j in range(4):
                    e2 = list(expo)
                    e2[j] += 1
                    key = tuple(e2)
                    new[key] = new.get(key, 0.0) + coef * Bm[:, s, j]
            poly = new
        y_part = sum(coef * moments(expo) for expo, coef in poly.items())
        total = total + _wick(Se, T) * y_part
    return total


# =========================================================== sin family
_SIGNS4 = np.array(list(itertools.product((1.0, -1.0), repeat=4)))


def _sin_pair(k11, k22, k12):
    g = np.exp(-0.5 * (k11 + k22))
    e = g * np.sinh(k12)
    ed = g * np.cosh(k12)
    return e, ed, -0.5 * e, -0.5 * e


def _sin_slots(C: np.ndarray) -> np.ndarray:
    quad = np.einsum("si,bij,sj->bs", _SIGNS4, C, _SIGNS4)
    return (np.exp(-0.5 * quad) @ np.prod(_SIGNS4, axis=1)) / 16.0


# ====================================================== generic quadrature
def _axis_rules(act: Activation, A: np.ndarray, tol: float):
    """Per-principal-axis rules for z = A u; returns list of (column, x, w).

    When the tensor grid would exceed ``_MAX_GRID`` points the tolerance is
    loosened (by 10× steps) and an :class:`AccuracyWarning` says so.
    """
    cal = _calibration(act)
    scales = [float(np.max(np.abs(A[:, k]))) for k in range(A.shape[1])]
    t = tol
    while True:
        found = [cal.rule(a, t) for a in scales]
        rules = [r[0] for r in found]
        size = int(np.prod([x.size for x, _ in rules]))
        if size <= _MAX_GRID or t >= 1e-3:
            break
        t *= 10.0
    for a, (_r, err, ok) in zip(scales, found, strict=True):
        if not ok:
            _warn_inaccurate(act, a, t, err, stacklevel=5)
            break
    if t > tol:
        warnings.warn(
            f"a {A.shape[0]}-input Gaussian expectation of {act.name!r} would need more than "
            f"{_MAX_GRID:.0e} quadrature points at tolerance {tol:g}; computed at {t:g} instead.",
            AccuracyWarning,
            stacklevel=5,
        )
    return [(A[:, k], x, w) for k, (x, w) in enumerate(rules)]


def _principal_axes(K: np.ndarray) -> np.ndarray:
    lam, Q = np.linalg.eigh(K)
    lam = np.clip(lam, 0.0, None)
    keep = lam > 1e-14 * max(float(lam[-1]), 1e-300)
    return Q[:, keep] * np.sqrt(lam[keep])


def _grid_values(rules, m: int, func: Callable[[list[np.ndarray]], np.ndarray], *,
                 even: bool = False) -> np.ndarray:
    """Σ_grid W · func([z_1, …, z_m]) over the tensor grid.

    ``even=True`` declares func(−z) = func(z): the largest axis is folded onto
    its non-negative nodes (all rules here are symmetric), halving the work.
    """
    if not rules:  # K = 0: z is deterministic
        return np.asarray(func([np.zeros((1, 1)) for _ in range(m)]))[..., 0, 0]
    rules = sorted(rules, key=lambda r: -r[1].size)
    w_rest = np.ones(1)
    z_rest = [np.zeros(1) for _ in range(m)]
    for col, x, w in rules[1:]:
        w_rest = np.multiply.outer(w_rest, w).ravel()
        for i in range(m):
            z_rest[i] = np.add.outer(z_rest[i], col[i] * x).ravel()
    col0, x0, w0 = rules[0]
    if even:
        keep = x0 >= 0
        x0, w0 = x0[keep], np.where(x0[keep] > 0, 2.0 * w0[keep], w0[keep])
    chunk = max(1, 2_000_000 // max(1, w_rest.size))
    acc = None
    for s in range(0, x0.size, chunk):
        xs, ws = x0[s : s + chunk], w0[s : s + chunk]
        zs = [np.add.outer(col0[i] * xs, z_rest[i]) for i in range(m)]
        vals = func(zs)  # (..., n_chunk, n_rest)
        part = np.einsum("...ij,i,j->...", vals, ws, w_rest)
        acc = part if acc is None else acc + part
    return acc


def _generic_products(act: Activation, powers: tuple[int, ...], K: np.ndarray, tol: float) -> float:
    A = _principal_axes(K)
    rules = _axis_rules(act, A, tol / max(1, A.shape[1]))
    m = len(powers)

    def func(zs: list[np.ndarray]) -> np.ndarray:
        out = None
        for z, p in zip(zs, powers, strict=True):
            s = np.asarray(act.fn(z), dtype=float)
            _check_finite(s, act)
            v = s**p
            out = v if out is None else out * v
        return out[None]

    even = _calibration(act).odd and sum(powers) % 2 == 0
    return float(_grid_values(rules, m, func, even=even)[0])


def _generic_pair(act: Activation, K2: np.ndarray, tol: float) -> np.ndarray:
    """[⟨σ_aσ_b⟩, ⟨σ'_aσ'_b⟩, ⟨z_aσ'_aσ_b⟩, ⟨σ_a z_bσ'_b⟩] for a 2x2 K."""
    A = _principal_axes(K2)
    rules = _axis_rules(act, A, tol / max(1, A.shape[1]))

    def func(zs: list[np.ndarray]) -> np.ndarray:
        za, zb = zs
        sa, sb = np.asarray(act.fn(za), dtype=float), np.asarray(act.fn(zb), dtype=float)
        da, db = act.prime(za), act.prime(zb)
        _check_finite(sa, act)
        _check_finite(sb, act)
        _check_finite(da, act, "σ'")
        _check_finite(db, act, "σ'")
        return np.stack([sa * sb, da * db, za * da * sb, sa * zb * db])

    return _grid_values(rules, 2, func, even=_calibration(act).odd)


def _generic_single(act: Activation, K: np.ndarray, tol: float) -> dict[str, np.ndarray]:
    """⟨σ²⟩, ⟨zσσ'⟩, ⟨σ'²⟩, ⟨σ⁴⟩, ⟨σ⟩ for an array of single-input variances (binned by scale)."""
    cal = _calibration(act)
    K = np.asarray(K, dtype=float)
    flat = K.ravel()
    out = {key: np.empty(flat.size) for key in ("s2", "zss", "sp2", "s4", "s1")}
    a = np.sqrt(np.maximum(flat, 0.0))
    bins = np.where(a > 0, np.ceil(4.0 * np.log2(np.where(a > 0, a, 1.0))), -999).astype(int)
    for b in np.unique(bins):
        sel = np.nonzero(bins == b)[0]
        amax = float(np.max(a[sel]))
        (x, w), err, ok = cal.single_rule(amax if amax > 0 else 2.0**-14, tol)
        if not ok:
            _warn_inaccurate(act, amax, tol, err, stacklevel=4)
        z = a[sel, None] * x[None, :]
        s = np.asarray(act.fn(z), dtype=float)
        d = act.prime(z)
        _check_finite(s, act)
        _check_finite(d, act, "σ'")
        out["s2"][sel] = (s * s) @ w
        out["zss"][sel] = (z * s * d) @ w
        out["sp2"][sel] = (d * d) @ w
        out["s4"][sel] = (s**4) @ w
        out["s1"][sel] = s @ w
    return {k: v.reshape(K.shape) for k, v in out.items()}


# ======================================================= public functions
def single_input(act: object, K: object, *, tol: float = DEFAULT_TOL) -> dict[str, np.ndarray]:
    """One-input expectations, elementwise over an array of variances ``K``.

    Returns a dict of arrays shaped like ``K``: ``"s2"`` = ⟨σ²⟩_K,
    ``"ds2"`` = d⟨σ²⟩/dK, ``"sp2"`` = ⟨σ'²⟩_K, ``"s4"`` = ⟨σ⁴⟩_K. Then
    χ∥ = C_W·ds2 and χ⊥ = C_W·sp2 (THEORY.md §3.3).
    """
    act = _as_activation(act)
    K = np.asarray(K, dtype=float)
    if np.any(~np.isfinite(K)) or np.any(K < 0):
        msg = "`K` (single-input variances) must be finite and >= 0."
        raise ValueError(msg)
    fam = act.family
    if fam == "homogeneous":
        ap, am = act.slopes  # type: ignore[misc]
        a2 = (ap * ap + am * am) / 2
        return {"s2": a2 * K, "ds2": np.full_like(K, a2), "sp2": np.full_like(K, a2),
                "s4": 1.5 * (ap**4 + am**4) * K * K}  # (a+^4 + a-^4) E[z+^4], E[z+^4] = 3K²/2
    if fam == "erf":
        s2 = 2 / np.pi * np.arcsin(2 * K / (1 + 2 * K))
        ds2 = 4 / (np.pi * (1 + 2 * K) * np.sqrt(1 + 4 * K))
        sp2 = 4 / (np.pi * np.sqrt(1 + 4 * K))
        flat = K.ravel()
        C = flat[:, None, None] * np.ones((1, 4, 4)) + 0.5 * np.eye(4)
        s4 = _erf_slots(C).reshape(K.shape)
        return {"s2": s2, "ds2": ds2, "sp2": sp2, "s4": s4}
    if fam == "sin":
        e2, e8 = np.exp(-2 * K), np.exp(-8 * K)
        return {"s2": (1 - e2) / 2, "ds2": e2, "sp2": (1 + e2) / 2, "s4": (3 - 4 * e2 + e8) / 8}
    r = _generic_single(act, K, tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        ds2 = np.where(K > 0, r["zss"] / np.where(K > 0, K, 1.0), np.nan)
    if np.any(K == 0):
        # limit K -> 0: (1/2)<(σ²)''> = σ'(0)² + σ(0)σ''(0)
        s0 = float(np.asarray(act.fn(np.zeros(1)), dtype=float)[0])
        d0 = float(act.prime(np.zeros(1))[0])
        h = 1e-4
        dd0 = float((act.prime(np.array([h]))[0] - act.prime(np.array([-h]))[0]) / (2 * h))
        ds2 = np.where(K == 0, d0 * d0 + s0 * dd0, ds2)
    return {"s2": r["s2"], "ds2": ds2, "sp2": r["sp2"], "s4": r["s4"]}


def power_mean(act: object, K: object, p: int, *, tol: float = DEFAULT_TOL) -> np.ndarray:
    """⟨σ(z)^p⟩ for z ~ N(0, K), elementwise over an array of variances (p = 1..4)."""
    act = _as_activation(act)
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or not 1 <= p <= 4:
        msg = f"`p` must be an integer in [1, 4], got {p!r}."
        raise ValueError(msg)
    K = np.asarray(K, dtype=float)
    if np.any(~np.isfinite(K)) or np.any(K < 0):
        msg = "`K` (single-input variances) must be finite and >= 0."
        raise ValueError(msg)
    fam = act.family
    if fam == "homogeneous":
        return _hom_power(act.slopes, int(p), K)  # type: ignore[arg-type]
    if fam == "sin":
        # sin^p as Fourier series; E cos(kz) = exp(-k²K/2)

        def e(k: int) -> np.ndarray:
            return np.exp(-0.5 * k * k * K)

        return {1: 0 * K, 2: (1 - e(2)) / 2, 3: 0 * K, 4: (3 - 4 * e(2) + e(4)) / 8}[int(p)]
    if fam == "erf" and p in (2, 4):
        return single_input(act, K)["s2" if p == 2 else "s4"]
    if fam == "erf":
        return 0 * K
    r = _generic_single(act, K, tol)
    if p == 3:
        flat = K.ravel()
        out = np.array([_generic_products(act, (3,), np.array([[k]]), tol) for k in flat])
        return out.reshape(K.shape)
    return {1: r["s1"], 2: r["s2"], 4: r["s4"]}[int(p)]


def pair_statistics(act: object, K: object, *, tol: float = DEFAULT_TOL):
    """Two-input expectations for every pair of inputs.

    Returns ``(E, Ed, D)``, three (N, N) arrays:

    * ``E[a, b] = ⟨σ_a σ_b⟩_K``;
    * ``Ed[a, b] = ⟨σ'_a σ'_b⟩_K`` — also ``∂E[a, b]/∂K_ab`` (symmetric entry, a ≠ b);
    * ``D[a, b] = ∂E[a, b]/∂K_aa`` with the other entries fixed (for a = b,
      ``d⟨σ_a²⟩/dK_aa``). ``∂E[a, b]/∂K_bb`` is ``D[b, a]``.
    """
    act = _as_activation(act)
    K = _as_kernel(K)
    N = K.shape[0]
    diag = np.diag(K)
    iu, ju = np.triu_indices(N, 1)
    E, Ed, D = np.empty((N, N)), np.empty((N, N)), np.empty((N, N))
    fam = act.family
    one = single_input(act, diag, tol=tol)
    E[np.arange(N), np.arange(N)] = one["s2"]
    Ed[np.arange(N), np.arange(N)] = one["sp2"]
    D[np.arange(N), np.arange(N)] = one["ds2"]
    if iu.size:
        k11, k22, k12 = diag[iu], diag[ju], K[iu, ju]
        if fam == "homogeneous":
            e, ed, d1, d2 = _hom_pair(act.slopes, k11, k22, k12)  # type: ignore[arg-type]
        elif fam == "erf":
            e, ed, d1, d2 = _erf_pair(k11, k22, k12)
        elif fam == "sin":
            e, ed, d1, d2 = _sin_pair(k11, k22, k12)
        else:
            vals = np.array([_generic_pair(act, K[np.ix_([a, b], [a, b])], tol) for a, b in zip(iu, ju, strict=True)])
            e, ed, za, zb = vals.T
            with np.errstate(divide="ignore", invalid="ignore"):
                d1 = np.where(k11 > 0, (za - k12 * ed) / (2 * np.where(k11 > 0, k11, 1.0)), 0.0)
                d2 = np.where(k22 > 0, (zb - k12 * ed) / (2 * np.where(k22 > 0, k22, 1.0)), 0.0)
        # identical inputs get bit-identical values, so they stay identical layer after layer
        dup = (k11 == k22) & (k12 == k11)
        e = np.where(dup, one["s2"][iu], e)
        ed = np.where(dup, one["sp2"][iu], ed)
        E[iu, ju] = E[ju, iu] = e
        Ed[iu, ju] = Ed[ju, iu] = ed
        D[iu, ju] = d1
        D[ju, iu] = d2
    return E, Ed, D


def two_point(act: object, K: object, *, tol: float = DEFAULT_TOL) -> np.ndarray:
    """⟨σ(z_α)σ(z_β)⟩ for z ~ N(0, K): an (N, N) array."""
    return pair_statistics(act, K, tol=tol)[0]


def derivative_two_point(act: object, K: object, *, tol: float = DEFAULT_TOL) -> np.ndarray:
    """⟨σ'(z_α)σ'(z_β)⟩ for z ~ N(0, K): an (N, N) array."""
    return pair_statistics(act, K, tol=tol)[1]


def _canonical(quad: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Distinct inputs (highest power first) and their powers."""
    counts: dict[int, int] = {}
    for a in quad:
        counts[int(a)] = counts.get(int(a), 0) + 1
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(k for k, _ in items), tuple(v for _, v in items)


def four_point(act: object, K: object, indices: object, *, tol: float = DEFAULT_TOL,
               tol_high_dim: float = DEFAULT_TOL_HIGH_DIM) -> np.ndarray:
    """⟨σ_a σ_b σ_c σ_d⟩_K for each row (a, b, c, d) of ``indices`` (shape (M, 4)).

    Rows may repeat inputs; each distinct multiset is computed once.
    Closed forms (or Plackett's 1-d integral) for the homogeneous family, erf
    and sin; quadrature otherwise, to ``tol`` for ≤ 2 distinct inputs and
    ``tol_high_dim`` for 3–4.
    """
    act = _as_activation(act)
    K = _as_kernel(K)
    idx = np.asarray(indices)
    if idx.ndim == 1:
        idx = idx[None]
    if idx.ndim != 2 or idx.shape[1] != 4 or not np.issubdtype(idx.dtype, np.integer):
        msg = f"`indices` must be an integer array of shape (M, 4), got shape {idx.shape}."
        raise ValueError(msg)
    if idx.size and (idx.min() < 0 or idx.max() >= K.shape[0]):
        msg = f"`indices` must be in [0, {K.shape[0] - 1}]."
        raise ValueError(msg)
    # identical inputs (equal rows of K, K_aa = K_ab) are mapped to one representative,
    # so that duplicates give bit-identical values whatever their labels
    N = K.shape[0]
    rep = np.arange(N)
    for a in range(N):
        for b in range(a):
            if rep[b] == b and K[a, a] == K[b, b] == K[a, b] and np.array_equal(K[a], K[b]):
                rep[a] = b
                break
    keys = [tuple(sorted(int(rep[v]) for v in row)) for row in idx]
    uniq = sorted(set(keys))
    values = _four_point_sorted(act, K, uniq, tol, tol_high_dim)
    return np.array([values[k] for k in keys])


def _four_point_sorted(act: Activation, K: np.ndarray, quads: list[tuple[int, ...]], tol: float,
                       tol_high_dim: float) -> dict[tuple[int, ...], float]:
    fam = act.family
    out: dict[tuple[int, ...], float] = {}
    if not quads:
        return out
    if fam in ("erf", "sin", "gelu"):
        q = np.array(quads)
        C = K[q[:, :, None], q[:, None, :]]
        if fam == "erf":
            vals = _erf_slots(C + 0.5 * np.eye(4))
        elif fam == "gelu":
            vals = _gelu_slots(C)
        else:
            vals = _sin_slots(C)
        return dict(zip(quads, vals.tolist(), strict=True))
    groups: dict[tuple[int, ...], list[tuple[tuple[int, ...], tuple[int, ...]]]] = {}
    for qd in quads:
        distinct, powers = _canonical(qd)
        groups.setdefault(powers, []).append((qd, distinct))
    for powers, members in groups.items():
        if fam == "homogeneous":
            d = np.array([dist for _, dist in members])
            Ks = K[d[:, :, None], d[:, None, :]]
            vals = _hom_products(act.slopes, powers, Ks)  # type: ignore[arg-type]
            for (qd, _), v in zip(members, vals, strict=True):
                out[qd] = float(v)
        else:
            t = tol if len(powers) <= 2 else tol_high_dim
            jobs = [(qd, K[np.ix_(dist, dist)]) for qd, dist in members]
            if len(jobs) >= 8 and len(powers) >= 3 and _workers() > 1:
                # numpy releases the GIL inside the ufuncs: threads scale on the grid work.
                # Calibrate in this thread first so workers only read the rule cache.
                for _, Ks in jobs:
                    A = _principal_axes(Ks)
                    _axis_rules(act, A, t / max(1, A.shape[1]))
                with ThreadPoolExecutor(max_workers=_workers()) as pool:
                    vals = list(pool.map(_generic_products, [act] * len(jobs), [powers] * len(jobs),
                                         [Ks for _, Ks in jobs], [t] * len(jobs)))
            else:
                vals = [_generic_products(act, powers, Ks, t) for _, Ks in jobs]
            for (qd, _), v in zip(jobs, vals, strict=True):
                out[qd] = v
    return out


def _threads_from_env() -> int | None:
    env = os.environ.get("DEEPEFT_THREADS")
    if env is None or env.strip() == "":
        return None
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"environment variable DEEPEFT_THREADS must be a positive integer (threads for quadrature), got {env!r}."
        raise ValueError(msg)
    return value


#: Threads for many-input quadrature, from ``DEEPEFT_THREADS`` (validated at import).
_THREADS = _threads_from_env()


def _workers() -> int:
    """Threads for many-input quadrature: ``DEEPEFT_THREADS`` or the CPU count (max 8)."""
    if _THREADS is not None:
        return _THREADS
    return max(1, min(8, os.cpu_count() or 1))
