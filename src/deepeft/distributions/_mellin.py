r"""Law of a sum of independent log-Gamma variables, by saddle-point Mellin–Barnes inversion.

The object here is

.. math::

    V = c_0 + \sum_j \sum_{r=1}^{m_j} \log Y_{j,r},

with independent factors of two kinds:

* **gamma** factors ``Y ~ Gamma(a, 1)`` (deep linear nets: ``χ²_n/2`` has ``a = n/2``);
* **ReLU** factors ``Y ~ Gamma(M/2, 1)`` with ``M ~ Binomial(n, ½)``, *restricted to M ≥ 1*:
  a defective law of mass ``1 − 2^{−n}`` (the missing mass is the event "all units
  of the layer inactive", where the network output is exactly zero).

Its (defective) moment generating function factorises,

.. math::

    \mathbb E[e^{sV}] = e^{c_0 s}\prod_j M_j(s)^{m_j},\qquad
    M_\Gamma(s) = \frac{\Gamma(a+s)}{\Gamma(a)},\quad
    M_{\rm ReLU}(s) = \sum_{m=1}^{n}\binom nm 2^{-n}\frac{\Gamma(m/2+s)}{\Gamma(m/2)},

so the cost of everything below is O(number of *distinct* factors), not O(depth).

**Inversion.** With ``K(s) = log E[e^{sV}]`` and ``Φ(s) = K(s) − s x − log ρ(s)``,

.. math::

    p(x) = \frac1{2\pi i}\int e^{\Phi(s)}ds\ (\rho=1),\quad
    F(x):\ \rho=-s,\ \operatorname{Re}s<0,\quad
    S(x):\ \rho=s,\ \operatorname{Re}s>0,

along any upward contour in the strip of analyticity (``Re s > −a_min``, and left
or right of the pole of ``1/s`` for ``F``/``S``). The contour is exact for *any*
crossing point; its shape only affects the cost:

1. the real saddle point ``w`` (``Φ'(w) = 0``) by a safeguarded, vectorised Newton
   iteration in ``t = log(w + a_min)`` (``log w`` for ``S``; a logit for ``F``);
2. the contour ``s(τ) = w + (iτ − b(τ))/σ`` with ``σ² = Φ''(w)`` and
   ``b(τ) = B(1 − exp(−γτ²/B))``: it leaves the saddle along the steepest-descent
   direction to second order (``γ = −Φ'''(w)/(6σ³)``), bending *around* a nearby
   pole (the left tail, z → 0) but saturating at ``B ≈ k/(R₂ u)``, where the
   curvature ``R₂`` of the other factors takes over, so that it never runs into the
   poles of high-multiplicity factors (a pure parabola climbs humps of 10^100 at
   depth 100);
3. the trapezoid rule in τ, whose error is geometric in the width of the strip of
   analyticity: the initial step follows from the distance of the nearest
   singularity, the step is halved until the step-2h rule agrees to 3e-9 (error of
   the step-h rule ~1e-16) and the range is extended until the integrand is below
   1e-18. A contour that climbs (modulus > ½ away from the saddle) or cancels
   (Σ|f| > 1e3 |∫f|) is rejected and bent less;
4. far tails: where the saddle is within 1e-40 of the pole (x << 0) the leading
   residue is exact to ~1e-40; where ``|Φ(w)| > 1e12`` (log p below −1e12, x >> 0)
   the saddle-point approximation is exact far below the precision to which log p
   is defined there; beyond ``w = 1e290`` log p = −inf.

All arithmetic uses ``x``, log scales and *differences* ``log Γ(a+s) − log Γ(a+w)``
(a Stirling difference for large arguments), so there is no overflow or
cancellation at any depth (tested to L = 10⁵). Large batches are served by a
piecewise-Chebyshev table of log p, log F, log S (:class:`_ChebTable`) built from
the same integrals and checked by the decay of its coefficients.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
from scipy import fft, special

from .._combinatorics import cumulants_from_moments, moments_from_cumulants
from ._special import clog1p, lgamma_diff, lgamma_diff_real, psi_diff, tetragamma, trigamma

__all__ = ["LogGammaSum"]

PDF, CDF, SF = 0, 1, 2

_TAIL = 1e-18  # stop extending the τ range once the integrand is below this (relative to 1)
_RICHARDSON_TOL = 3e-9  # accept step h when |I_h − I_2h| < this·|I_h|; observed err(h) <~ 100·tol²
_H_LOG = 20.0  # initial step from the strip half-width d (see _log_integral)
_H_MAX = 0.55  # the trapezoid error of e^{−τ²/2} at this step is ~1e-28
_T_START = 9.5  # initial τ range (e^{−τ²/2} ~ 2e-20 there)
_GAMMA_MAX = 0.35  # cap on the curvature of the contour (1/3 for a simple pole)
_CANCEL = 1e3  # reject a contour when Σ|f| exceeds the integral by this factor
_H_MIN = 2e-3  # reject a contour that needs a finer step than this
_SQUEEZE = 0.3  # usable strip half-width <= _SQUEEZE/γ (the parabola folds onto the real axis at 1/(2γ))
_CHUNK_ELEMENTS = 400_000  # complex work-array size per chunk of points
# Newton variable range: u = e^t in [1e-40, 1e290] (pdf, sf); beyond, the far-tail forms apply
_T_CLAMP = (math.log(1e-40), math.log(1e290))
_TABLE_MIN = 200  # batches at least this large are served by a Chebyshev table (_ChebTable)


def _quiet(fn):  # type: ignore[no-untyped-def]
    """Run ``fn`` with floating-point warnings off: far tails legitimately overflow or
    underflow intermediate quantities (1/u², e^t); the results are checked instead."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            return fn(*args, **kwargs)

    return wrapper


