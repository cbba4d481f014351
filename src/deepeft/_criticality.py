"""Criticality: susceptibilities, critical initialisations, universality classes, depth scaling.

Roberts & Yaida, *The Principles of Deep Learning Theory* (arXiv:2106.10165),
ch. 5; ``THEORY.md`` §3.3–§3.4. For one input the kernel obeys
``K ↦ C_b + C_W ⟨σ²⟩_K``; perturbations of the diagonal and of input
differences grow per layer by the *parallel* and *perpendicular
susceptibilities*

    χ∥(K) = C_W d⟨σ²⟩_K/dK,        χ⊥(K) = C_W ⟨σ'²⟩_K.

An initialisation ``(C_b, C_W)`` is *critical* when the kernel has a fixed
point ``K*`` with ``χ∥(K*) = χ⊥(K*) = 1``. The activations fall into
universality classes:

* **scale-invariant** (σ = a₊z₊ + a₋z₋: linear, ReLU, leaky ReLU): ``C_b = 0``,
  ``C_W = 1/A₂`` with ``A₂ = (a₊² + a₋²)/2``; every K is a fixed point and
  ``V/K² = κ(ℓ − 1)``, ``κ = 3A₄/A₂² − 1``;
* **K* = 0** (σ(0) = 0, σ'(0) = σ₁ ≠ 0, a₁ < 0: tanh, sin, erf): ``C_b = 0``,
  ``C_W = 1/σ₁²``; ``K ≈ 1/(−a₁ℓ)``, ``V/K² ≈ (2/3)ℓ``;
* **general**: a fixed point ``K* > 0`` found numerically (GELU, SiLU).

Main entry points: :func:`criticality`, :func:`susceptibilities`,
:func:`phase_diagram`, :func:`depth_scaling` and :func:`plot_depth_scaling`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from . import gaussian
from .activations import Activation, get as _get_activation

__all__ = [
    "UNIVERSALITY_CLASSES",
    "ConvergenceError",
    "CriticalPoint",
    "DepthScaling",
    "NoCriticalPointError",
    "PhaseDiagram",
    "criticality",
    "depth_scaling",
    "fixed_point",
    "phase_diagram",
    "plot_depth_scaling",
    "susceptibilities",
]

#: The values of :attr:`CriticalPoint.universality_class`.
UNIVERSALITY_CLASSES: tuple[str, ...] = ("scale-invariant", "K*=0", "general")

#: Relative tolerance of the fixed-point root polish (scipy's brentq needs rtol >= 4 eps).
_BRENT_RTOL = 4 * float(np.finfo(float).eps)
#: Kernels above this count as escaping to infinity.
_K_MAX = 1e12


class ConvergenceError(ValueError):
    """A fixed-point or root search did not converge.

    Attributes
    ----------
    partial : object
        The best result reached before giving up (documented where raised).
    """

    def __init__(self, message: str, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial


class NoCriticalPointError(ValueError):
    """The activation has no critical initialisation (χ∥ = χ⊥ = 1 at a fixed point)."""


# ------------------------------------------------------------------ helpers
def _activation(activation: object) -> Activation:
    return _get_activation(activation)  # type: ignore[arg-type]


def _real(name: str, value: object, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        msg = f"`{name}` must be a real number, got {value!r}."
        raise TypeError(msg)
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
        bound = " > 0" if positive else (" >= 0" if nonneg else "")
        msg = f"`{name}` must be finite{bound}, got {value!r}."
        raise ValueError(msg)
    return v


def _taylor_at_zero(act: Activation) -> tuple[float, float, float, float]:
    """σ(0), σ'(0), σ''(0), σ'''(0): exact for the closed-form families, else differences of σ'."""
    if act.family == "erf":
        c = 2 / math.sqrt(math.pi)
        return 0.0, c, 0.0, -2 * c
    if act.family == "sin":
        return 0.0, 1.0, 0.0, -1.0
    if act.name == "tanh" and act.fn is np.tanh:
        return 0.0, 1.0, 0.0, -2.0
    s0 = float(np.asarray(act.fn(np.zeros(1)), dtype=float)[0])

    def d1(h: float) -> tuple[float, float, float]:
        v = act.prime(np.array([-h, 0.0, h]))
        return float(v[0]), float(v[1]), float(v[2])

    # Richardson-extrapolated central differences of σ'
    h = 1e-2
    m1, p0, q1 = d1(h)
    m2, _, q2 = d1(h / 2)
    s2 = (4 * (q2 - m2) / h - (q1 - m1) / (2 * h)) / 3
    s3 = (4 * (q2 - 2 * p0 + m2) / (h / 2) ** 2 - (q1 - 2 * p0 + m1) / h**2) / 3
    return s0, p0, s2, s3


