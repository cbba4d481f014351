"""The distribution objects returned by :func:`deepeft.output_distribution`.

Each is a :class:`scipy.stats.rv_continuous` *without shape parameters*: every
number describing the law lives in the instance, so the instance behaves like a
frozen scipy distribution (``pdf, logpdf, cdf, logcdf, sf, logsf, ppf, isf, rvs,
moment, stats, mean, var, std, median, interval, expect, support``). The private
methods are overridden for accuracy (tails, z → 0) and exactness (moments).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from .._combinatorics import cumulants_from_moments, moments_from_cumulants
from ._mellin import LogGammaSum
from ._special import lgamma_diff_real

__all__ = [
    "CoordinateLaw",
    "ExactLaw",
    "LogLaw",
    "NormSquaredLaw",
    "SphereCoordinateLaw",
    "SphereLogSquareLaw",
]

_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class LawSpec:
    """Everything a law needs; built by :func:`deepeft.output_distribution`."""

    kind: str
    family: str  # "meijer-g", "relu-mixture", "gaussian", "sphere-beta"
    network: Any = field(compare=False)
    x: np.ndarray = field(compare=False, repr=False)
    # Gaussian-weight laws: V = log(quantity) as a LogGammaSum, plus the hidden part
    law: LogGammaSum | None = field(default=None, compare=False, repr=False)
    hidden_c0: float = 0.0
    hidden_gamma: tuple[tuple[float, int], ...] = ()
    hidden_relu: tuple[tuple[int, int], ...] = ()
    # orthogonal laws
    radius: float = 0.0
    dim: int = 0


def _check_finite(x: object, what: str = "x", *, allow_inf: bool = False) -> np.ndarray:
    """``x`` as a float array; NaN (and ±inf unless ``allow_inf``) raise ``ValueError``."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"`{what}` must be a real number or an array of real numbers, got {x!r}."
        raise TypeError(msg) from exc
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if np.any(bad):
        allowed = "must not be NaN" if allow_inf else "must be finite (no NaN or inf)"
        msg = f"`{what}` (the point at which the law is evaluated) {allowed}; got {x!r}."
        raise ValueError(msg)
    return arr


