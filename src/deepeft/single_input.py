"""Closed forms for one input to a deep linear network with Gaussian weights.

With a single input the stochastic kernel is a scalar and the layer map is
multiplicative: ``Ĝ^(l+1) = C_b^(l+1) + C_W^(l+1) Ĝ^(l) X_l`` with
``X_l = χ²_{n_l} / n_l`` independent of ``Ĝ^(l)`` (``THEORY.md`` §1.4). These
functions evaluate the resulting closed forms directly. They are independent
of :class:`deepeft.linear_theory.LinearTheory` and serve as its cross-checks.

Conventions: ``widths = (n_0, …, n_L)``; layer 0 is the input, with
``G^(0) = x · x / n_0``; ``Ĝ^(1) = C_b^(1) + C_W^(1) G^(0)`` is deterministic.
Every function takes ``x`` either as a scalar, read as ``G^(0)`` itself, or as
one input vector of length ``n_0``. All products are formed in log space
(``log=True`` returns the logarithm), so deep networks do not overflow before
the final exponential; a value beyond the float64 range raises
:class:`OverflowError` (use ``log=True``) instead of returning ``inf``.

References
----------
Roberts & Yaida, *The Principles of Deep Learning Theory*, arXiv:2106.10165,
eqs. 3.24–3.25, 3.42–3.47 (bias-free moments); Hanin & Nica,
arXiv:1812.05994 (log-norm of products of random matrices).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from scipy import special

from ._validate import check_inputs, check_layer, check_positive_int
from .network import Network

__all__ = ["coordinate_moment", "kernel_power_moment", "log_norm_cumulants", "norm_moment"]


def _check_net(net: object) -> Network:
    if not isinstance(net, Network):
        msg = f"`net` must be a deepeft.Network, got {type(net).__name__}."
        raise TypeError(msg)
    if not net.is_linear or net.init != "gaussian":
        msg = (
            "the single-input closed forms cover linear networks with Gaussian weights "
            "(activation='linear', init='gaussian'), got "
            f"activation={net.activation.name!r}, init={net.init!r}."
        )
        raise ValueError(msg)
    return net


def _input_metric(net: Network, x: object) -> float:
    """``G^(0)`` from a scalar (taken as G^(0) itself) or from one input vector."""
    if isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(x, bool):
        g0 = float(x)
        if not math.isfinite(g0) or g0 < 0:
            msg = (
                "`x` given as a scalar is the input metric G^(0) and must be finite and >= 0, "
                f"got {x!r}."
            )
            raise ValueError(msg)
        return g0
    arr = check_inputs(x, net.n0)
    if arr.shape[0] != 1:
        msg = f"`x` must be a single input (shape (n0,) or (1, n0)), got {arr.shape[0]} inputs."
        raise ValueError(msg)
    return float(arr[0] @ arr[0]) / net.n0


def _check_nonnegative_int(name: str, value: object) -> int:
    return check_positive_int(name, value, minimum=0)


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -math.inf


def _logsumexp(terms: Sequence[float]) -> float:
    top = max(terms)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(t - top) for t in terms))


def _log_c(n: int, j: int) -> float:
    """``log c_{2j}(n) = log E[(χ²_n/n)^j] = Σ_{s<j} log(1 + 2s/n)`` (PDLT eq. 3.46)."""
    return math.fsum(math.log1p(2 * s / n) for s in range(j))


def _log_kernel_powers(net: Network, g0: float, layer: int, k: int) -> list[float]:
    """``[log E[(Ĝ^(layer))^j] for j = 0..k]``."""
    if layer == 0:
        return [0.0 if j == 0 else j * _log(g0) for j in range(k + 1)]
    log_g1 = _log(net.cb[0] + net.cw[0] * g0)
    logs = [0.0 if j == 0 else j * log_g1 for j in range(k + 1)]
    for l in range(1, layer):
        # Ĝ^(l+1) = C_b + C_W Ĝ^(l) X_l: binomial expansion, E[X^j] = c_{2j}(n_l).
        n, log_cb, log_cw = net.widths[l], _log(net.cb[l]), math.log(net.cw[l])
        log_c = [_log_c(n, j) for j in range(k + 1)]
        new = [0.0]
        for m in range(1, k + 1):
            terms = [
                math.log(math.comb(m, j))
                + ((m - j) * log_cb if m > j else 0.0)
                + j * log_cw
                + log_c[j]
                + logs[j]
                for j in range(m + 1)
            ]
            new.append(_logsumexp(terms))
        logs = new
    return logs


def _finish(log_value: float, log: bool, what: str, layer: int) -> float:
    if log:
        return log_value
    try:
        return math.exp(log_value)
    except OverflowError:
        msg = (
            f"{what} at layer {layer} is about 10^{log_value / math.log(10):.1f}, beyond the "
            "float64 range; pass log=True for its logarithm."
        )
        raise OverflowError(msg) from None


def kernel_power_moment(net: Network, x: object, layer: int, k: int, *, log: bool = False) -> float:
    """``E[(Ĝ^(l))^k] = G^(l)_{2k}``, the k-th moment of the single-input stochastic kernel.

    Parameters
    ----------
    net : Network
        Linear network with Gaussian weights; biases allowed.
    x : float or array_like, shape (n_0,) or (1, n_0)
        A scalar is read as ``G^(0)`` itself; a vector as the input, with
        ``G^(0) = x · x / n_0``.
    layer : int
        ``0..L``.
    k : int
        Power, ``>= 0``.
    log : bool, default False
        Return ``log E[(Ĝ^(l))^k]`` instead (``-inf`` when it is 0).
        Without it, a value beyond the float64 range raises ``OverflowError``.

    Returns
    -------
    float
        By the recursion ``E[Ĝ^(l+1)k] = Σ_j binom(k, j) C_b^{k-j} C_W^j c_{2j}(n_l) E[Ĝ^(l)j]``
        with ``c_{2j}(n) = ∏_{s<j} (1 + 2s/n)``; without biases this is
        ``∏_{l'<l} c_{2k}(n_{l'}) (G^(l))^k`` (PDLT eq. 3.47).
    """
    net = _check_net(net)
    g0 = _input_metric(net, x)
    layer = check_layer(layer, net.depth)
    k = _check_nonnegative_int("k", k)
    return _finish(_log_kernel_powers(net, g0, layer, k)[k], log, f"E[Ĝ^k] (k={k})", layer)


def coordinate_moment(net: Network, x: object, layer: int, m: int, *, log: bool = False) -> float:
    """``E[(z^(l)_i)^m]`` for one coordinate: ``(m-1)!! E[(Ĝ^(l))^{m/2}]``, 0 for odd ``m``.

    Parameters
    ----------
    net, x
        As in :func:`kernel_power_moment`.
    layer : int
        ``1..L``.
    m : int
        Order, ``>= 0``.
    log : bool, default False
        Return the logarithm (``-inf`` for odd ``m``).
        Without it, a value beyond the float64 range raises ``OverflowError``.

    Returns
    -------
    float
    """
    net = _check_net(net)
    g0 = _input_metric(net, x)
    layer = check_layer(layer, net.depth, allow_input=False)
    m = _check_nonnegative_int("m", m)
    if m % 2:
        return -math.inf if log else 0.0
    k = m // 2
    log_double_factorial = math.fsum(math.log(2 * s + 1) for s in range(k))
    log_value = log_double_factorial + _log_kernel_powers(net, g0, layer, k)[k]
    return _finish(log_value, log, f"E[z_i^m] (m={m})", layer)


def norm_moment(net: Network, x: object, layer: int, k: int, *, log: bool = False) -> float:
    """``E[|z^(l)|^{2k}]`` for the whole layer-``l`` vector.

    Parameters
    ----------
    net, x
        As in :func:`kernel_power_moment`.
    layer : int
        ``1..L``.
    k : int
        Half the order, ``>= 0``.
    log : bool, default False
        Return the logarithm.
        Without it, a value beyond the float64 range raises ``OverflowError``.

    Returns
    -------
    float
        ``E[(Ĝ^(l))^k] ∏_{s<k} (n_l + 2s)``: given ``Ĝ^(l)``,
        ``|z^(l)|² = Ĝ^(l) χ²_{n_l}``.
    """
    net = _check_net(net)
    g0 = _input_metric(net, x)
    layer = check_layer(layer, net.depth, allow_input=False)
    k = _check_nonnegative_int("k", k)
    n = net.widths[layer]
    log_chi = math.fsum(math.log(n + 2 * s) for s in range(k))
    return _finish(log_chi + _log_kernel_powers(net, g0, layer, k)[k], log, f"E|z|^(2k) (k={k})", layer)


def log_norm_cumulants(
    net: Network,
    x: object,
    layer: int,
    orders: int | Sequence[int] = (1, 2, 3, 4),
    *,
    coordinate: bool = False,
) -> np.ndarray:
    r"""Exact cumulants of ``log |z^(l)|²`` (or of ``log (z^(l)_i)²``), bias-free networks.

    Parameters
    ----------
    net : Network
        Linear network with Gaussian weights and no biases in layers ``1..l``.
    x : float or array_like
        As in :func:`kernel_power_moment`; ``G^(0)`` must be > 0.
    layer : int
        ``1..L``.
    orders : int or sequence of int, default (1, 2, 3, 4)
        Cumulant orders, each ``>= 1``.
    coordinate : bool, default False
        ``True`` for one coordinate ``log (z_i)²`` instead of the squared norm.

    Returns
    -------
    ndarray, shape (len(orders),)
        With ``n_out = n_l`` (or 1 for one coordinate), since
        ``|z^(l)|² = G^(l) ∏_{l'<l} (χ²_{n_{l'}} / n_{l'}) · χ²_{n_out}``:

        .. math::

            κ_1 = \log(n_{out} G^{(l)}) + \sum_{l'<l} [ψ(n_{l'}/2) + \log(2/n_{l'})]
                  + ψ(n_{out}/2) + \log(2/n_{out}),

            κ_m = \sum_{l'<l} ψ^{(m-1)}(n_{l'}/2) + ψ^{(m-1)}(n_{out}/2) \quad (m \ge 2)

        (``THEORY.md`` §1.4).

    Raises
    ------
    ValueError
        When a layer up to ``layer`` has biases (no closed form), or ``G^(0) = 0``.
    """
    net = _check_net(net)
    g0 = _input_metric(net, x)
    layer = check_layer(layer, net.depth, allow_input=False)
    if any(c > 0 for c in net.cb[:layer]):
        msg = (
            "log_norm_cumulants needs a bias-free network (`cb` = 0 in layers 1..layer), "
            f"got cb={list(net.cb[:layer])!r}; with biases use kernel_power_moment / norm_moment."
        )
        raise ValueError(msg)
    if g0 == 0:
        msg = "`x` must be a nonzero input (G^(0) > 0): log|z|² is -inf otherwise."
        raise ValueError(msg)
    if isinstance(orders, (numbers.Integral, np.integer)) and not isinstance(orders, bool):
        orders = (int(orders),)
    if isinstance(orders, (str, bytes)) or not isinstance(orders, (Sequence, np.ndarray)):
        msg = (
            "`orders` must be a positive integer or a sequence of positive integers, "
            f"got {orders!r}."
        )
        raise TypeError(msg)
    orders = [check_positive_int("orders", o) for o in orders]
    n_out = 1 if coordinate else net.widths[layer]
    hidden = np.array([*net.widths[1:layer], n_out], dtype=float) / 2
    log_g = math.log(g0) + math.fsum(math.log(c) for c in net.cw[:layer])
    out = []
    for order in orders:
        if order == 1:
            value = math.log(n_out) + log_g + math.fsum(special.digamma(hidden) - np.log(hidden))
        else:
            value = math.fsum(special.polygamma(order - 1, hidden))
        out.append(value)
    return np.array(out, dtype=float)