def _single(act: Activation, K: np.ndarray) -> dict[str, np.ndarray]:
    return gaussian.single_input(act, np.asarray(K, dtype=float))


# ------------------------------------------------------------ susceptibilities
def susceptibilities(activation: object, cb: float, cw: float, K: object = None) -> tuple[Any, Any]:
    """Parallel and perpendicular susceptibilities ``(χ∥, χ⊥)``.

    Parameters
    ----------
    activation : str, Activation or callable
        σ.
    cb : float
        ``C_b >= 0``; only used to find the fixed point when ``K`` is omitted.
    cw : float
        ``C_W > 0``.
    K : float or array_like, optional
        Single-input kernel(s) at which to evaluate. Default: the fixed point
        ``K*`` of ``K ↦ C_b + C_W ⟨σ²⟩_K`` reached from ``K = 1``.

    Returns
    -------
    (chi_parallel, chi_perp)
        ``χ∥ = C_W d⟨σ²⟩/dK`` and ``χ⊥ = C_W ⟨σ'²⟩`` (floats, or arrays shaped
        like ``K``).

    Raises
    ------
    ConvergenceError
        When ``K`` is omitted and the kernel has no attracting fixed point
        (it grows without bound); ``partial`` holds the last kernel value.

    Examples
    --------
    >>> from deepeft import susceptibilities
    >>> susceptibilities("relu", 0.0, 2.0, 1.0)
    (1.0, 1.0)
    """
    act = _activation(activation)
    cb = _real("cb", cb, nonneg=True)
    cw = _real("cw", cw, positive=True)
    if K is None:
        K = fixed_point(act, cb, cw)
    arr = np.asarray(K, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        msg = f"`K` must be finite and >= 0, got {K!r}."
        raise ValueError(msg)
    r = _single(act, arr)
    chi_par, chi_perp = cw * r["ds2"], cw * r["sp2"]
    if arr.ndim == 0:
        return float(chi_par), float(chi_perp)
    return chi_par, chi_perp


def fixed_point(activation: object, cb: float, cw: float, K0: float = 1.0, *, max_iter: int = 2000) -> float:
    """The attracting fixed point of ``K ↦ C_b + C_W ⟨σ²⟩_K`` reached from ``K0``.

    Iterates the map, then polishes by root finding (slow, power-law
    approaches such as K* = 0 are detected from the sign of the map). A fixed
    point where the map only touches the diagonal (χ∥ = 1, e.g. GELU's
    critical K*, which attracts only from above) is found as the maximum of
    the map minus the identity, polished where χ∥ = 1.

    Raises
    ------
    ConvergenceError
        If the kernel grows without bound; ``partial`` is the last value.
    """
    act = _activation(activation)
    cb = _real("cb", cb, nonneg=True)
    cw = _real("cw", cw, positive=True)
    K0 = _real("K0", K0, nonneg=True)

    def step(k: float) -> float:
        return float(cb + cw * _single(act, np.array(k))["s2"])

    k = K0
    for _ in range(max_iter):
        new = step(k)
        if not math.isfinite(new) or new > _K_MAX:
            msg = (
                f"the kernel of {act.name!r} at (C_b, C_W) = ({cb:g}, {cw:g}) grows without bound "
                f"from K = {K0:g} (no attracting fixed point)."
            )
            raise ConvergenceError(msg, partial=k)
        if abs(new - k) <= 1e-14 * max(abs(k), 1e-300):
            return new
        k = new
    # slow approach: bracket the root the iteration is heading to

    def f(t: float) -> float:
        return step(t) - t

    def unbounded() -> ConvergenceError:
        msg = (
            f"the kernel of {act.name!r} at (C_b, C_W) = ({cb:g}, {cw:g}) grows without bound "
            f"from K = {K0:g} (no attracting fixed point below {_K_MAX:g}; K = {k:g} after {max_iter} layers)."
        )
        return ConvergenceError(msg, partial=k)

    def root(a: float, b: float) -> float:
        try:
            return float(optimize.brentq(f, a, b, xtol=1e-300, rtol=_BRENT_RTOL))
        except (RuntimeError, ValueError) as exc:  # pragma: no cover - brentq on a valid bracket
            msg = f"root search for the fixed point of {act.name!r} failed in [{a:g}, {b:g}]: {exc}"
            raise ConvergenceError(msg, partial=k) from exc

    def touching(a: float, b: float) -> float | None:
        """A point in (a, b) where the map touches the diagonal (f <= 0 around a zero of f)."""
        if not b > a:
            return None
        best = optimize.minimize_scalar(lambda t: -f(t), bounds=(a, b), method="bounded",
                                        options={"xatol": 1e-13 * b})
        t = float(best.x)
        if not (a < t < b) or f(t) < -1e-11 * max(1.0, t):
            return None
        # polish where χ∥ = C_W d⟨σ²⟩/dK = 1: the map's slope is 1 at a touching point
        width = 1e-6 * t

        def slope(u: float) -> float:
            return float(cw * _single(act, np.array(u))["ds2"]) - 1.0

        lo_t, hi_t = t - width, t + width
        if lo_t > a and hi_t < b and slope(lo_t) * slope(hi_t) < 0:
            t = float(optimize.brentq(slope, lo_t, hi_t, xtol=1e-300, rtol=_BRENT_RTOL))
        return t

    fk = f(k)
    if fk == 0:
        return k
    if fk < 0:  # decreasing towards the largest zero of f below k (or 0)
        lo = k
        while lo > 1e-300:
            lo /= 4
            if f(lo) >= 0:
                r = root(lo, k)
                # the iteration stops at the largest zero below k: a touching point (χ∥ = 1, e.g.
                # GELU's critical K*) above the simple root r is reached first
                t = touching(r, k)
                return r if t is None else t
        return 0.0
    hi = k
    while hi < _K_MAX:
        hi = min(2 * hi, _K_MAX) if hi > 0 else 1.0
        fh = f(hi)
        if not math.isfinite(fh):
            break
        if fh <= 0:
            return root(k, hi)
    raise unbounded()


# ---------------------------------------------------------------- critical point
@dataclass(frozen=True)
class CriticalPoint:
    """The critical initialisation of an activation.

    Attributes
    ----------
    activation : str
        Name of σ.
    cb, cw : float
        Critical ``C_b`` and ``C_W``.
    fixed_point : float or None
        ``K*``; ``None`` for the scale-invariant class, where every ``K`` is a
        fixed point.
    chi_parallel, chi_perp : float
        Susceptibilities at ``K*`` (the limit ``K → 0`` for the K* = 0 class).
    universality_class : str
        ``"scale-invariant"``, ``"K*=0"`` or ``"general"``.
    a1 : float or None
        ``a₁ = σ₃/σ₁ + (3/4)(σ₂/σ₁)²`` (K* = 0 class), with σ_p = σ^(p)(0).
    kappa : float or None
        ``κ = C_W²(⟨σ⁴⟩ − ⟨σ²⟩²)/K²`` at the fixed point, so that
        ``V/K² = κ(ℓ − 1)`` when ``K^(1) = K*``: ``3A₄/A₂² − 1`` for the
        scale-invariant class (any K), numerical for the general class; None
        for K* = 0.
    other_fixed_points : tuple of float
        Further critical ``K*`` found by the general search (empty otherwise).
    notes : str
        How the point was found.
    """

    activation: str
    cb: float
    cw: float
    fixed_point: float | None
    chi_parallel: float
    chi_perp: float
    universality_class: str
    a1: float | None = None
    kappa: float | None = None
    other_fixed_points: tuple[float, ...] = field(default=())
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        d = asdict(self)
        d["other_fixed_points"] = list(self.other_fixed_points)
        return d

    def __str__(self) -> str:
        kstar = "any K (line of fixed points)" if self.fixed_point is None else f"{self.fixed_point:.10g}"
        extra = ""
        if self.a1 is not None:
            extra = f", a1 = {self.a1:.6g}"
        if self.kappa is not None:
            extra = f", kappa = {self.kappa:.6g}"
        return (
            f"{self.activation}: critical (C_b, C_W) = ({self.cb:.10g}, {self.cw:.10g}), K* = {kstar}, "
            f"chi_par = {self.chi_parallel:.6g}, chi_perp = {self.chi_perp:.6g}, "
            f"class {self.universality_class}{extra}"
        )


def criticality(activation: object, *, k_min: float = 1e-4, k_max: float = 1e4) -> CriticalPoint:
    """The critical initialisation ``(C_b, C_W)`` of an activation and its universality class.

    Parameters
    ----------
    activation : str, Activation or callable
        σ.
    k_min, k_max : float
        Range of ``K*`` scanned for a general (``K* > 0``) critical point.

    Returns
    -------
    CriticalPoint

    Raises
    ------
    NoCriticalPointError
        If σ is neither scale-invariant nor in the K* = 0 class and no ``K*``
        in ``[k_min, k_max]`` has ``χ∥ = χ⊥`` with ``C_b >= 0``.
    ConvergenceError
        If the root search for ``K*`` fails; ``partial`` is the bracketing
        interval.

    Notes
    -----
    General class: ``χ⊥(K*) = 1`` fixes ``C_W = 1/⟨σ'²⟩_{K*}``, ``χ∥ = χ⊥``
    means ``d⟨σ²⟩/dK = ⟨σ'²⟩`` at ``K*`` (a 1-d root), and the fixed-point
    condition gives ``C_b = K* − C_W ⟨σ²⟩_{K*}``, which must be ``>= 0``.

    Examples
    --------
    >>> from deepeft import criticality
    >>> cp = criticality("tanh")
    >>> (cp.cb, cp.cw, cp.fixed_point, cp.universality_class)
    (0.0, 1.0, 0.0, 'K*=0')
    """
    act = _activation(activation)
    k_min = _real("k_min", k_min, positive=True)
    k_max = _real("k_max", k_max, positive=True)
    if k_max <= k_min:
        msg = f"`k_max` must exceed `k_min`, got k_min={k_min:g}, k_max={k_max:g}."
        raise ValueError(msg)
    if act.is_homogeneous:
        ap, am = act.slopes  # type: ignore[misc]
        A2 = (ap * ap + am * am) / 2
        A4 = (ap**4 + am**4) / 2
        return CriticalPoint(
            act.name, 0.0, 1.0 / A2, None, 1.0, 1.0, "scale-invariant", kappa=3 * A4 / A2**2 - 1,
            notes="C_b = 0, C_W = 1/A2 with A2 = (a+^2 + a-^2)/2; chi_par = chi_perp = 1 for every K.",
        )
    s0, s1, s2, s3 = _taylor_at_zero(act)
    scale = max(1.0, abs(s1))
    if abs(s0) <= 1e-12 * scale and abs(s1) > 1e-8:
        a1 = s3 / s1 + 0.75 * (s2 / s1) ** 2
        if a1 < 0:
            return CriticalPoint(
                act.name, 0.0, 1.0 / s1**2, 0.0, 1.0, 1.0, "K*=0", a1=a1,
                notes="sigma(0) = 0, C_W = 1/sigma'(0)^2; chi_par = 1 + 2 a1 K, chi_perp = 1 + a1 K "
                "as K -> 0 (power-law approach to the fixed point).",
            )
    # general class: roots of d<σ²>/dK − <σ'²> on a log grid
    grid = np.geomspace(k_min, k_max, 241)
    r = _single(act, grid)
    g = r["ds2"] - r["sp2"]
    roots: list[float] = []
    for i in np.nonzero(np.sign(g[:-1]) * np.sign(g[1:]) <= 0)[0]:
        lo, hi = grid[i], grid[i + 1]
        if g[i] == 0:
            roots.append(float(lo))
            continue
        if g[i + 1] == 0:
            continue

        def h(k: float) -> float:
            rr = _single(act, np.array(k))
            return float(rr["ds2"] - rr["sp2"])

        try:
            root, info = optimize.brentq(h, lo, hi, xtol=1e-14, rtol=1e-13, full_output=True)
        except (RuntimeError, ValueError) as exc:  # pragma: no cover - brentq on a valid bracket
            msg = f"root search for K* of {act.name!r} failed in [{lo:g}, {hi:g}]: {exc}"
            raise ConvergenceError(msg, partial=(float(lo), float(hi))) from exc
        if not info.converged:  # pragma: no cover
            msg = f"root search for K* of {act.name!r} did not converge in [{lo:g}, {hi:g}]."
            raise ConvergenceError(msg, partial=(float(lo), float(hi)))
        roots.append(float(root))
    valid = []
    for k in roots:
        rr = _single(act, np.array(k))
        cw = 1.0 / float(rr["sp2"])
        cb = k - cw * float(rr["s2"])
        if cb >= -1e-12 * max(1.0, k):
            valid.append((k, max(cb, 0.0), cw))
    if not valid:
        why = (
            f"sigma(0) = {s0:.4g}" if abs(s0) > 1e-12 * scale else f"a1 = {s3 / s1 + 0.75 * (s2 / s1) ** 2:.4g} >= 0"
        ) if abs(s1) > 1e-8 else "sigma'(0) = 0"
        msg = (
            f"activation {act.name!r} has no critical initialisation: it is not scale-invariant, "
            f"not in the K*=0 class ({why}), and no K* in [{k_min:g}, {k_max:g}] has "
            "chi_par = chi_perp = 1 at a fixed point with C_b >= 0."
        )
        raise NoCriticalPointError(msg)
    k, cb, cw = valid[0]
    chi_par, chi_perp = susceptibilities(act, cb, cw, k)
    rr = _single(act, np.array(k))
    kappa = cw**2 * float(rr["s4"] - rr["s2"] ** 2) / k**2
    return CriticalPoint(
        act.name, cb, cw, k, chi_par, chi_perp, "general", kappa=kappa,
        other_fixed_points=tuple(v[0] for v in valid[1:]),
        notes="K* > 0 from d<sigma^2>/dK = <sigma'^2>; C_W = 1/<sigma'^2>_K*, C_b = K* - C_W <sigma^2>_K*.",
    )


# ------------------------------------------------------------------ phase diagram
@dataclass(frozen=True)
class PhaseDiagram:
    """Susceptibilities and kernel stability over a ``(C_b, C_W)`` grid.

    Attributes
    ----------
    activation : str
    cb : ndarray, shape (B,)
    cw : ndarray, shape (W,)
    chi_parallel, chi_perp : ndarray, shape (B, W)
        At ``K^(depth)`` (≈ the fixed point where the kernel converged), or at
        the last kernel inside the band for cells that escaped it.
    kernel : ndarray, shape (B, W)
        That kernel value.
    escape_depth : ndarray of int, shape (B, W)
        First layer at which ``K`` left ``[K0/band, K0·band]``; ``-1`` if it
        stayed inside for all ``depth`` layers.
    escape_direction : ndarray of int, shape (B, W)
        ``-1`` where ``K`` left the band downwards (below ``K0/band``), ``+1``
        upwards (above ``K0·band``, or non-finite), ``0`` where it stayed inside.
        (``kernel`` holds the last value still inside the band, so its
        comparison with ``K0`` does not tell the direction.)
    converged : ndarray of bool, shape (B, W)
        ``|K^(depth) − K^(depth−1)| <= 1e-8 K^(depth)``.
    depth, K0, band : int, float, float
    critical : CriticalPoint or None
        The activation's critical point (None if it has none).
    """

    activation: str
    cb: np.ndarray
    cw: np.ndarray
    chi_parallel: np.ndarray
    chi_perp: np.ndarray
    kernel: np.ndarray
    escape_depth: np.ndarray
    converged: np.ndarray
    depth: int
    K0: float
    band: float
    critical: CriticalPoint | None = None
    escape_direction: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (arrays as nested lists)."""
        return {
            "activation": self.activation, "cb": self.cb.tolist(), "cw": self.cw.tolist(),
            "chi_parallel": self.chi_parallel.tolist(), "chi_perp": self.chi_perp.tolist(),
            "kernel": self.kernel.tolist(), "escape_depth": self.escape_depth.tolist(),
            "escape_direction": None if self.escape_direction is None else self.escape_direction.tolist(),
            "converged": self.converged.tolist(), "depth": self.depth, "K0": self.K0, "band": self.band,
            "critical": None if self.critical is None else self.critical.to_dict(),
        }

    def plot(self, ax: Any = None) -> Any:
        """χ⊥ at the fixed point (colour; ordered < 1 < chaotic), the χ∥ = 1 and χ⊥ = 1
        contours, and in grey the cells whose kernel left the band (light grey:
        downwards, dark grey: upwards). Returns the Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4.5))
        escaped = self.escape_depth >= 0
        data = np.where(escaped, np.nan, np.log2(np.clip(self.chi_perp, 2.0**-3, 2.0**3)))
        cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.8")
        mesh = ax.pcolormesh(self.cw, self.cb, np.ma.masked_invalid(data), shading="auto", cmap=cmap,
                             vmin=-3, vmax=3)
        if self.escape_direction is not None and np.any(escaped):
            way = np.ma.masked_where(~escaped, self.escape_direction)
            ax.pcolormesh(self.cw, self.cb, way, shading="auto", cmap=ListedColormap(["0.85", "0.55"]),
                          vmin=-1, vmax=1)
        cbar = ax.figure.colorbar(mesh, ax=ax)
        cbar.set_label("log2 χ⊥ (grey: K leaves the band, light down, dark up)")
        if len(self.cb) > 1 and len(self.cw) > 1:
            for arr, style, label in ((self.chi_parallel, "-", "χ∥ = 1"), (self.chi_perp, "--", "χ⊥ = 1")):
                vals = np.where(escaped, np.nan, arr)
                if np.any(vals < 1) and np.any(vals > 1):
                    ax.contour(self.cw, self.cb, vals, levels=[1.0], colors="k", linestyles=style)
                    ax.plot([], [], color="k", linestyle=style, label=label)
        if self.critical is not None:
            ax.plot([self.critical.cw], [self.critical.cb], "*", color="gold", mec="k", ms=14,
                    label="critical point")
        ax.set_xlabel("$C_W$")
        ax.set_ylabel("$C_b$")
        ax.set_title(f"{self.activation}: K(1) = {self.K0:g}, depth {self.depth}, band ×{self.band:g}",
                     fontsize=9)
        ax.legend(loc="upper left", fontsize=8)
        return ax