class ExactLaw(stats.rv_continuous):
    """Base class: exact law of a one-input output statistic of a random network.

    Attributes
    ----------
    kind : str
        ``"coordinate"`` (one output coordinate z_i), ``"norm_squared"`` (the
        squared norm of the output vector), ``"log_norm_squared"`` or
        ``"log_coordinate_squared"``.
    family : str
        ``"meijer-g"`` (Gaussian weights, linear), ``"relu-mixture"`` (Gaussian
        weights, ReLU), ``"gaussian"`` (depth 1) or ``"sphere-beta"`` (Haar
        orthogonal weights).
    network : deepeft.Network
        The ensemble.
    x : ndarray, shape (n0,)
        The input.
    atom : float
        Probability of the point mass (at 0 for the coordinate and the squared
        norm of a ReLU network; 0 otherwise).
    exact : bool
        Always True.
    """

    exact = True

    def __init__(self, spec: LawSpec, *, a: float = -np.inf, b: float = np.inf) -> None:
        self._spec = spec
        super().__init__(a=a, b=b, name=f"deepeft_{spec.kind}", xtol=1e-14)

    def _updated_ctor_param(self) -> dict[str, Any]:
        return {"spec": self._spec}

    # ------------------------------------------------------------------ attributes
    @property
    def kind(self) -> str:
        return self._spec.kind

    @property
    def family(self) -> str:
        return self._spec.family

    @property
    def network(self) -> Any:
        return self._spec.network

    @property
    def x(self) -> np.ndarray:
        return self._spec.x

    @property
    def atom(self) -> float:
        return 0.0

    def __repr__(self) -> str:
        return f"<deepeft exact law: {self.kind} of {self.network!r} ({self.family})>"

    # ------------------------------------------------------------------ input checks
    # The public methods reject NaN with a clear message; pdf/logpdf also reject ±inf,
    # while the distribution functions accept ±inf (limits 0 and 1), as scipy's own
    # machinery (expect, interval) evaluates them there.
    def pdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """Density at ``x`` (of the continuous part when there is an atom)."""
        return super().pdf(_check_finite(x), *args, **kwds)

    def logpdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """Log of :meth:`pdf`."""
        return super().logpdf(_check_finite(x), *args, **kwds)

    def cdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """P(X <= x), atom included."""
        return super().cdf(_check_finite(x, allow_inf=True), *args, **kwds)

    def logcdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """log P(X <= x)."""
        return super().logcdf(_check_finite(x, allow_inf=True), *args, **kwds)

    def sf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """P(X > x), atom included."""
        return super().sf(_check_finite(x, allow_inf=True), *args, **kwds)

    def logsf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        """log P(X > x)."""
        return super().logsf(_check_finite(x, allow_inf=True), *args, **kwds)

    # ------------------------------------------------------------------ exact cumulants
    def cumulants(self, order: int = 4) -> np.ndarray:
        """Exact cumulants κ_1..κ_order of the law (atom included)."""
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            msg = f"`order` must be a positive integer, got {order!r}."
            raise ValueError(msg)
        moms = [float(self._munp(k)) for k in range(1, int(order) + 1)]
        return np.array(cumulants_from_moments(moms))

    # ------------------------------------------------------------------ perturbative comparison
    def gaussian_approximation(self) -> Any:
        """The Gaussian with the exact mean and variance (a frozen ``scipy.stats.norm``).

        For one output coordinate this is the infinite-width law N(0, G^(L)).
        """
        k = self.cumulants(2)
        return stats.norm(loc=float(k[0]), scale=math.sqrt(float(k[1])))

    def _edgeworth_terms(self) -> tuple[float, float, float, float]:
        k = self.cumulants(4)
        sd = math.sqrt(k[1])
        return float(k[0]), sd, float(k[2] / sd**3), float(k[3] / sd**4)

    def edgeworth_pdf(self, x: Any) -> np.ndarray:
        """First non-Gaussian correction to the density (Edgeworth series).

        ``φ(u)/σ · [1 + γ₁/6 He₃(u) + γ₂/24 He₄(u) + γ₁²/72 He₆(u)]`` with
        ``u = (x − μ)/σ`` and the *exact* standardized cumulants γ₁ = κ₃/σ³,
        γ₂ = κ₄/σ⁴. For one output coordinate γ₁ = 0 and γ₂ = 3(G₄/G₂² − 1), which
        for a deep linear net is ``3[Π_l (1 + 2/n_l) − 1] ≈ 6 (L−1)/n``: the 1/n
        correction of the effective theory. The same exact-κ₄ rule is used for the
        other ensembles: ReLU (atom included) has ``G₄/G₂² = Π_l (1 + 5/n_l)``, Haar
        orthogonal weights ``G₄/G₂² = n/(n+2)`` (γ₂ = −6/(n+2), at every depth). It is only useful while γ₂ is small
        (``L/n`` << 1): it goes negative at |u| = √3 once γ₂ > 4 (about
        ``L/n > 2/3``), and long before that its Gaussian tails are far too light
        compared with the exact stretched-exponential tails ``~exp(−c |z|^{2/L})``.
        """
        x = _check_finite(x)
        mu, sd, g1, g2 = self._edgeworth_terms()
        u = (x - mu) / sd
        he3 = u**3 - 3 * u
        he4 = u**4 - 6 * u**2 + 3
        he6 = u**6 - 15 * u**4 + 45 * u**2 - 15
        corr = 1.0 + g1 / 6 * he3 + g2 / 24 * he4 + g1**2 / 72 * he6
        return stats.norm.pdf(u) / sd * corr

    def edgeworth_cdf(self, x: Any) -> np.ndarray:
        """Cumulative distribution of the Edgeworth approximation (see :meth:`edgeworth_pdf`)."""
        x = _check_finite(x)
        mu, sd, g1, g2 = self._edgeworth_terms()
        u = (x - mu) / sd
        he2 = u**2 - 1
        he3 = u**3 - 3 * u
        he5 = u**5 - 10 * u**3 + 15 * u
        return stats.norm.cdf(u) - stats.norm.pdf(u) * (g1 / 6 * he2 + g2 / 24 * he3 + g1**2 / 72 * he5)

    def describe(self, quantiles: tuple[float, ...] = (0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999)) -> dict[str, Any]:
        """A JSON-friendly summary: moments, cumulants, quantiles, atom, approximations."""
        k = self.cumulants(4)
        q = np.asarray(quantiles, dtype=float)
        return {
            "kind": self.kind,
            "family": self.family,
            "network": self.network.describe(),
            "x": self.x.tolist(),
            "atom": self.atom,
            "mean": float(k[0]),
            "variance": float(k[1]),
            "std": math.sqrt(float(k[1])),
            "cumulants": [float(c) for c in k],
            "skewness": float(k[2] / k[1] ** 1.5),
            "excess_kurtosis": float(k[3] / k[1] ** 2),
            "quantiles": {f"{p:g}": float(v) for p, v in zip(q, np.atleast_1d(self.ppf(q)), strict=True)},
        }


