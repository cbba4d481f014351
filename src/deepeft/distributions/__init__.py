"""Exact finite-width output distributions of random networks (one input).

:func:`output_distribution` returns the *exact* law of one output coordinate
``z_i^(L)`` -- or of ``|z^(L)|²``, ``log |z^(L)|²``, ``log (z_i^(L))²`` -- as a
``scipy.stats.rv_continuous`` object with no free parameters (it behaves like a
frozen scipy distribution). Exact laws exist for:

* **Gaussian weights, linear activation** (any widths and C_W; a bias in the first
  layer only): the Meijer-G law of Zavatone-Veth & Pehlevan (arXiv:2104.11734),
  ``z = sqrt(G^(L) Π_{l<L} χ²_{n_l}/n_l) g``. Also any σ with ``|σ(z)| = a|z|``.
* **Gaussian weights, ReLU** (``C_b = 0`` after the first layer): the mixture over
  the numbers of active units ``M_l ~ Bin(n_l, ½)`` of linear laws with widths
  ``M_l``, plus a point mass at 0 of probability ``1 − Π_{l<L}(1 − 2^{−n_l})``.
* **Haar-orthogonal weights, linear, square layers, no biases**: the output is
  uniform on the sphere of radius ``R = sqrt(Π C_W) |x|``, so one coordinate has
  a scaled symmetric Beta law on ``(−R, R)``.
* **Depth L = 1** with Gaussian weights, any σ and biases: ``N(0, C_b + C_W G^(0))``.

Everything else (biases in deeper layers, tanh and other σ, leaky ReLU, several
inputs) raises ``ValueError`` pointing to :func:`deepeft.sample` (Monte Carlo).

Numerics: the densities and distribution functions of the Gaussian-weight laws
are computed by Mellin–Barnes inversion of the law of ``log z²`` along a
saddle-point contour (THEORY.md §2.1; :mod:`deepeft.distributions._mellin`), with
relative accuracy ~1e-13 (tails and z → 0 included; ~1e-12 at L = 1000) at a
cost independent of depth for equal widths; tested to L = 10⁵.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import Any

import numpy as np

from .._validate import check_choice
from ..network import Network
from ._laws import (
    CoordinateLaw,
    ExactLaw,
    LawSpec,
    LogLaw,
    NormSquaredLaw,
    SphereCoordinateLaw,
    SphereLogSquareLaw,
)
from ._mellin import LogGammaSum

__all__ = [
    "KINDS",
    "CoordinateLaw",
    "ExactLaw",
    "LogGammaSum",
    "LogLaw",
    "NormSquaredLaw",
    "SphereCoordinateLaw",
    "SphereLogSquareLaw",
    "output_distribution",
]

#: What :func:`output_distribution` can describe.
KINDS: tuple[str, ...] = ("coordinate", "norm_squared", "log_norm_squared", "log_coordinate_squared")

_EXACT_CASES = (
    "Exact output laws are implemented for a single input and (a) Gaussian weights with a "
    "linear (or |σ(z)| = a|z|) or ReLU activation and no biases after the first layer, "
    "(b) Haar-orthogonal weights with a linear activation, square layers (n_0 = n_1 = ... = n_L) "
    "and no biases, or (c) depth L = 1"
)
_LOG2 = math.log(2.0)
_MC_HINT = "For anything else estimate the law by Monte Carlo with deepeft.sample(net, x, ...)."


def _unsupported(reason: str) -> ValueError:
    return ValueError(f"{reason}. {_EXACT_CASES}. {_MC_HINT}")


def _activation_type(net: Network) -> tuple[str, float]:
    """('linear' | 'relu', a²) for the positively homogeneous σ with an exact law."""
    slopes = net.activation.slopes
    name = net.activation.name
    if slopes is None:
        reason = f"`net.activation` is {name!r}, which has no exact finite-width output law at depth L = {net.depth}"
        raise _unsupported(reason)
    ap, am = float(slopes[0]), float(slopes[1])
    if ap * ap == am * am and ap != 0.0:
        return "linear", ap * ap
    if (ap == 0.0) != (am == 0.0):
        return "relu", (ap if ap != 0.0 else am) ** 2
    reason = (
        f"`net.activation` is {name!r} (slopes {ap:g}, {am:g}): the leaky-ReLU mixture over "
        "active units has no implemented exact law"
    )
    raise _unsupported(reason)


def output_distribution(net: Network, x: Any = None, *, kind: str = "coordinate") -> ExactLaw:
    """Exact law of an output statistic of a random network at initialization, for one input.

    Parameters
    ----------
    net : Network
        The ensemble; see the module docstring for the exactly solvable cases.
    x : array_like of shape (n0,) or (1, n0), optional
        The input. Default: ``np.ones(n0)`` (so ``G^(0) = 1``).
    kind : {"coordinate", "norm_squared", "log_norm_squared", "log_coordinate_squared"}
        Which statistic: one output coordinate ``z_i^(L)`` (default; all coordinates
        have the same law), the squared norm ``|z^(L)|²`` of the output vector, its
        logarithm, or ``log (z_i^(L))²``.

    Returns
    -------
    ExactLaw
        A ``scipy.stats.rv_continuous`` instance with no shape parameters (use it
        like a frozen distribution): ``pdf, logpdf, cdf, logcdf, sf, logsf, ppf,
        isf, rvs(size, random_state), moment(k), mean, var, std, stats, median,
        interval``; plus ``atom`` (point mass at 0; ReLU), ``cumulants(order)``
        (exact), ``gaussian_approximation()``, ``edgeworth_pdf(x)``,
        ``edgeworth_cdf(x)`` and ``describe()``.

        For a ReLU net, ``pdf`` is the density of the continuous part (it
        integrates to ``1 − atom``), while ``cdf``, ``sf``, ``ppf`` and the moments
        include the atom; the ``log_*`` kinds are then the laws *given a nonzero
        output* (``p_zero`` gives the excluded probability).

        ``pdf(0)`` of a coordinate is finite if all hidden widths are >= 2 (linear
        nets) and ``inf`` otherwise (a log divergence); it is never NaN. It is
        computed in log space: in very deep nets ``logpdf(0)`` stays exact while
        ``pdf(0)`` may overflow to ``inf`` or underflow to 0 as a float.

    Raises
    ------
    TypeError
        If ``net`` is not a :class:`~deepeft.Network`.
    ValueError
        For several inputs, a zero input, biases beyond the first layer, an
        activation or weight ensemble without an exact law, non-square orthogonal
        layers, or a degenerate statistic (the squared norm is deterministic for
        orthogonal weights). The message lists the exact cases and points to
        :func:`deepeft.sample` for Monte Carlo.

    Notes
    -----
    Gaussian weights: ``z_i^(L) = sqrt(Ĝ^(L)) g`` with ``Ĝ^(L) = G^(1) Π_{l=1}^{L−1}
    C_W^(l+1) Y_l / n_l``, ``Y_l = Σ_j σ(g_j)²``: ``Y_l ~ a² χ²_{n_l}`` (linear) or
    ``a² χ²_{M_l}``, ``M_l ~ Bin(n_l, ½)`` (ReLU). So ``log z²`` is a sum of
    independent log-Gamma variables (or binomial mixtures of them) whose
    Mellin transform factorises over *distinct* widths; its inversion costs
    O(#distinct widths), at any depth.

    References
    ----------
    Zavatone-Veth & Pehlevan, "Exact marginal prior distributions of finite
    Bayesian neural networks", arXiv:2104.11734 (NeurIPS 2021). Roberts & Yaida,
    arXiv:2106.10165, §3.4 (moments ``c_{2m}(n)``). THEORY.md §1.4, §2, §3.4.

    Examples
    --------
    >>> import deepeft
    >>> d = deepeft.output_distribution(deepeft.Network([1, 2, 2]))   # Laplace law
    >>> round(float(d.pdf(1.0)), 12)
    0.171909491538
    >>> relu = deepeft.output_distribution(deepeft.Network([1, 1, 1], "relu", cw=2.0))
    >>> relu.atom
    0.5
    """
    if not isinstance(net, Network):
        msg = f"`net` must be a deepeft.Network, got {type(net).__name__}."
        raise TypeError(msg)
    kind = check_choice("kind", kind, KINDS)
    xs = net.check_inputs(np.ones(net.n0) if x is None else x)
    if xs.shape[0] != 1:
        reason = (
            f"`x` must be a single input of shape (n0,) or (1, n0); got {xs.shape[0]} inputs "
            f"(array shape {xs.shape}): joint laws of several inputs have no exact form here"
        )
        raise _unsupported(reason)
    x1 = xs[0]
    g0 = float(x1 @ x1) / net.n0
    if net.init == "orthogonal":
        return _orthogonal(net, x1, g0, kind)
    return _gaussian(net, x1, g0, kind)


def _gaussian(net: Network, x1: np.ndarray, g0: float, kind: str) -> ExactLaw:
    depth = net.depth
    g1 = net.cb[0] + net.cw[0] * g0
    if g1 == 0.0:
        msg = "`x` is the zero vector and C_b^(1) = 0: the output is exactly 0 (no continuous law)."
        raise ValueError(msg)
    if depth > 1 and any(c > 0 for c in net.cb[1:]):
        layers = [l + 1 for l, c in enumerate(net.cb) if c > 0 and l > 0]
        reason = f"`net.cb` is nonzero in layer(s) {layers} (only a first-layer bias keeps the law exact)"
        raise _unsupported(reason)
    gamma: Counter[float] = Counter()
    relu: Counter[int] = Counter()
    # c0 = log G^(1) + Σ_l [log C_W^(l+1) + log a² + log(2/n_l)]: equal terms are grouped
    # (count × value) and summed exactly in rational arithmetic, then rounded once, so c0
    # carries no rounding error accumulated over the layers (a plain float loop loses ~1e-7
    # at L = 10⁵)
    c0_terms: Counter[float] = Counter({math.log(g1): 1})
    if depth > 1:
        act, a2 = _activation_type(net)
        c0_terms[math.log(a2)] += depth - 1
        for layer in range(1, depth):
            n = net.widths[layer]
            c0_terms[math.log(net.cw[layer])] += 1
            c0_terms[math.log(2.0 / n)] += 1
            if act == "linear":
                gamma[n / 2.0] += 1
            else:
                relu[n] += 1
        family = "meijer-g" if act == "linear" else "relu-mixture"
    else:
        family = "gaussian"
    c0_exact = sum(Fraction(value) * mult for value, mult in c0_terms.items())
    hidden_c0 = float(c0_exact)
    hidden_gamma = tuple(sorted(gamma.items()))
    hidden_relu = tuple(sorted(relu.items()))
    n_out = 1 if kind in ("coordinate", "log_coordinate_squared") else net.widths[-1]
    gamma[n_out / 2.0] += 1
    law = LogGammaSum(float(c0_exact + Fraction(_LOG2)), dict(gamma), dict(relu))
    spec = LawSpec(
        kind=kind,
        family=family,
        network=net,
        x=x1.copy(),
        law=law,
        hidden_c0=hidden_c0,
        hidden_gamma=hidden_gamma,
        hidden_relu=hidden_relu,
    )
    if kind == "coordinate":
        return CoordinateLaw(spec)
    if kind == "norm_squared":
        return NormSquaredLaw(spec)
    return LogLaw(spec)


def _orthogonal(net: Network, x1: np.ndarray, g0: float, kind: str) -> ExactLaw:
    widths = net.widths
    if len(set(widths)) != 1:
        reason = (
            f"`net.widths` = {list(widths)} are not all equal: Haar-orthogonal layers must be square "
            "(n_0 = n_1 = ... = n_L)"
        )
        raise _unsupported(reason)
    if net.has_biases:
        reason = "`net.cb` is nonzero: with orthogonal weights the law is exact only without biases"
        raise _unsupported(reason)
    a2 = 1.0
    if net.depth > 1:
        act, a2 = _activation_type(net)
        if act != "linear":
            reason = (
                f"`net.activation` is {net.activation.name!r}: with orthogonal weights only linear "
                "networks have an exact law"
            )
            raise _unsupported(reason)
    n = widths[0]
    r2 = float(x1 @ x1) * math.prod(net.cw) * a2 ** (net.depth - 1)
    if r2 == 0.0:
        msg = "`x` is the zero vector: the output is exactly 0 (no continuous law)."
        raise ValueError(msg)
    if kind in ("norm_squared", "log_norm_squared"):
        msg = (
            f"`kind`={kind!r}: with Haar-orthogonal weights |z^(L)|² = {r2:g} exactly "
            "(the norm is preserved), so it has no continuous law."
        )
        raise ValueError(msg)
    if n == 1:
        msg = (
            "`net.widths` are all 1: with orthogonal weights z = ±R with probability ½ each, "
            f"R = {math.sqrt(r2):g} (a discrete law, not implemented as a continuous distribution)."
        )
        raise ValueError(msg)
    spec = LawSpec(kind=kind, family="sphere-beta", network=net, x=x1.copy(), radius=math.sqrt(r2), dim=n)
    if kind == "coordinate":
        return SphereCoordinateLaw(spec)
    return SphereLogSquareLaw(spec)