def _grid(name: str, values: object, default: np.ndarray, *, positive: bool) -> np.ndarray:
    if values is None:
        return default
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    bad = arr.ndim != 1 or arr.size == 0 or np.any(~np.isfinite(arr)) or np.any(arr < 0)
    if bad or (positive and np.any(arr <= 0)):
        bound = "> 0" if positive else ">= 0"
        msg = f"`{name}` must be a non-empty 1-d array of finite values {bound}, got {values!r}."
        raise ValueError(msg)
    return arr


def phase_diagram(
    activation: object,
    cb: object = None,
    cw: object = None,
    *,
    depth: int = 100,
    K0: float = 1.0,
    band: float = 10.0,
) -> PhaseDiagram:
    """χ∥, χ⊥ and the kernel's escape depth over a ``(C_b, C_W)`` grid (one input).

    Parameters
    ----------
    activation : str, Activation or callable
    cb : array_like, optional
        ``C_b`` values (default ``linspace(0, 1, 41)``).
    cw : array_like, optional
        ``C_W`` values (default ``linspace(0.1, 2.5 C_W*, 49)``, C_W* the
        critical value, or up to 4).
    depth : int, default 100
        Layers iterated from ``K^(1) = K0``.
    K0 : float, default 1
    band : float, default 10
        The kernel "escapes" when it leaves ``[K0/band, K0·band]``.

    Returns
    -------
    PhaseDiagram
    """
    act = _activation(activation)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        msg = f"`depth` must be an integer >= 1, got {depth!r}."
        raise ValueError(msg)
    K0 = _real("K0", K0, positive=True)
    band = _real("band", band, positive=True)
    if band <= 1:
        msg = f"`band` must be > 1, got {band!r}."
        raise ValueError(msg)
    try:
        crit: CriticalPoint | None = criticality(act)
    except NoCriticalPointError:
        crit = None
    cw_top = 2.5 * crit.cw if crit is not None else 4.0
    cbs = _grid("cb", cb, np.linspace(0.0, 1.0, 41), positive=False)
    cws = _grid("cw", cw, np.linspace(0.1, cw_top, 49), positive=True)
    CB, CW = np.meshgrid(cbs, cws, indexing="ij")
    K = np.full(CB.shape, K0)
    prev = K.copy()
    lo, hi = K0 / band, K0 * band
    escape = np.full(CB.shape, -1, dtype=int)
    direction = np.zeros(CB.shape, dtype=int)
    alive = np.ones(CB.shape, dtype=bool)
    for layer in range(2, depth + 1):
        idx = np.nonzero(alive)
        if idx[0].size == 0:
            break
        new = CB[idx] + CW[idx] * _single(act, K[idx])["s2"]
        prev[idx] = K[idx]
        out = (new < lo) | (new > hi) | ~np.isfinite(new)
        esc = (idx[0][out], idx[1][out])
        escape[esc] = layer
        direction[esc] = np.where(new[out] < lo, -1, 1)
        alive[esc] = False
        keep = (idx[0][~out], idx[1][~out])
        K[keep] = new[~out]
    r = _single(act, K)
    converged = alive & (np.abs(K - prev) <= 1e-8 * np.maximum(K, 1e-300))
    return PhaseDiagram(
        act.name, cbs, cws, CW * r["ds2"], CW * r["sp2"], K, escape, converged, int(depth), K0, band, crit,
        escape_direction=direction,
    )


