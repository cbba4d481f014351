"""Special-function kernels for the Mellin–Barnes inversion (vectorised, float64).

* :func:`lgamma_diff` -- ``log Γ(x + d) − log Γ(x)`` for real ``x > 0`` and complex ``d``,
  accurate in *absolute* terms even when ``x`` is large (a Stirling difference with a
  careful complex ``log1p``), which is what the contour integrand needs: the
  difference is O(|d| log x) while each log Γ alone can be enormous.
* :func:`trigamma`, :func:`tetragamma` -- ψ' and ψ'' for real ``x > 0``, by upward
  recurrence and the asymptotic series (``scipy.special.polygamma`` is ~10x slower).
  They only shape the integration contour, so ~1e-15 relative accuracy is ample.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["clog1p", "lgamma_diff", "lgamma_diff_real", "psi_diff", "tetragamma", "trigamma"]

# Stirling series  log Γ(z) = (z − ½) log z − z + ½ log 2π + Σ_k B_2k / (2k (2k−1) z^(2k−1)).
_STIRLING = (
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360360.0,
    1.0 / 156.0,
    -3617.0 / 122400.0,
)
# The Stirling branch is used where Re(x) and Re(x + d) are both >= this; with 8 terms the
# truncation error there is < 1e-16 (times at most 2^9 on the imaginary axis).
_STIRLING_MIN = 12.0
_SHIFT = 10  # recurrence shift for trigamma / tetragamma


def clog1p(z: np.ndarray) -> np.ndarray:
    """``log(1 + z)`` for complex ``z``, accurate for small ``|z|``."""
    re, im = z.real, z.imag
    return 0.5 * np.log1p(re * (2.0 + re) + im * im) + 1j * np.arctan2(im, 1.0 + re)


def lgamma_diff(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``log Γ(x + d) − log Γ(x)`` for real ``x > 0`` and complex ``d`` (broadcast).

    Imaginary parts are defined modulo 2π only (callers exponentiate integer multiples).
    """
    x, d = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(d, dtype=complex))
    z = x + d
    out = np.empty(z.shape, dtype=complex)
    big = (x >= _STIRLING_MIN) & (z.real >= _STIRLING_MIN)
    if big.any():
        xs, ds, zs = x[big], d[big], z[big]
        l1 = clog1p(ds / xs)
        out[big] = _stirling_diff(xs, ds, zs, l1)
    small = ~big
    if small.any():
        out[small] = special.loggamma(z[small]) - special.gammaln(x[small])
    return out


def _stirling_diff(xs: np.ndarray, ds: np.ndarray, zs: np.ndarray, l1: np.ndarray) -> np.ndarray:
    """Stirling series of ``log Γ(x + d) − log Γ(x)`` for large x and x + d; ``l1 = log(1 + d/x)``."""
    res = (xs - 0.5) * l1 + ds * (np.log(xs) + l1) - ds
    iz, ix = 1.0 / zs, 1.0 / xs
    iz2, ix2 = iz * iz, ix * ix
    pz, px = iz, ix
    for c in _STIRLING:
        res = res + c * (pz - px)
        pz = pz * iz2
        px = px * ix2
    return res


def lgamma_diff_real(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``log Γ(x + d) − log Γ(x)`` for real ``x > 0``, real ``d`` (``x + d > 0``), accurate for large x."""
    x, d = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(d, dtype=float))
    z = x + d
    out = special.gammaln(z) - special.gammaln(x)
    big = (x >= _STIRLING_MIN) & (z >= _STIRLING_MIN)
    if big.any():
        xs, ds, zs = x[big], d[big], z[big]
        l1 = np.log1p(ds / xs)
        out[big] = _stirling_diff(xs, ds, zs, l1)
    return out


# ψ(y) ~ log y − 1/(2y) − Σ_k B_2k / (2k y^{2k})
_PSI = (1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0, -691.0 / 32760.0, 1.0 / 12.0)


def psi_diff(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``ψ(z) − ψ(x)`` for real ``x, z > 0``, accurate when both are large (no cancellation).

    Both arguments are passed as such (not ``z = x + d``), so a tiny argument keeps
    its full relative precision.
    """
    x, z = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(z, dtype=float))
    out = special.psi(z) - special.psi(x)
    big = (x >= _STIRLING_MIN) & (z >= _STIRLING_MIN)
    if big.any():
        xs, zs = x[big], z[big]
        res = np.log(zs / xs) - 0.5 * (1.0 / zs - 1.0 / xs)
        iz2, ix2 = 1.0 / (zs * zs), 1.0 / (xs * xs)
        pz, px = iz2, ix2
        for c in _PSI:
            res -= c * (pz - px)
            pz = pz * iz2
            px = px * ix2
        out[big] = res
    return out


def _shifted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y, [1/(x+k) for k < SHIFT])`` with ``y = x + SHIFT``."""
    inv = 1.0 / (x[..., None] + np.arange(_SHIFT))
    return x + _SHIFT, inv


def trigamma(x: np.ndarray) -> np.ndarray:
    """ψ'(x) for real ``x > 0``."""
    x = np.asarray(x, dtype=float)
    y, inv = _shifted(x)
    iy = 1.0 / y
    iy2 = iy * iy
    # ψ'(y) ~ 1/y + 1/(2y²) + Σ B_2k / y^(2k+1)
    series = iy2 * (
        1.0 / 6.0
        + iy2 * (-1.0 / 30.0 + iy2 * (1.0 / 42.0 + iy2 * (-1.0 / 30.0 + iy2 * (5.0 / 66.0 - iy2 * 691.0 / 2730.0))))
    )
    return np.sum(inv * inv, axis=-1) + iy + 0.5 * iy2 + iy * series


def tetragamma(x: np.ndarray) -> np.ndarray:
    """ψ''(x) for real ``x > 0``."""
    x = np.asarray(x, dtype=float)
    y, inv = _shifted(x)
    iy = 1.0 / y
    iy2 = iy * iy
    # ψ''(y) ~ −1/y² − 1/y³ − Σ (2k+1) B_2k / y^(2k+2)
    series = iy2 * iy2 * (
        -0.5
        + iy2 * (1.0 / 6.0 + iy2 * (-1.0 / 6.0 + iy2 * (3.0 / 10.0 + iy2 * (-5.0 / 6.0 + iy2 * 691.0 / 210.0))))
    )
    return -2.0 * np.sum(inv * inv * inv, axis=-1) - iy2 - iy2 * iy + series