class LogGammaSum:
    """Distribution of ``V = c0 + Σ_j Σ_{r ≤ m_j} log Y_{j,r}`` (see module docstring).

    Parameters
    ----------
    c0 : float
        Deterministic shift.
    gamma : mapping {shape a > 0: multiplicity}
        Gamma(a, 1) factors.
    relu : mapping {width n >= 1: multiplicity}
        ReLU factors ``Gamma(M/2, 1)``, ``M ~ Bin(n, ½)`` restricted to ``M >= 1``.

    Notes
    -----
    All probabilities returned are those of the *defective* law (total mass
    :attr:`mass` ``= Π (1 − 2^{−n})^{m}``); divide by :attr:`mass` for the law of
    ``V`` given that no ReLU layer was entirely inactive.
    """

    def __init__(self, c0: float, gamma: Mapping[float, int], relu: Mapping[int, int] | None = None) -> None:
        relu = dict(relu or {})
        gamma = {float(a): int(m) for a, m in gamma.items() if int(m) > 0}
        relu = {int(n): int(m) for n, m in relu.items() if int(m) > 0}
        if not gamma and not relu:
            msg = "LogGammaSum needs at least one factor"
            raise ValueError(msg)
        self.c0 = float(c0)
        self.gamma_a = np.array(sorted(gamma), dtype=float)
        self.gamma_m = np.array([gamma[a] for a in sorted(gamma)], dtype=float)
        self.relu = []  # (n, multiplicity, shapes m/2, log binomial weights)
        log_mass = 0.0
        for n in sorted(relu):
            m = np.arange(1, n + 1, dtype=float)
            logw = special.gammaln(n + 1.0) - special.gammaln(m + 1.0) - special.gammaln(n - m + 1.0)
            logw -= n * math.log(2.0)
            self.relu.append((n, float(relu[n]), m / 2.0, logw))
            log_mass += relu[n] * math.log1p(-(2.0 ** -n))
        self.log_mass = log_mass
        self.mass = math.exp(log_mass)
        shapes = list(self.gamma_a) + ([0.5] if self.relu else [])
        self.a_min = float(min(shapes))
        # order of the pole of E[e^{sV}] at s = −a_min (each ReLU factor has a simple one at −½)
        order = float(np.sum(self.gamma_m[self.gamma_a == self.a_min]))
        if self.a_min == 0.5:
            order += sum(mult for _, mult, _, _ in self.relu)
        self.pole_order = order
        self.total_mult = float(np.sum(self.gamma_m)) + sum(mult for _, mult, _, _ in self.relu)
        k = self.cumulants(2)
        self.mean, self.var = float(k[0]), float(k[1])
        self._tables: dict[int, _ChebTable] = {}

    # ------------------------------------------------------------------ real axis
    def _real(self, lo: float, u: np.ndarray, order: int = 3) -> tuple[np.ndarray, ...]:
        """K(w) and its first ``order`` derivatives at ``w = lo + u`` (u > 0, exact offsets)."""
        u = np.asarray(u, dtype=float)
        k0 = self.c0 * (lo + u)
        k1 = np.full(u.shape, self.c0)
        k2 = np.zeros(u.shape)
        k3 = np.zeros(u.shape)
        for a, mult in zip(self.gamma_a, self.gamma_m, strict=True):
            xa = (a + lo) + u
            k0 = k0 + mult * (special.gammaln(xa) - special.gammaln(a))
            if order >= 1:
                k1 = k1 + mult * special.psi(xa)
            if order >= 2:
                k2 = k2 + mult * trigamma(xa)
            if order >= 3:
                k3 = k3 + mult * tetragamma(xa)
        for _, mult, shapes, logw in self.relu:
            xm = (shapes + lo) + u[..., None]
            _t, pi, kk, x_ref = self._relu_log_terms(shapes, logw, lo, u)
            k0 = k0 + mult * kk
            if order >= 1:
                # ψ relative to the last term, so that nothing cancels when w is huge
                dpsi = psi_diff(x_ref[..., None], xm)
                m1 = np.sum(pi * dpsi, axis=-1)
                k1 = k1 + mult * (special.psi(x_ref) + m1)
            if order >= 2:
                dev = dpsi - m1[..., None]
                f2 = trigamma(xm)
                k2 = k2 + mult * np.sum(pi * (f2 + dev * dev), axis=-1)
            if order >= 3:
                k3 = k3 + mult * np.sum(pi * (tetragamma(xm) + 3.0 * dev * f2 + dev**3), axis=-1)
        return k0, k1, k2, k3

    @staticmethod
    def _relu_log_terms(shapes: np.ndarray, logw: np.ndarray, lo: float, u: np.ndarray):
        """Log terms of one ReLU factor at w = lo + u, their softmax weights and log-sum.

        The terms are formed relative to the last one (m = n) with accurate
        log-Gamma differences, so the weights stay exact even for huge w.
        """
        xm = (shapes + lo) + u[..., None]
        x_ref = (shapes[-1] + lo) + u
        rel = (logw - logw[-1]) - (special.gammaln(shapes) - special.gammaln(shapes[-1])) - lgamma_diff_real(
            xm, shapes[-1] - shapes
        )
        base = logw[-1] + lgamma_diff_real(np.full(u.shape, shapes[-1]), lo + u)
        top = np.max(rel, axis=-1)
        e = np.exp(rel - top[..., None])
        tot = np.sum(e, axis=-1)
        lse = top + np.log(tot)
        pi = e / tot[..., None]
        return rel, pi, base + lse, x_ref

    @_quiet
    def cgf(self, s: np.ndarray | float) -> np.ndarray:
        """``log E[e^{sV}]`` (defective: ``cgf(0) = log mass``) for real ``s > −a_min``; +inf below."""
        s = np.asarray(s, dtype=float)
        out = np.full(s.shape, np.inf)
        ok = s > -self.a_min
        if np.any(ok):
            out[ok] = self._real(-self.a_min, s[ok] + self.a_min, order=0)[0]
        return out

    def cumulants(self, order: int) -> np.ndarray:
        """Cumulants κ_1..κ_order of V *conditional on V being defined* (derivatives of K at 0)."""
        # the terms (one per distinct factor, times its multiplicity) are summed with
        # math.fsum: κ1 at depth 10⁵ is a small difference of sums of ~1e5 equal terms
        terms: list[list[float]] = [[self.c0]] + [[] for _ in range(order - 1)]
        for a, mult in zip(self.gamma_a, self.gamma_m, strict=True):
            for k in range(order):
                terms[k].append(float(mult * special.polygamma(k, a)))
        for _, mult, shapes, logw in self.relu:
            # A ReLU factor is a mixture over active counts of log-Gamma laws, whose
            # cumulants are polygamma(k-1, shape). Mixture raw moments are the weighted
            # raw moments of the components; convert both ways with the standard
            # recursion m_k = Σ_j C(k-1, j-1) κ_j m_{k-j}.
            pi = np.exp(logw - special.logsumexp(logw))
            comp_m = moments_from_cumulants([special.polygamma(k, shapes) for k in range(order)])
            ks = cumulants_from_moments([float(np.sum(pi * mk)) for mk in comp_m])
            for k in range(order):
                terms[k].append(mult * ks[k])
        return np.array([math.fsum(t) for t in terms])

    # ------------------------------------------------------------------ saddle point
    def _geometry(self, mode: int) -> tuple[float, float]:
        """(lo, U): w = lo + u with u in (0, U)."""
        if mode == PDF:
            return -self.a_min, math.inf
        if mode == CDF:
            return -self.a_min, self.a_min
        return 0.0, math.inf

    def _u_of_t(self, t: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, w, du/dt) for the Newton variable t (log u, or logit(u/U) when bounded)."""
        lo, big_u = self._geometry(mode)
        if mode == CDF:
            e = special.expit(t)
            em = special.expit(-t)
            u = big_u * e
            w = -big_u * em  # exact near w → 0⁻
            return u, w, big_u * e * em
        u = np.exp(t)
        return u, lo + u, u

    def _phi_derivs(self, t: np.ndarray, x: np.ndarray, mode: int, order: int = 2):
        lo, _ = self._geometry(mode)
        u, w, dudt = self._u_of_t(t, mode)
        k0, k1, k2, k3 = self._real(lo, u, order=order)
        f0 = k0 - x * w
        f1 = k1 - x
        f2, f3 = k2, k3
        if mode != PDF:
            f0 = f0 - np.log(np.abs(w))
            f1 = f1 - 1.0 / w
            f2 = f2 + 1.0 / (w * w)
            f3 = f3 - 2.0 / (w * w * w)
        return u, w, dudt, f0, f1, f2, f3

    def _initial_t(self, x: np.ndarray, mode: int) -> np.ndarray:
        _lo, _big_u = self._geometry(mode)
        sd = math.sqrt(self.var)
        wg = (x - self.mean) / self.var  # Gaussian saddle
        # pole regime: K'(−a_min + u) ≈ −k/u + C, with C matched at w = 0
        c = self.mean + self.pole_order / self.a_min
        with np.errstate(divide="ignore"):
            u_pole = np.where(x < c, self.pole_order / np.maximum(c - x, 1e-300), np.inf)
        if mode == PDF:
            u = np.where(x < self.mean, np.minimum(u_pole, self.a_min), wg + self.a_min)
            return np.log(np.clip(u, 1e-300, 1e300))
        if mode == CDF:
            w = np.minimum(np.where(x < self.mean, np.minimum(u_pole, self.a_min) - self.a_min, wg), -1.0 / sd)
            w = np.clip(w, -self.a_min * (1 - 1e-12), -1e-300)
            u = w + self.a_min
            return np.log(np.clip(u, 1e-300, None)) - np.log(-w)
        w = np.maximum(wg, 1.0 / sd)
        return np.log(w)

    def _saddle(self, x: np.ndarray, mode: int) -> np.ndarray:
        """Newton variable t of the saddle point (safeguarded Newton, vectorised)."""
        t = np.clip(self._initial_t(x, mode), _T_CLAMP[0], _T_CLAMP[1])
        t_lo = np.full(x.shape, -np.inf)
        t_hi = np.full(x.shape, np.inf)
        active = np.ones(x.shape, dtype=bool)
        for _ in range(200):
            idx = np.nonzero(active)[0]
            if idx.size == 0:
                break
            ti = t[idx]
            _, _, dudt, _, f1, f2, _ = self._phi_derivs(ti, x[idx], mode, order=2)
            pos = f1 > 0
            t_hi[idx] = np.where(pos, ti, t_hi[idx])
            t_lo[idx] = np.where(pos, t_lo[idx], ti)
            slope = f2 * dudt
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.clip(-f1 / slope, -8.0, 8.0)
            step = np.where(np.isfinite(step), step, np.where(pos, -2.0, 2.0))
            with np.errstate(invalid="ignore", divide="ignore"):
                scaled = np.abs(f1) / np.sqrt(f2)
            done = (scaled < 1e-10) | (np.abs(step) < 1e-14 * (1.0 + np.abs(ti)))
            new = ti + step
            lo_i, hi_i = t_lo[idx], t_hi[idx]
            outside = ((new <= lo_i) | (new >= hi_i)) & ~done
            both = np.isfinite(lo_i) & np.isfinite(hi_i)
            new = np.where(outside & both, 0.5 * (lo_i + hi_i), new)
            new = np.where(outside & ~both & pos, ti - 2.0, new)
            new = np.where(outside & ~both & ~pos, ti + 2.0, new)
            new = np.clip(new, _T_CLAMP[0], _T_CLAMP[1])
            done |= both & (hi_i - lo_i < 1e-14 * (1.0 + np.abs(ti)))
            done |= new == ti  # pinned at a clamp
            t[idx] = np.where(done, ti, new)
            active[idx[done]] = False
        return t

    # ------------------------------------------------------------------ contour integral
    def _log_integrand(
        self, u: np.ndarray, w: np.ndarray, x: np.ndarray, dlt: np.ndarray, pi_relu: list, mode: int
    ) -> np.ndarray:
        """``Φ(w + Δ) − Φ(w)`` for points (axis 0) and nodes Δ (axis 1)."""
        lo, _ = self._geometry(mode)
        e = (self.c0 - x)[:, None] * dlt
        for a, mult in zip(self.gamma_a, self.gamma_m, strict=True):
            e += mult * lgamma_diff(((a + lo) + u)[:, None], dlt)
        for (_, mult, shapes, _), (keep, logpi) in zip(self.relu, pi_relu, strict=True):
            xm = (shapes[keep] + lo)[None, None, :] + u[:, None, None]
            total = np.sum(np.exp(logpi[:, None, :] + lgamma_diff(xm, dlt[:, :, None])), axis=-1)
            zero = total == 0  # far out on the contour everything underflows
            with np.errstate(divide="ignore", invalid="ignore"):
                e += np.where(zero, -np.inf, mult * np.log(np.where(zero, 1.0, total)))
        if mode != PDF:
            e -= clog1p(dlt / w[:, None])
        return e

    def _relu_weights(self, u: np.ndarray, lo: float) -> list:
        out = []
        for _, _, shapes, logw in self.relu:
            _t, pi, _, _ = self._relu_log_terms(shapes, logw, lo, u)
            with np.errstate(divide="ignore"):
                logpi = np.log(pi)
            keep = np.max(logpi, axis=0) > -75.0
            out.append((keep, logpi[:, keep]))
        return out

    @staticmethod
    def _contour(geo: np.ndarray, sigma: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """s(τ) − w and s'(τ) for the contour ``w + (iτ − b(τ))/σ``.

        ``b(τ) = B(1 − exp(−γτ²/B))``: a parabola of curvature γ near the saddle whose
        leftward excursion saturates at ``B/σ`` (``geo[:, 0] = γ``, ``geo[:, 1] = B``).
        """
        g = geo[:, 0:1]
        big_b = geo[:, 1:2]
        q = g * tau * tau
        with np.errstate(over="ignore", invalid="ignore"):
            r = q / big_b
            sat = np.exp(-r)
            b = np.where(np.isfinite(big_b), -big_b * np.expm1(-r), q)
            db = np.where(np.isfinite(big_b), 2.0 * g * tau * sat, 2.0 * g * tau)
        sg = sigma[:, None]
        return (1j * tau - b) / sg, (1j - db) / sg

    def _nodes(self, u, w, x, sigma, geo, tau, pi_relu, mode) -> tuple[np.ndarray, np.ndarray]:
        """Integrand Im[e^{Φ(s)−Φ(w)} s'(τ)] and its modulus at nodes τ (points × nodes)."""
        dlt, ds = self._contour(geo, sigma, tau)
        e = self._log_integrand(u, w, x, dlt, pi_relu, mode)
        mag = np.exp(e.real) * np.abs(ds)
        f = (np.exp(e) * ds).imag
        return f, mag * sigma[:, None]

    def _log_integral(self, x: np.ndarray, mode: int) -> np.ndarray:
        """log of the defective pdf / cdf / sf of V at ``x`` (1-d array of finite floats)."""
        # far tails legitimately overflow intermediate quantities (1/u², e^t); results are checked
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            out = self._log_integral_raw(x, mode)
        if np.any(np.isnan(out)):  # pragma: no cover - defensive
            msg = "Mellin-Barnes inversion produced NaN"
            raise ArithmeticError(msg)
        return out

    def _log_integral_raw(self, x: np.ndarray, mode: int) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.empty(x.shape)
        if x.size == 0:
            return out
        t = self._saddle(x, mode)
        u, w, _, f0, f1, f2, f3 = self._phi_derivs(t, x, mode, order=3)
        # saddle pinned at a clamp: far tails, where closed asymptotic forms are exact to ~u
        right = (t >= _T_CLAMP[1]) & (f1 < 0)
        left = (t <= _T_CLAMP[0]) & (f1 > 0)
        # |Φ(w)| > 1e12: the saddle-point approximation is exact to far below the precision
        # to which log p (and the input itself) is defined there
        huge = ~(right | left) & (np.abs(f0) > 1e12)
        if np.any(right | left | huge):
            out[right] = -np.inf if mode != CDF else self.log_mass
            out[left] = self._left_tail(x[left], mode)
            out[huge] = f0[huge] - 0.5 * np.log(2.0 * math.pi * f2[huge])
            ok = ~(right | left | huge)
            if np.any(ok):
                out[ok] = self._log_integral_raw(x[ok], mode)
            return out
        sigma = np.sqrt(f2)
        gamma = np.clip(-f3 / (6.0 * sigma**3), 0.0, _GAMMA_MAX)
        # Saturation of the leftward bend. Near a pole of order k at distance u the steepest
        # descent path circles the pole (curvature γ); once |s − w| >> u the remaining
        # curvature R2 takes over and the path turns vertical at Re(s − w) ≈ −k/(R2 u).
        if mode == SF:  # nearest singularity: the simple pole of 1/s at distance w
            order_near, rest = 1.0, f2 - 1.0 / (w * w)
        else:
            order_near, rest = self.pole_order, f2 - self.pole_order / (u * u)
            if mode == CDF:
                rest = rest - 1.0 / (w * w)
        with np.errstate(divide="ignore", over="ignore"):
            sat = np.where(rest > 1e-12 * f2, order_near / (np.maximum(rest, 1e-300) * u) * sigma, np.inf)
        geo = np.stack([gamma, sat], axis=1)
        # half-width of the strip of analyticity in τ (nearest singularity of the integrand)
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = sigma * u  # distance to the left singularity (pole of Γ, or s = 0 for SF)
            disc = 1.0 - 4.0 * gamma * delta
            d_left = np.where(disc > 0, 2.0 * delta / (1.0 + np.sqrt(np.maximum(disc, 0.0))), 0.5 / gamma)
            # the parabola squeezes its image onto the real axis at Im τ = 1/(2γ), where the
            # further poles sit: the usable strip is narrower
            d_left = np.minimum(d_left, _SQUEEZE / gamma)
            d = d_left
            if mode == CDF:
                delta_r = sigma * (-w)
                d_right = 2.0 * delta_r / (1.0 + np.sqrt(1.0 + 4.0 * gamma * delta_r))
                d = np.minimum(d, d_right)
        # trapezoid error ≈ exp(d²/2 − 2πd/h) (pole at distance d, Gaussian growth off-axis);
        # the 2h rule must reach _RICHARDSON_TOL, so h ≈ πd / (log(1/tol) + d²/2)
        d = np.minimum(d, 6.0)  # a wider strip no longer helps: the Gaussian decay sets h then
        h = np.clip(math.pi * d / (_H_LOG + 0.5 * d * d), 1e-4, _H_MAX)
        order = np.argsort(h)
        res = np.empty(x.shape)
        i = 0
        while i < order.size:
            # chunk of points with similar step
            n_nodes = math.ceil(_T_START / h[order[i]]) + 1
            per = max(1, _CHUNK_ELEMENTS // (n_nodes * self._work_factor()))
            idx = order[i : i + per]
            res[idx] = self._integrate_retry(u[idx], w[idx], x[idx], sigma[idx], geo[idx], h[idx], mode)
            i += per
        with np.errstate(divide="ignore"):
            out = f0 + np.log(np.maximum(res, 0.0)) - math.log(math.pi)
        return out

    def _left_tail(self, x: np.ndarray, mode: int) -> np.ndarray:
        """Leading residue at the pole s = −a_min (order k): exact up to a relative O(k/|x|).

        ``p(x) ≈ R e^{a x} (−x)^{k−1} / (k−1)!`` and ``F(x) ≈ p(x) / a``; used for x << 0
        where the saddle point is within 1e-40 of the pole (relative error ~1e-40).
        """
        a, k = self.a_min, self.pole_order
        log_r = -a * self.c0
        for aj, mult in zip(self.gamma_a, self.gamma_m, strict=True):
            log_r += mult * (-special.gammaln(aj) if aj == a else special.gammaln(aj - a) - special.gammaln(aj))
        for n, mult, _, _ in self.relu:
            log_r += mult * (math.log(n) - n * math.log(2.0) - special.gammaln(0.5))
        out = log_r + a * x + (k - 1) * np.log(-x) - special.gammaln(k)
        if mode == CDF:
            out = out - math.log(a)
        return out

    def _work_factor(self) -> int:
        return max(1, len(self.gamma_a) + sum(int(np.sum(s > 0)) for _, _, s, _ in self.relu))

    def _integrate_retry(self, u, w, x, sigma, geo, h, mode) -> np.ndarray:
        """Integrate; where the contour is rejected, bend it less and try again."""
        res, failed = self._integrate_chunk(u, w, x, sigma, geo, h, mode)
        geo = geo.copy()
        for attempt in range(6):
            if not np.any(failed):
                return res
            idx = np.nonzero(failed)[0]
            g = geo[idx]
            g[:, 0] *= 0.5
            g[:, 1] *= 0.25
            if attempt == 5:
                g[:, 0] = 0.0  # last resort: the vertical line
            geo[idx] = g
            res[idx], failed_i = self._integrate_chunk(u[idx], w[idx], x[idx], sigma[idx], g, h[idx], mode)
            failed[:] = False
            failed[idx] = failed_i
        if np.any(failed):  # pragma: no cover - defensive
            msg = "Mellin-Barnes inversion did not converge"
            raise ArithmeticError(msg)
        return res

    def _integrate_chunk(self, u, w, x, sigma, geo, h, mode) -> tuple[np.ndarray, np.ndarray]:
        """∫_0^∞ Im[e^{Φ(s(τ))−Φ(w)} s'(τ)] dτ by an adaptive trapezoid rule.

        Nodes are never recomputed: extending the range adds nodes at the current
        step, and halving the step adds the midpoints only.
        """
        n = u.size
        lo, _ = self._geometry(mode)
        pi_all = self._relu_weights(u, lo) if self.relu else []
        h = h.copy()
        s_even = np.zeros(n)  # Σ' f at even multiples of h (½ weight at τ = 0)
        s_odd = np.zeros(n)  # Σ f at odd multiples of h
        k_max = np.zeros(n, dtype=np.int64)  # nodes 0..k_max computed at the current h
        last = np.zeros(n)  # integrand modulus at the last node
        a_even = np.zeros(n)  # Σ |f| (cancellation monitor), even and odd nodes
        a_odd = np.zeros(n)
        far_peak = np.zeros(n)  # max modulus at τ >= 3: large means the contour climbs a hump
        # first pass: τ = 0 .. ≈ _T_START
        k0 = math.ceil(_T_START / np.min(h))
        k0 += k0 % 2
        todo = np.arange(n)

        def add(idx: np.ndarray, k: np.ndarray) -> None:
            # evaluate nodes k (1-d, same for all idx) at points idx; accumulate
            pr = [(keep, lp[idx]) for keep, lp in pi_all]
            tau = h[idx, None] * k[None, :]
            f, mag = self._nodes(u[idx], w[idx], x[idx], sigma[idx], geo[idx], tau, pr, mode)
            f = np.where(k[None, :] == 0, 0.5 * f, f)
            even = (k % 2) == 0
            s_even[idx] += np.sum(f[:, even], axis=1)
            s_odd[idx] += np.sum(f[:, ~even], axis=1)
            af = np.abs(f)
            a_even[idx] += np.sum(af[:, even], axis=1)
            a_odd[idx] += np.sum(af[:, ~even], axis=1)
            last[idx] = np.max(mag[:, -2:], axis=1)
            far_peak[idx] = np.maximum(far_peak[idx], np.max(np.where(tau >= 3.0, mag, 0.0), axis=1))

        add(todo, np.arange(k0 + 1, dtype=float))
        k_max[:] = k0
        failed = np.zeros(n, dtype=bool)
        for _ in range(60):
            total = h * (s_even + s_odd)
            scale = np.abs(total) * sigma + 1e-300
            # a contour that climbs away from the saddle, or cancels badly, is abandoned
            failed |= (far_peak > 0.5) | (h * (a_even + a_odd) > _CANCEL * np.abs(total)) | (h < _H_MIN)
            tail_bad = (last > _TAIL * scale) & ~failed
            rich_bad = (np.abs(total - 2.0 * h * s_even) > _RICHARDSON_TOL * np.abs(total)) & ~failed
            if not np.any(tail_bad | rich_bad):
                break
            if np.any(tail_bad):
                # extend the range: the modulus decays roughly like exp(−α τ²)
                idx = np.nonzero(tail_bad)[0]
                t_now = k_max[idx] * h[idx]
                with np.errstate(divide="ignore", invalid="ignore"):
                    alpha = -np.log(last[idx] / scale[idx]) / t_now**2
                    t_new = np.sqrt(-math.log(_TAIL * 0.01) / alpha) * 1.05
                t_new = np.where(np.isfinite(t_new) & (t_new > t_now), t_new, 1.5 * t_now)
                t_new = np.minimum(t_new, 4.0 * t_now)
                extra = math.ceil(np.max((t_new - t_now) / h[idx]))
                extra += extra % 2
                ks = k_max[idx]
                # points in idx can have different k_max: evaluate per distinct k_max
                for kk in np.unique(ks):
                    sub = idx[ks == kk]
                    add(sub, np.arange(kk + 1, kk + extra + 1, dtype=float))
                    k_max[sub] = kk + extra
                continue
            idx = np.nonzero(rich_bad)[0]
            # halve the step: the old nodes become the even ones
            s_even[idx] += s_odd[idx]
            s_odd[idx] = 0.0
            a_even[idx] += a_odd[idx]
            a_odd[idx] = 0.0
            h[idx] *= 0.5
            k_max[idx] *= 2
            ks = k_max[idx]
            for kk in np.unique(ks):
                sub = idx[ks == kk]
                add(sub, np.arange(1, kk, 2, dtype=float))
        return h * (s_even + s_odd), failed

    # ------------------------------------------------------------------ public evaluators
    @_quiet
    def _evaluate(self, x: np.ndarray, mode: int) -> np.ndarray:
        """Direct contour integrals, or the cached Chebyshev table for large batches."""
        x = np.asarray(x, dtype=float)
        if x.size == 0:
            return np.empty(x.shape)
        table = self._tables.get(mode)
        if x.size >= _TABLE_MIN:
            if table is None:
                table = self._tables[mode] = _ChebTable(self, mode)
            table.ensure(float(np.min(x)), float(np.max(x)))
        if table is None:
            return self._log_integral(x, mode)
        inside = table.covered(x)
        out = np.empty(x.shape)
        out[inside] = table(x[inside])
        if not np.all(inside):
            out[~inside] = self._log_integral(x[~inside], mode)
        return out

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log of the defective density of V."""
        return self._evaluate(np.asarray(x, dtype=float), PDF)

    @_quiet
    def log_cdf_sf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log F(x), log S(x)) of the defective law, each with full relative accuracy.

        The smaller of the two is computed by its own contour integral, the other by
        complement (``F + S = mass``).
        """
        x = np.asarray(x, dtype=float)
        lower = x <= self.mean
        log_f = np.empty(x.shape)
        log_s = np.empty(x.shape)
        if np.any(lower):
            lf = self._evaluate(x[lower], CDF)
            log_f[lower] = lf
            log_s[lower] = self.log_mass + _log1mexp(lf - self.log_mass)
        if np.any(~lower):
            ls = self._evaluate(x[~lower], SF)
            log_s[~lower] = ls
            log_f[~lower] = self.log_mass + _log1mexp(ls - self.log_mass)
        return log_f, log_s

    @_quiet
    def ppf(self, log_target: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Solve ``log F(x) = log_target`` (``upper`` False) or ``log S(x) = log_target`` (True).

        Targets are of the defective law (so ``exp(log_target) < mass``). Safeguarded
        Newton iteration on ``G(x) = ±(log F or log S − target)`` (increasing in x), with
        ``d log F/dx = p/F``, started at the mean, bracketing as it goes (a point where
        the tail probability underflows counts as "too far").
        """
        upper = np.asarray(upper, dtype=bool)
        # the upper branch needs S < 1 at the target: log S < 0 strictly
        log_target = np.minimum(np.asarray(log_target, dtype=float), np.where(upper, -1e-300, np.inf))
        sd = math.sqrt(self.var)
        x = np.full(log_target.shape, self.mean)
        x_lo = np.full(x.shape, -np.inf)
        x_hi = np.full(x.shape, np.inf)
        grow = np.zeros(x.shape)  # expansion counter while a side of the bracket is open
        active = np.ones(x.shape, dtype=bool)
        for _ in range(300):
            idx = np.nonzero(active)[0]
            if idx.size == 0:
                break
            xi, up, lt = x[idx], upper[idx], log_target[idx]
            lf, ls = self.log_cdf_sf(xi)
            lp = self.logpdf(xi)
            tail = np.where(up, ls, lf)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                # upper tail: log(−log S) is close to linear in x far out (log S ~ −e^{x/M}),
                # lower tail: log F is (log F ~ a x): Newton converges in a few steps on both
                hazard = np.exp(lp - tail)
                g = np.where(up, np.log(-tail) - np.log(-lt), tail - lt)  # increasing in x
                slope = np.where(up, hazard / -tail, hazard)
            # a tail probability that underflows (or rounds to 1) tells which side the root is on
            g = np.where(up & (tail >= 0), -np.inf, g)
            g = np.where(np.isnan(g), np.where(up, np.inf, -np.inf), g)
            x_hi[idx] = np.where(g > 0, np.minimum(x_hi[idx], xi), x_hi[idx])
            x_lo[idx] = np.where(g < 0, np.maximum(x_lo[idx], xi), x_lo[idx])
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                new = xi - g / slope
            lo_i, hi_i = x_lo[idx], x_hi[idx]
            bad = ~np.isfinite(new) | (new <= lo_i) | (new >= hi_i)
            both = np.isfinite(lo_i) & np.isfinite(hi_i)
            step = sd * 2.0 ** grow[idx]
            alt = np.where(both, 0.5 * (lo_i + hi_i), np.where(np.isfinite(hi_i), hi_i - step, lo_i + step))
            grow[idx] += bad & ~both
            new = np.where(bad, alt, new)
            done = (np.abs(new - xi) <= 1e-14 * (1.0 + np.abs(xi))) | (g == 0)
            done |= both & (hi_i - lo_i <= 1e-14 * (1.0 + np.abs(xi)))
            x[idx] = np.where(done & np.isfinite(g), xi, new)
            active[idx[done]] = False
        return x

    # ------------------------------------------------------------------ sampling
    def rvs(self, size: int | tuple[int, ...], random_state: np.random.Generator | np.random.RandomState) -> np.ndarray:
        """Samples of V; ``-inf`` where a ReLU layer was entirely inactive (probability 1 − mass)."""
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        v = np.full(shape, self.c0)
        for a, mult in zip(self.gamma_a, self.gamma_m, strict=True):
            for _ in range(int(mult)):
                v += np.log(random_state.standard_gamma(a, size=shape))
        for n, mult, _, _ in self.relu:
            for _ in range(int(mult)):
                m = random_state.binomial(n, 0.5, size=shape)
                g = np.zeros(shape)
                pos = m > 0
                g[pos] = random_state.standard_gamma(m[pos] / 2.0)
                with np.errstate(divide="ignore"):
                    v += np.log(g)
        return v


class _ChebTable:
    """Piecewise Chebyshev interpolant of one of ``log p``, ``log F``, ``log S`` of a law.

    Used for large batches: the breakpoints are a lattice in the saddle-point
    variable ``t = log(w + a_min)`` (step 1), mapped to ``v = K'(w)``, so the
    intervals follow the local scale of the law (geometric in the left tail,
    shrinking in the right tail). On each interval the function is sampled at 25
    Chebyshev–Lobatto points by the direct contour integral; an interval whose
    last Chebyshev coefficients exceed the noise level of the samples is split.
    The interpolation error is therefore at the level of the direct evaluation
    (~1e-13 in the logarithm).
    """

    _N = 25
    _DT = 1.0

    def __init__(self, law: LogGammaSum, mode: int) -> None:
        self.law = law
        self.mode = mode
        self.lefts = np.empty(0)
        self.rights = np.empty(0)
        self.coef = np.empty((0, self._N))
        self.j_range: tuple[int, int] | None = None  # lattice indices covered
        self._nodes = np.cos(np.pi * np.arange(self._N) / (self._N - 1))

    def _lattice_v(self, j: np.ndarray) -> np.ndarray:
        law = self.law
        return law._real(-law.a_min, np.exp(j * self._DT), order=1)[1]

    def _fit(self, a: np.ndarray, b: np.ndarray, depth: int = 0) -> None:
        if a.size == 0:
            return
        xs = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * self._nodes[None, :]
        f = self.law._log_integral(xs.ravel(), self.mode).reshape(xs.shape)
        c = fft.dct(f, type=1, axis=1) / (self._N - 1)
        c[:, 0] *= 0.5
        c[:, -1] *= 0.5
        tol = 1e-13 + 1e-15 * np.max(np.abs(f), axis=1)
        ok = (np.max(np.abs(c[:, -3:]), axis=1) <= tol) | (depth >= 4)
        self.lefts = np.concatenate([self.lefts, a[ok]])
        self.rights = np.concatenate([self.rights, b[ok]])
        self.coef = np.concatenate([self.coef, c[ok]])
        mid = 0.5 * (a[~ok] + b[~ok])
        self._fit(np.concatenate([a[~ok], mid]), np.concatenate([mid, b[~ok]]), depth + 1)

    @_quiet
    def ensure(self, v_min: float, v_max: float) -> None:
        """Extend the table to cover [v_min, v_max] (clipped to the table's side of the mean)."""
        law = self.law
        mean = law.mean
        if self.mode == CDF:
            v_max = min(v_max, mean)
        elif self.mode == SF:
            v_min = max(v_min, mean)
        if v_min > v_max:
            return
        t = law._saddle(np.array([v_min, v_max]), PDF)
        j_lo = math.floor(t[0] / self._DT) - 1
        j_hi = math.ceil(t[1] / self._DT) + 1
        if self.j_range is not None:
            j_lo = min(j_lo, self.j_range[0])
            j_hi = max(j_hi, self.j_range[1])
            new = [j for j in range(j_lo, j_hi) if not self.j_range[0] <= j < self.j_range[1]]
        else:
            new = list(range(j_lo, j_hi))
        if not new:
            return
        self.j_range = (j_lo, j_hi)
        js = np.array(new, dtype=float)
        a = self._lattice_v(js)
        b = self._lattice_v(js + 1.0)
        # the CDF table lives left of the mean, the SF table right of it
        if self.mode == CDF:
            keep = a < mean
            a, b = a[keep], np.minimum(b[keep], mean)
        elif self.mode == SF:
            keep = b > mean
            a, b = np.maximum(a[keep], mean), b[keep]
        self._fit(a, b)
        order = np.argsort(self.lefts)
        self.lefts, self.rights, self.coef = self.lefts[order], self.rights[order], self.coef[order]

    def covered(self, v: np.ndarray) -> np.ndarray:
        if self.lefts.size == 0:
            return np.zeros(v.shape, dtype=bool)
        return (v >= self.lefts[0]) & (v <= self.rights[-1])

    def __call__(self, v: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.lefts, v, side="right") - 1, 0, self.lefts.size - 1)
        a, b = self.lefts[idx], self.rights[idx]
        x = (2.0 * v - a - b) / (b - a)
        c = self.coef[idx]
        b1 = np.zeros(v.shape)
        b2 = np.zeros(v.shape)
        x2 = 2.0 * x
        for j in range(self._N - 1, 0, -1):
            b1, b2 = x2 * b1 - b2 + c[:, j], b1
        return x * b1 - b2 + c[:, 0]


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """log(1 − e^a) for a <= 0, accurately."""
    a = np.minimum(np.asarray(a, dtype=float), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(a > -math.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))