# ------------------------------------------------------------------ depth scaling
@dataclass(frozen=True)
class DepthScaling:
    """Single-input kernel and vertex vs depth at criticality, with the asymptotic laws.

    Attributes
    ----------
    activation : str
    critical : CriticalPoint
    layers : ndarray of int, shape (D,)
        ``1..depth``.
    kernel : ndarray, shape (D,)
        ``K^(ℓ)`` from the leading-order recursion, ``K^(1) = K1``.
    vertex : ndarray, shape (D,)
        ``V^(ℓ)`` (equal widths; ``V^(1) = 0``).
    v_over_k2 : ndarray, shape (D,)
        ``V^(ℓ)/(K^(ℓ))²``; the normalised 4-point cumulant is this divided by the width.
    kernel_law, v_over_k2_law : ndarray or None
        The asymptotic laws: ``1/(−a₁ℓ)`` and ``(2/3)ℓ`` (K* = 0 class),
        ``K1`` and ``κ(ℓ − 1)`` (scale-invariant, and the general class started
        at its fixed point ``K1 = K*``); ``None`` otherwise.
    """

    activation: str
    critical: CriticalPoint
    layers: np.ndarray
    kernel: np.ndarray
    vertex: np.ndarray
    v_over_k2: np.ndarray
    kernel_law: np.ndarray | None
    v_over_k2_law: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "activation": self.activation, "critical": self.critical.to_dict(),
            "layers": self.layers.tolist(), "kernel": self.kernel.tolist(), "vertex": self.vertex.tolist(),
            "v_over_k2": self.v_over_k2.tolist(),
            "kernel_law": None if self.kernel_law is None else self.kernel_law.tolist(),
            "v_over_k2_law": None if self.v_over_k2_law is None else self.v_over_k2_law.tolist(),
        }