# ---------------------------------------------------------------------------------------
# Gaussian weights: laws built on V = log(z²) or log|z|² (a LogGammaSum)
# ---------------------------------------------------------------------------------------
class _MellinMixin:
    """Shared pieces of the laws whose logarithm is a :class:`LogGammaSum`."""

    _spec: LawSpec

    @property
    def law(self) -> LogGammaSum:
        law = self._spec.law
        assert law is not None
        return law

    @property
    def atom(self) -> float:
        """P(output = 0): some hidden ReLU layer has no active unit (0 for linear nets).

        Equals ``1 − Π_{l<L} (1 − 2^{−n_l})``.
        """
        return 0.0 - math.expm1(self.law.log_mass)  # 0.0 - : no negative zero


def _expect_with_atom(law: ExactLaw, func: Any, args: tuple, loc: float, scale: float, lb: Any, ub: Any,
                      conditional: bool, kwds: dict[str, Any]) -> float:
    """E[func(X)] over [lb, ub]: the density integrated on each side of the point ``loc``
    (where the density of a ReLU law diverges and its atom sits), plus the atom."""
    from scipy import integrate

    fn = (lambda t: t) if func is None else (lambda t: func(t, *args))
    a, b = (loc + scale * e for e in law.support())
    lo = a if lb is None else max(lb, a)
    hi = b if ub is None else min(ub, b)
    cuts = [lo] + ([loc] if lo < loc < hi else []) + [hi]
    kwds = {"limit": 200, **kwds}
    val = 0.0
    for left, right in itertools.pairwise(cuts):
        if right > left:
            val += integrate.quad(lambda t: fn(t) * float(law.pdf(t, loc=loc, scale=scale)), left, right, **kwds)[0]
    atom = law.atom
    if atom > 0 and lo <= loc <= hi:
        val += atom * fn(loc)
    if conditional:
        prob = float(law.cdf(hi, loc=loc, scale=scale) - law.cdf(lo, loc=loc, scale=scale))
        if atom > 0 and lo == loc:
            prob += atom
        val /= prob
    return float(val)


class _LogCdfPairMixin:
    """cdf, sf and their logs from one ``_log_cdf_pair(x) -> (log F, log S)`` evaluation.

    The class it is mixed into defines ``_log_cdf_pair``.
    """

    _log_cdf_pair: Any

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._log_cdf_pair(x)[0])

    def _sf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._log_cdf_pair(x)[1])

    def _logcdf(self, x: np.ndarray) -> np.ndarray:
        return self._log_cdf_pair(x)[0]

    def _logsf(self, x: np.ndarray) -> np.ndarray:
        return self._log_cdf_pair(x)[1]