def depth_scaling(activation: object, depth: int = 100, *, K1: float | None = None) -> DepthScaling:
    """``K^(ℓ)`` and ``V^(ℓ)/K²`` vs depth at the critical point, beside their asymptotic laws.

    Uses the single-input leading-order recursions (``THEORY.md`` §3.2–§3.4)
    with equal widths: ``K' = C_b + C_W⟨σ²⟩_K``,
    ``V' = C_W²[⟨σ⁴⟩ − ⟨σ²⟩²] + χ∥² V``, ``V^(1) = 0``.

    Parameters
    ----------
    activation : str, Activation or callable
    depth : int, default 100
    K1 : float, optional
        The first-layer kernel ``K^(1) = C_b + C_W G^(0)``. Default 1, or
        ``K*`` for the general class (whose fixed point is not attracting
        from far away).

    Raises
    ------
    NoCriticalPointError
        If σ has no critical initialisation.

    Examples
    --------
    >>> from deepeft import depth_scaling
    >>> [round(float(v), 6) for v in depth_scaling("relu", 4).v_over_k2]
    [0.0, 5.0, 10.0, 15.0]
    """
    act = _activation(activation)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        msg = f"`depth` must be an integer >= 1, got {depth!r}."
        raise ValueError(msg)
    crit = criticality(act)
    if K1 is None:
        K1 = crit.fixed_point if crit.universality_class == "general" else 1.0
    K1 = _real("K1", K1, positive=True)
    cb, cw = crit.cb, crit.cw
    K = np.empty(depth)
    V = np.empty(depth)
    K[0], V[0] = K1, 0.0
    for i in range(1, depth):
        r = _single(act, np.array(K[i - 1]))
        s2, ds2, s4 = float(r["s2"]), float(r["ds2"]), float(r["s4"])
        K[i] = cb + cw * s2
        V[i] = cw**2 * (s4 - s2 * s2) + (cw * ds2) ** 2 * V[i - 1]
    layers = np.arange(1, depth + 1)
    ratio = V / K**2
    if crit.universality_class == "K*=0":
        k_law: np.ndarray | None = 1.0 / (-crit.a1 * layers)  # type: ignore[operator]
        v_law: np.ndarray | None = 2.0 / 3.0 * layers
    elif crit.universality_class == "scale-invariant" or crit.fixed_point == K1:
        k_law = np.full(depth, K1)
        v_law = crit.kappa * (layers - 1.0)  # type: ignore[operator]
    else:
        k_law = v_law = None
    return DepthScaling(act.name, crit, layers, K, V, ratio, k_law, v_law)