class CoordinateLaw(_LogCdfPairMixin, _MellinMixin, ExactLaw):
    """Exact law of one output coordinate ``z_i^(L)`` of a Gaussian-weight network.

    ``z = sqrt(Ĝ^(L)) g`` with ``g ~ N(0, 1)`` and ``Ĝ^(L)`` a product of
    independent scaled χ² variables (linear) or binomial mixtures of them (ReLU):
    a Meijer-G law (linear) or a mixture of Meijer-G laws plus a point mass at 0
    (ReLU). Evaluated by Mellin–Barnes inversion of ``log z²`` (THEORY.md §2.1).

    ``pdf(0)`` is finite when every hidden layer has width >= 2 (linear nets) and
    ``inf`` otherwise (log-divergent: a hidden width 1, or any ReLU net with L >= 2).
    It is computed in log space (``logpdf(0)`` is exact at any depth; ``pdf(0)`` may
    overflow to ``inf`` or underflow to 0 as a float in very deep nets).
    """

    def __init__(self, spec: LawSpec) -> None:
        super().__init__(spec)

    def _logpdf_at_zero(self) -> float:
        """log p(0) = log E[(2π Ĝ)^{-1/2}], in log space (it under/overflows at depth)."""
        s = self._spec
        terms = [-0.5 * s.hidden_c0, -0.5 * math.log(2.0 * math.pi)]
        for a, mult in s.hidden_gamma:
            if a <= 0.5:
                return math.inf
            log_e = float(lgamma_diff_real(np.array([a]), np.array([-0.5]))[0])  # log E[Y^{-1/2}], Y ~ Gamma(a)
            terms.append(mult * log_e)
        if s.hidden_relu:
            return math.inf
        return math.fsum(terms)

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.empty(x.shape)
        zero = x == 0
        nz = ~zero
        if np.any(nz):
            ax = np.abs(x[nz])
            out[nz] = self.law.logpdf(2.0 * np.log(ax)) - np.log(ax)
        if np.any(zero):
            out[zero] = self._logpdf_at_zero()
        return out

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):  # pdf(0) of a deep net: 0 or inf as a float
            return np.exp(self._logpdf(x))

    def _log_cdf_pair(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log cdf, log sf) at x."""
        x = np.asarray(x, dtype=float)
        lc = np.empty(x.shape)
        ls = np.empty(x.shape)
        zero = x == 0
        nz = ~zero
        if np.any(nz):
            v = 2.0 * np.log(np.abs(x[nz]))
            _lf_v, ls_v = self.law.log_cdf_sf(v)
            # P(|z| > t) = S_v, P(0 < |z| <= t) = F_v; each side carries half
            small = ls_v - _LOG2  # log P(z > t) for t > 0, log P(z <= t) for t < 0
            big = np.log1p(-0.5 * np.exp(ls_v))  # the complement
            neg = x[nz] < 0
            lc[nz] = np.where(neg, small, big)
            ls[nz] = np.where(neg, big, small)
        if np.any(zero):
            lc[zero] = math.log1p(self.atom) - _LOG2
            ls[zero] = math.log1p(-self.atom) - _LOG2
        return lc, ls

    def _quantile_abs(self, p: np.ndarray) -> np.ndarray:
        """t > 0 with P(z > t) = p, for 0 < p < (1 − atom)/2."""
        law = self.law
        target = 2.0 * p  # S_v(v) = 2p
        mass = law.mass
        upper = target < 0.5 * mass
        log_target = np.where(upper, np.log(target), np.log(np.maximum(mass - target, 1e-300)))
        v = law.ppf(log_target, upper)
        return np.exp(0.5 * v)

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        out = np.zeros(q.shape)
        half = 0.5 * (1.0 - self.atom)
        lower = q < half
        upper = q > 1.0 - half
        if np.any(lower):
            out[lower] = -self._quantile_abs(q[lower])
        if np.any(upper):
            out[upper] = self._quantile_abs(1.0 - q[upper])
        return out

    def _isf(self, q: np.ndarray) -> np.ndarray:
        return -self._ppf(q)

    def _munp(self, n: int) -> float:
        n = int(n)
        if n % 2:
            return 0.0
        with np.errstate(over="ignore"):
            return float(np.exp(self.law.cgf(n / 2)))

    def _stats(self) -> tuple[float, float, float, float]:
        k1, k2 = (float(c) for c in self.law.cgf(np.array([1.0, 2.0])))
        with np.errstate(over="ignore"):  # deep narrow nets: the kurtosis overflows to inf
            return 0.0, float(np.exp(k1)), 0.0, float(np.exp(k2 - 2 * k1)) - 3.0

    def cumulants(self, order: int = 4) -> np.ndarray:
        """Exact cumulants κ_1..κ_order (odd ones vanish; κ₄ = 3(G₄ − G₂²))."""
        return super().cumulants(order)

    def expect(self, func: Any = None, args: tuple = (), loc: float = 0, scale: float = 1, lb: Any = None,
               ub: Any = None, conditional: bool = False, **kwds: Any) -> float:
        """E[func(X)], the point mass at 0 (ReLU) included; see ``scipy.stats.rv_continuous.expect``."""
        return _expect_with_atom(self, func, args, loc, scale, lb, ub, conditional, kwds)

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        v = self.law.rvs(size, random_state)
        sign = np.where(random_state.random(np.shape(v)) < 0.5, -1.0, 1.0)
        return sign * np.exp(0.5 * v)


class NormSquaredLaw(_LogCdfPairMixin, _MellinMixin, ExactLaw):
    """Exact law of the squared norm ``|z^(L)|²`` of the output vector (Gaussian weights).

    ``|z|² = Ĝ^(L) χ²_{n_L}``; for ReLU nets it has a point mass at 0 (:attr:`atom`).
    """

    def __init__(self, spec: LawSpec) -> None:
        super().__init__(spec, a=0.0)

    def _logpdf_at_zero(self) -> float:
        """log p(0), in log space (it under/overflows at depth)."""
        law = self.law
        if law.a_min < 1.0:
            return math.inf
        if law.a_min > 1.0:
            return -math.inf
        if law.pole_order > 1:
            return math.inf
        # one Exp(1) factor, all others Gamma(a > 1): p(0) = e^{−c0} Π E[Y^{-1}], E[Y^{-1}] = 1/(a − 1)
        terms = [-law.c0]
        for a, mult in zip(law.gamma_a, law.gamma_m, strict=True):
            if a == 1.0:
                continue
            terms.append(-mult * math.log(a - 1.0))
        return math.fsum(terms)

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.empty(x.shape)
        pos = x > 0
        if np.any(pos):
            lx = np.log(x[pos])
            out[pos] = self.law.logpdf(lx) - lx
        if np.any(~pos):
            out[~pos] = self._logpdf_at_zero()
        return out

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):  # pdf(0) of a deep net: 0 or inf as a float
            return np.exp(self._logpdf(x))

    def _log_cdf_pair(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        lc = np.full(x.shape, math.log(self.atom) if self.atom > 0 else -np.inf)
        ls = np.full(x.shape, float(self.law.log_mass))
        pos = x > 0
        if np.any(pos):
            lf_v, ls_v = self.law.log_cdf_sf(np.log(x[pos]))
            lc[pos] = np.logaddexp(lc[pos], lf_v)
            ls[pos] = ls_v
        return lc, ls

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        out = np.zeros(q.shape)
        law = self.law
        cont = q > self.atom
        if np.any(cont):
            qc = q[cont] - self.atom  # F_v target of the defective law
            sc = 1.0 - q[cont]  # S_v target
            upper = sc < qc
            log_target = np.where(upper, np.log(np.maximum(sc, 1e-300)), np.log(np.maximum(qc, 1e-300)))
            out[cont] = np.exp(law.ppf(log_target, upper))
        return out

    def _isf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        out = np.zeros(q.shape)
        law = self.law
        cont = q < law.mass
        if np.any(cont):
            sc = q[cont]
            qc = law.mass - sc
            upper = sc < qc
            log_target = np.where(upper, np.log(np.maximum(sc, 1e-300)), np.log(np.maximum(qc, 1e-300)))
            out[cont] = np.exp(law.ppf(log_target, upper))
        return out

    def _munp(self, n: int) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(self.law.cgf(float(n))))

    def expect(self, func: Any = None, args: tuple = (), loc: float = 0, scale: float = 1, lb: Any = None,
               ub: Any = None, conditional: bool = False, **kwds: Any) -> float:
        """E[func(X)], the point mass at 0 (ReLU) included; see ``scipy.stats.rv_continuous.expect``."""
        return _expect_with_atom(self, func, args, loc, scale, lb, ub, conditional, kwds)

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        return np.exp(self.law.rvs(size, random_state))


class LogLaw(_MellinMixin, ExactLaw):
    """Exact law of ``log z_i²`` or ``log |z|²`` (Gaussian weights).

    A sum of independent log-Gamma variables with exact cumulants
    ``κ_1 = c0 + Σ ψ(a)``, ``κ_m = Σ ψ^{(m−1)}(a)`` (THEORY.md §1.4). For a ReLU
    network this is the law *given that the output is nonzero* (the event
    ``z = 0``, of probability :attr:`p_zero`, is excluded), so :attr:`atom` is 0.
    """

    def __init__(self, spec: LawSpec) -> None:
        super().__init__(spec)

    @property
    def atom(self) -> float:
        return 0.0

    @property
    def p_zero(self) -> float:
        """Probability of the excluded event "output exactly 0" (ReLU nets; else 0)."""
        return 0.0 - math.expm1(self.law.log_mass)  # 0.0 - : no negative zero

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        return self.law.logpdf(np.asarray(x, dtype=float)) - self.law.log_mass

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logpdf(x))

    def _logcdf(self, x: np.ndarray) -> np.ndarray:
        return self.law.log_cdf_sf(np.asarray(x, dtype=float))[0] - self.law.log_mass

    def _logsf(self, x: np.ndarray) -> np.ndarray:
        return self.law.log_cdf_sf(np.asarray(x, dtype=float))[1] - self.law.log_mass

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logcdf(x))

    def _sf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logsf(x))

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        upper = q > 0.5
        log_target = np.where(upper, np.log1p(-q), np.log(q)) + self.law.log_mass
        return self.law.ppf(log_target, upper)

    def _isf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        upper = q < 0.5
        log_target = np.where(upper, np.log(q), np.log1p(-q)) + self.law.log_mass
        return self.law.ppf(log_target, upper)

    def cumulants(self, order: int = 4) -> np.ndarray:
        """Exact cumulants κ_1..κ_order (THEORY.md §1.4; ReLU laws: order <= 4)."""
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            msg = f"`order` must be a positive integer, got {order!r}."
            raise ValueError(msg)
        return self.law.cumulants(int(order))

    def _stats(self) -> tuple[float, float, float, float]:
        k = self.law.cumulants(4)
        return float(k[0]), float(k[1]), float(k[2] / k[1] ** 1.5), float(k[3] / k[1] ** 2)

    def _munp(self, n: int) -> float:
        n = int(n)
        return 1.0 if n == 0 else float(moments_from_cumulants(list(self.law.cumulants(n)))[-1])

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        v = self.law.rvs(size, random_state)
        bad = ~np.isfinite(v)
        while np.any(bad):  # condition on a nonzero output (ReLU): redraw
            v[bad] = self.law.rvs(int(np.sum(bad)), random_state)
            bad = ~np.isfinite(v)
        return v


# ---------------------------------------------------------------------------------------
# Haar-orthogonal weights: uniform on the sphere of radius R in R^n
# ---------------------------------------------------------------------------------------
class SphereCoordinateLaw(ExactLaw):
    """One coordinate of a uniform point on the sphere of radius R in R^n.

    The output of a bias-free linear network with Haar-orthogonal square layers
    (THEORY.md §2.2): ``(z/R + 1)/2 ~ Beta((n−1)/2, (n−1)/2)``, density
    ``(1 − z²/R²)^((n−3)/2) / (R B(½, (n−1)/2))`` on ``(−R, R)`` and 0 outside.
    """

    def __init__(self, spec: LawSpec) -> None:
        super().__init__(spec, a=-spec.radius, b=spec.radius)
        self._alpha = 0.5 * (spec.dim - 1)
        self._lognorm = math.log(spec.radius) + special.betaln(0.5, self._alpha)

    @property
    def radius(self) -> float:
        return self._spec.radius

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        r = self._spec.radius
        ax = np.abs(np.asarray(x, dtype=float))
        inside = ax < r
        out = np.empty(ax.shape)
        with np.errstate(divide="ignore"):
            log1m = np.log(r - ax[inside]) + np.log(r + ax[inside]) - 2.0 * math.log(r)
        out[inside] = (self._alpha - 1.0) * log1m - self._lognorm
        edge = ~inside
        if np.any(edge):
            if self._alpha < 1.0:
                out[edge] = np.inf
            elif self._alpha == 1.0:
                out[edge] = -self._lognorm
            else:
                out[edge] = -np.inf
        return out

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logpdf(x))

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        r = self._spec.radius
        x = np.asarray(x, dtype=float)
        lower = special.betainc(self._alpha, self._alpha, np.clip((r + x) / (2 * r), 0, 1))
        upper = special.betainc(self._alpha, self._alpha, np.clip((r - x) / (2 * r), 0, 1))
        return np.where(x <= 0, lower, 1.0 - upper)

    def _sf(self, x: np.ndarray) -> np.ndarray:
        return self._cdf(-np.asarray(x, dtype=float))

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        r = self._spec.radius
        q = np.asarray(q, dtype=float)
        lo = special.betaincinv(self._alpha, self._alpha, np.minimum(q, 0.5))
        hi = special.betaincinv(self._alpha, self._alpha, np.minimum(1.0 - q, 0.5))
        return np.where(q <= 0.5, r * (2.0 * lo - 1.0), r * (1.0 - 2.0 * hi))

    def _isf(self, q: np.ndarray) -> np.ndarray:
        return -self._ppf(q)

    def _munp(self, n: int) -> float:
        n = int(n)
        if n % 2:
            return 0.0
        m = n // 2
        # E z^{2m} = (2m−1)!! R^{2m} / Π_{s<m} (n + 2s)
        val = 1.0
        for s in range(m):
            val *= (2 * s + 1) / (self._spec.dim + 2 * s)
        return val * self._spec.radius ** (2 * m)

    def _stats(self) -> tuple[float, float, float, float]:
        m2 = self._munp(2)
        m4 = self._munp(4)
        return 0.0, m2, 0.0, m4 / m2**2 - 3.0

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        b = random_state.beta(self._alpha, self._alpha, size=size)
        return self._spec.radius * (2.0 * b - 1.0)


class SphereLogSquareLaw(ExactLaw):
    """``log z_i²`` for a uniform point on the sphere of radius R in R^n.

    ``z²/R² ~ Beta(½, (n−1)/2)``, so ``log z² = 2 log R + log B`` on ``(−∞, 2 log R)``.
    """

    def __init__(self, spec: LawSpec) -> None:
        top = 2.0 * math.log(spec.radius)
        super().__init__(spec, b=top)
        self._alpha = 0.5 * (spec.dim - 1)
        self._top = top

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=float) - self._top
        with np.errstate(divide="ignore"):
            out = 0.5 * y + (self._alpha - 1.0) * np.log(-np.expm1(y)) - special.betaln(0.5, self._alpha)
        if self._alpha == 1.0:
            out = np.where(y == 0, 0.5 * y - special.betaln(0.5, self._alpha), out)
        return out

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logpdf(x))

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=float) - self._top
        b = np.exp(y)
        lower = special.betainc(0.5, self._alpha, b)
        upper = special.betainc(self._alpha, 0.5, -np.expm1(y))  # P(B > b), accurate for b → 1
        return np.where(b < 0.5, lower, 1.0 - upper)

    def _sf(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=float) - self._top
        b = np.exp(y)
        lower = special.betainc(0.5, self._alpha, b)
        upper = special.betainc(self._alpha, 0.5, -np.expm1(y))
        return np.where(b < 0.5, 1.0 - lower, upper)

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        b = special.betaincinv(0.5, self._alpha, q)
        return self._top + np.log(b)

    def cumulants(self, order: int = 4) -> np.ndarray:
        """Exact cumulants: ``κ_m = ψ^{(m−1)}(½) − ψ^{(m−1)}(n/2)`` (+ 2 log R for m = 1)."""
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            msg = f"`order` must be a positive integer, got {order!r}."
            raise ValueError(msg)
        n2 = 0.5 + self._alpha
        out = np.array([special.polygamma(m, 0.5) - special.polygamma(m, n2) for m in range(int(order))])
        out[0] += self._top
        return out

    def _stats(self) -> tuple[float, float, float, float]:
        k = self.cumulants(4)
        return float(k[0]), float(k[1]), float(k[2] / k[1] ** 1.5), float(k[3] / k[1] ** 2)

    def _munp(self, n: int) -> float:
        n = int(n)
        return 1.0 if n == 0 else float(moments_from_cumulants(list(self.cumulants(n)))[-1])

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        return self._top + np.log(random_state.beta(0.5, self._alpha, size=size))