def plot_depth_scaling(activation: object, depth: int = 100, ax: Any = None, *, width: int | None = None,
                       K1: float | None = None) -> tuple[Any, Any]:
    """Plot ``K^(ℓ)`` and ``V/(n K²)`` vs depth at criticality with the asymptotic laws.

    Parameters
    ----------
    activation : str, Activation or callable
    depth : int, default 100
    ax : matplotlib Axes, pair of Axes, or None
        ``None``: a new figure with two panels (K and V/(nK²)). One Axes:
        only the V/(nK²) panel. Two Axes: both panels.
    width : int, optional
        The width n; default 1 (plot ``V/K²``).
    K1 : float, optional
        First-layer kernel (see :func:`depth_scaling`).

    Returns
    -------
    (figure, axes)
        ``axes`` is a list of the Axes drawn on.
    """
    import matplotlib.pyplot as plt

    if width is not None and (isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1):
        msg = f"`width` must be a positive integer or None, got {width!r}."
        raise ValueError(msg)
    ds = depth_scaling(activation, depth, K1=K1)
    n = 1 if width is None else int(width)
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes = list(axes)
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(ax)
        if len(axes) != 2:
            msg = f"`ax` must be one Axes or a pair of Axes, got {len(axes)} axes."
            raise ValueError(msg)
        fig = axes[0].figure
    else:
        axes = [ax]
        fig = ax.figure
    cls = ds.critical.universality_class
    cp = ds.critical
    title = f"{ds.activation} at (C_b, C_W) = ({cp.cb:.4g}, {cp.cw:.4g}) [{cls}]"
    if len(axes) == 2:
        a = axes[0]
        a.plot(ds.layers, ds.kernel, label="recursion")
        if ds.kernel_law is not None:
            lab = "1/(-a1 l)" if cls == "K*=0" else "K = K(1)" if cls == "scale-invariant" else "K = K*"
            a.plot(ds.layers, ds.kernel_law, "--", label=lab)
        if cls == "K*=0":
            a.set_xscale("log")
            a.set_yscale("log")
        a.set_xlabel("layer l")
        a.set_ylabel("K(l)")
        a.set_title(title, fontsize=9)
        a.legend()
    a = axes[-1]
    ylab = "V/K²" if width is None else f"V/(n K²), n = {n}"
    a.plot(ds.layers, ds.v_over_k2 / n, label="recursion")
    if ds.v_over_k2_law is not None:
        lab = "(2/3) l" if cls == "K*=0" else f"{cp.kappa:.4g} (l-1)"
        a.plot(ds.layers, ds.v_over_k2_law / n, "--", label=lab)
    a.set_xlabel("layer l")
    a.set_ylabel(ylab)
    if len(axes) == 1:
        a.set_title(title, fontsize=9)
    a.legend()
    return fig, axes
