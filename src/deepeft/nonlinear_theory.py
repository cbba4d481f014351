"""Leading-order effective theory of nonlinear MLPs at initialization.

Roberts & Yaida, *The Principles of Deep Learning Theory* (arXiv:2106.10165),
chs. 4, 5 and 8; ``THEORY.md`` §3–§4. For any activation σ and Gaussian
(or, with §3.6, orthogonal) weights:

* the kernel ``K^(l)`` (infinite width; ``G^(l) = K^(l) + O(1/n)``):
  ``K^(1) = C_b + C_W G^(0)``, ``K^(l+1) = C_b + C_W ⟨σσ⟩_{K^(l)}``;
* the four-point vertex ``V^(l)`` at leading order in 1/n, multi-input,
  with the width ratio ``n_l / n_{l-1}``:
  ``V^(l+1) = C_W² [⟨σσσσ⟩ − ⟨σσ⟩⟨σσ⟩] + C_W² (n_l/n_{l-1}) Σ ∂⟨σσ⟩ ∂⟨σσ⟩ V^(l)``
  (derivatives with respect to the symmetric entries of K);
* 2- and 4-point moments and cumulants of the preactivations: connected
  4-point parts to O(1/n) (from the leading V), two-point and disconnected
  parts at leading order (K; the O(1/n) shift of G, PDLT's NLO metric, is
  not implemented);
* the infinite-width NTK mean ``Θ^(l)`` (PDLT §8.1–8.2).

For positively homogeneous σ (linear, ReLU, leaky ReLU) with no biases and
Gaussian weights, the statistics of one input are known **exactly** at
finite width (``THEORY.md`` §3.4): ``Ĝ^(l+1) = C_W Ĝ^(l) Y/n_l`` with
``Y = Σ_j σ(g_j)²``, so ``E[Ĝ^k]`` is a product of per-layer factors. They
are available through ``order="exact"`` and :meth:`NonlinearTheory.ghat_moment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from . import gaussian
from ._combinatorics import cumulants_from_moments, matchings
from ._theory import Theory
from ._validate import check_choice, check_positive_int, per_layer
from .network import Network

__all__ = ["ORDERS", "NonlinearTheory"]

#: Values of the ``order=`` argument.
ORDERS: tuple[str, ...] = ("exact", "leading")


def _ratio_moments(slopes: tuple[float, float], n: int, kmax: int) -> np.ndarray:
    """``E[(Y/n)^k]`` for k = 0..kmax, ``Y = Σ_{j≤n} σ(g_j)²``, σ = a₊z₊ + a₋z₋, exactly.

    With ``M ~ Bin(n, 1/2)`` positive units, ``Y = a₊² χ²_M + a₋² χ²_{n−M}``
    (independent χ²'s given M), and ``E[(χ²_m)^j] = ∏_{s<j} (m + 2s)``.
    """
    ap2, am2 = slopes[0] ** 2, slopes[1] ** 2
    M = np.arange(n + 1, dtype=float)
    logw = special.gammaln(n + 1) - special.gammaln(M + 1) - special.gammaln(n - M + 1) - n * math.log(2.0)
    w = np.exp(logw)

    def chi_moment(m: np.ndarray, j: int) -> np.ndarray:
        out = np.ones_like(m)
        for s in range(j):
            out = out * (m + 2 * s) / n
        return out

    out = np.empty(kmax + 1)
    for k in range(kmax + 1):
        tot = np.zeros_like(M)
        for j in range(k + 1):
            if (ap2 == 0 and j > 0) or (am2 == 0 and k - j > 0):
                continue
            tot = tot + math.comb(k, j) * ap2**j * am2 ** (k - j) * chi_moment(M, j) * chi_moment(n - M, k - j)
        out[k] = float(w @ tot)
    return out


class NonlinearTheory(Theory):
    """Leading-order (in 1/n) theory of a random MLP with any activation.

    Parameters
    ----------
    network : Network
        The ensemble: any activation, ``init="gaussian"`` or
        ``init="orthogonal"`` (all widths equal, THEORY.md §3.6).
    x : array_like, shape (N_D, n_0) or (n_0,), optional
        The inputs (default: one input of ones, ``G^(0) = 1``).
    tol : float, default 1e-11
        Accuracy target of the Gaussian expectations over one or two inputs
        (quadrature activations only; closed forms are used otherwise).
    tol_high_dim : float, default 1e-6
        Calibration tolerance of the per-axis quadrature rules for
        expectations over 3–4 distinct inputs (quadrature activations only).
        It is conservative: measured errors of ``⟨σσσσ⟩`` are 1e-10–3e-9
        relative to ``K²`` (tanh, GELU), and ~4e-8 on ``V`` after 20 GELU
        layers; 1e-7 gives ~1e-9 at about 3× the cost.

    Notes
    -----
    What is exact and what is leading order is listed by :attr:`exactness`.
    Index conventions are those of :class:`~deepeft.Theory`;
    ``V[a, b, c, d]`` is ``V_{(ab)(cd)}`` and the connected four-point
    function is ``(1/n_{l-1}) Σ_{3 pairings} δδ V``.

    Examples
    --------
    >>> import deepeft
    >>> net = deepeft.Network([1] + [100] * 10, "relu", cw=2.0)
    >>> th = deepeft.theory(net, [1.0])
    >>> round(float(th.vertex(10)[0, 0, 0, 0] / th.kernel(10)[0, 0] ** 2), 10)  # 5 (l - 1), leading order
    45.0
    >>> round(float(th.vertex(10, order="exact")[0, 0, 0, 0] / th.kernel(10)[0, 0] ** 2), 6)
    55.132822
    """

    exact = False

    def __init__(
        self,
        network: Network,
        x: object = None,
        *,
        tol: float = gaussian.DEFAULT_TOL,
        tol_high_dim: float = gaussian.DEFAULT_TOL_HIGH_DIM,
    ) -> None:
        if isinstance(network, Network) and x is None:
            x = np.ones(network.n0)
        super().__init__(network, x)
        for name, val in (("tol", tol), ("tol_high_dim", tol_high_dim)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not 1e-15 <= float(val) <= 1e-2:
                msg = f"`{name}` must be a number in [1e-15, 1e-2], got {val!r}."
                raise ValueError(msg)
        self.tol = float(tol)
        self.tol_high_dim = float(tol_high_dim)
        self.activation = network.activation
        if network.init == "orthogonal" and len(set(network.widths)) != 1:
            msg = (
                "the orthogonal-weight recursion (THEORY.md §3.6) is for square layers: all widths "
                f"n_0 = n_1 = … = n_L equal, got widths={list(network.widths)}."
            )
            raise ValueError(msg)
        N = self.n_inputs
        self._pairs = [(a, b) for a in range(N) for b in range(a, N)]
        pidx = np.empty((N, N), dtype=int)
        for p, (a, b) in enumerate(self._pairs):
            pidx[a, b] = pidx[b, a] = p
        self._pidx = pidx
        g1 = network.cb[0] + network.cw[0] * self.g0
        self._K: list[np.ndarray] = [self.g0, g1]
        self._stats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._V: dict[int, np.ndarray] = {}

    # ---------------------------------------------------------------- info
    @property
    def orthogonal(self) -> bool:
        """True for Haar-orthogonal weights (THEORY.md §3.6)."""
        return self.network.init == "orthogonal"

    @property
    def exact_available(self) -> bool:
        """True when ``order="exact"`` works: homogeneous σ, Gaussian weights, all ``C_b = 0``.

        The exact results then cover single-input quantities (one input, or
        queries whose points all carry the same input).
        """
        net = self.network
        return net.activation.is_homogeneous and net.init == "gaussian" and not net.has_biases

    @property
    def exactness(self) -> dict[str, str]:
        """Which answers are exact and which are leading order in 1/n, per method."""
        out = {
            "kernel": "exact (G = K at any width)" if self.exact_available and self.n_inputs == 1
            else "infinite width: G^(l) = K^(l) + O(1/n)",
            "vertex": "leading order in 1/n (order='leading')",
            "moment": "connected part to O(1/n) (from the leading V); disconnected part at leading order (K): "
            "the O(1/n) shift of G (NLO metric) is not included",
            "cumulant": "leading order: (1/n_{l-1}) Σ δδ V",
            "ntk": "infinite width (frozen NTK mean)",
        }
        if self.exact_available:
            out["vertex"] += "; exact at finite width for one input (order='exact')"
            out["moment"] += "; exact, any even order, for single-input patterns (order='exact')"
            out["cumulant"] += "; exact, any even order, for single-input patterns (order='exact')"
            out["ghat_moment"] = "exact at finite width"
        if self.network.is_linear and self.network.init == "gaussian":
            out["ntk"] = "exact at any width (linear network)"
        return out

    # ------------------------------------------------------------- engine
    def _layer_stats(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(⟨σσ⟩, ⟨σ'σ'⟩, ∂⟨σσ⟩/∂K_aa) at K^(layer)."""
        hit = self._stats.get(layer)
        if hit is None:
            hit = gaussian.pair_statistics(self.activation, self._kernel(layer), tol=self.tol)
            self._stats[layer] = hit
        return hit

    def _kernel(self, layer: int) -> np.ndarray:
        net = self.network
        while len(self._K) <= layer:
            l = len(self._K) - 1  # have K^(l); build K^(l+1) with C^(l+1) = cb[l], cw[l]
            E = self._layer_stats(l)[0]
            self._K.append(net.cb[l] + net.cw[l] * E)
        return self._K[layer]

    def _derivative_matrix(self, layer: int) -> np.ndarray:
        """P×P matrix ∂⟨σ_aσ_b⟩/∂K_(cd) over unordered pairs (symmetric-entry convention)."""
        _, Ed, D = self._layer_stats(layer)
        P = len(self._pairs)
        out = np.zeros((P, P))
        pidx = self._pidx
        for p, (a, b) in enumerate(self._pairs):
            if a == b:
                out[p, p] = D[a, a]
            else:
                out[p, pidx[a, a]] = D[a, b]
                out[p, pidx[b, b]] = D[b, a]
                out[p, p] = Ed[a, b]
        return out

    def _source(self, layer: int) -> np.ndarray:
        """⟨σ_aσ_bσ_cσ_d⟩ − ⟨σ_aσ_b⟩⟨σ_cσ_d⟩ (minus the crossed terms for orthogonal weights)."""
        K = self._kernel(layer)
        E = self._layer_stats(layer)[0]
        pairs = np.array(self._pairs)
        P = len(self._pairs)
        iu, ju = np.triu_indices(P)
        quads = np.concatenate([pairs[iu], pairs[ju]], axis=1)
        f4 = gaussian.four_point(self.activation, K, quads, tol=self.tol, tol_high_dim=self.tol_high_dim)
        a, b, c, d = quads.T
        s = f4 - E[a, b] * E[c, d]
        if self.orthogonal:
            s = s - E[a, c] * E[b, d] - E[a, d] * E[b, c]
        out = np.empty((P, P))
        out[iu, ju] = s
        out[ju, iu] = s
        return out

    def _first_vertex(self) -> np.ndarray:
        P = len(self._pairs)
        if not self.orthogonal:
            return np.zeros((P, P))
        g0, cw = self.g0, self.network.cw[0]
        pairs = np.array(self._pairs)
        a, b = pairs[:, 0][:, None], pairs[:, 1][:, None]
        c, d = pairs[:, 0][None, :], pairs[:, 1][None, :]
        return -(cw**2) * (g0[a, c] * g0[b, d] + g0[a, d] * g0[b, c])

    def _vertex_pairs(self, layer: int) -> np.ndarray:
        if 1 not in self._V:
            self._V[1] = self._first_vertex()
        net = self.network
        last = max(self._V)
        for l in range(last, layer):
            # V^(l) -> V^(l+1): C_W^(l+1) = cw[l], width ratio n_l / n_{l-1}
            cw = net.cw[l]
            rho = net.widths[l] / net.widths[l - 1]
            Dm = self._derivative_matrix(l)
            self._V[l + 1] = cw**2 * (self._source(l) + rho * Dm @ self._V[l] @ Dm.T)
        return self._V[layer]

    def _to_four_index(self, vp: np.ndarray) -> np.ndarray:
        pidx = self._pidx
        return vp[pidx[:, :, None, None], pidx[None, None, :, :]]

    def _check_order(self, order: object) -> str:
        order = check_choice("order", order, ORDERS)
        if order == "exact" and not self.exact_available:
            msg = (
                "order='exact' is available only for positively homogeneous activations (linear, "
                "ReLU, leaky ReLU) with Gaussian weights and no biases (THEORY.md §3.4); "
                f"this network has activation={self.activation.name!r}, init={self.network.init!r}, "
                f"cb={list(self.network.cb)}. Use order='leading'."
            )
            raise ValueError(msg)
        return order

    # ------------------------------------------------------------- public
    def kernel(self, layer: int) -> np.ndarray:
        """The kernel ``K^(l)`` (infinite-width two-point function).

        Parameters
        ----------
        layer : int
            ``0..L``; layer 0 gives ``G^(0) = x xᵀ / n_0``.

        Returns
        -------
        ndarray, shape (N_D, N_D)
            ``K^(1) = C_b + C_W G^(0)``, ``K^(l+1) = C_b + C_W ⟨σσ⟩_{K^(l)}``
            (``THEORY.md`` §3.1). The finite-width two-point function is
            ``G^(l) = K^(l) + O(1/n)``; for homogeneous σ, no biases and one
            input, ``G = K`` exactly.
        """
        layer = self._check_layer(layer)
        return self._kernel(layer).copy()

    def vertex(self, layer: int, order: str = "leading") -> np.ndarray:
        """Four-point vertex ``V^(l)_{(ab)(cd)}`` (``= n_{l-1} Cov(Ĝ_ab, Ĝ_cd)``).

        Parameters
        ----------
        layer : int
            ``1..L``; ``V^(1) = 0`` for Gaussian weights.
        order : {"leading", "exact"}
            ``"leading"``: the recursion of ``THEORY.md`` §3.2 (§3.6 for
            orthogonal weights). ``"exact"``: at finite width, only for
            homogeneous σ, Gaussian weights, no biases and one input
            (``V^(l) = n_{l-1} [∏_{l'<l} (1 + κ/n_{l'}) − 1] K²``, §3.4).

        Returns
        -------
        ndarray, shape (N_D, N_D, N_D, N_D)
            ``V[a, b, c, d] = V_{(ab)(cd)}``.
        """
        layer = self._check_layer(layer, allow_input=False)
        if self._check_order(order) == "exact":
            if self.n_inputs != 1:
                msg = (
                    "order='exact' vertices exist for one input only (THEORY.md §3.4); "
                    f"this theory has N_D={self.n_inputs} inputs. Use order='leading', or "
                    "ghat_moment(layer, k, input=a) for the exact single-input statistics of input a."
                )
                raise ValueError(msg)
            m1, m2 = self.ghat_moment(layer, 1), self.ghat_moment(layer, 2)
            n_prev = self.network.widths[layer - 1]
            return np.full((1, 1, 1, 1), n_prev * (m2 - m1 * m1))
        return self._to_four_index(self._vertex_pairs(layer))

    def ghat_moment(self, layer: int, k: int, input: int = 0) -> float:
        """Exact ``E[(Ĝ^(l)_{αα})^k]`` for homogeneous σ, Gaussian weights and no biases.

        ``Ĝ^(l+1) = C_W^(l+1) Ĝ^(l) Y_l / n_l`` with ``Y_l = Σ_j σ(g_j)²``
        independent of ``Ĝ^(l)`` (``THEORY.md`` §3.4); ``E[(Y/n)^k]`` is a
        Binomial mixture of χ² moments.

        Parameters
        ----------
        layer : int
            ``1..L``.
        k : int
            Power, ``>= 1``.
        input : int, default 0
            The input α.
        """
        layer = self._check_layer(layer, allow_input=False)
        k = check_positive_int("k", k)
        if not self.exact_available:
            self._check_order("exact")
        if isinstance(input, bool) or not isinstance(input, (int, np.integer)) or not 0 <= input < self.n_inputs:
            msg = f"`input` must be an integer in [0, {self.n_inputs - 1}], got {input!r}."
            raise ValueError(msg)
        net = self.network
        slopes = self.activation.slopes
        val = (net.cw[0] * self.g0[input, input]) ** k
        for l in range(1, layer):
            val *= net.cw[l] ** k * _ratio_moments(slopes, net.widths[l], k)[k]  # type: ignore[arg-type]
        return float(val)

    def _pairings_value(self, layer: int, neurons: tuple[int, ...], inputs: tuple[int, ...], connected: bool) -> float:
        K = self._kernel(layer)
        M = len(neurons)
        total = 0.0
        if M == 2:
            if neurons[0] != neurons[1]:
                return 0.0
            return float(K[inputs[0], inputs[1]])
        V = None
        n_prev = self.network.widths[layer - 1]
        for (p1, q1), (p2, q2) in matchings(4):
            if neurons[p1] != neurons[q1] or neurons[p2] != neurons[q2]:
                continue
            a, b, c, d = inputs[p1], inputs[q1], inputs[p2], inputs[q2]
            if V is None:
                V = self._vertex_pairs(layer)
            pidx = self._pidx
            term = V[pidx[a, b], pidx[c, d]] / n_prev
            if not connected:
                term += K[a, b] * K[c, d]
            total += term
        return float(total)

    def _exact_pattern(self, layer: int, neurons: tuple[int, ...], inputs: tuple[int, ...], connected: bool) -> float:
        if len(set(inputs)) != 1:
            msg = (
                "order='exact' covers single-input patterns only (all points on the same input), "
                f"got inputs={list(inputs)}."
            )
            raise ValueError(msg)
        M = len(neurons)
        k = M // 2
        count = sum(
            1 for pi in matchings(M) if all(neurons[p] == neurons[q] for p, q in pi)
        )
        if count == 0:
            return 0.0
        moments = [self.ghat_moment(layer, j, inputs[0]) for j in range(1, k + 1)]
        value = cumulants_from_moments(moments)[-1] if connected else moments[-1]
        return float(count * value)

    def moment(self, layer: int, neurons: Sequence[int], inputs: Sequence[int], *, order: str = "leading") -> float:
        """``E[∏_k z^(l)_{neurons[k]; inputs[k]}]``: connected part to O(1/n), disconnected part at leading order.

        The connected 4-point part ``V/n`` is O(1/n); the disconnected part uses
        the infinite-width ``K``, not the O(1/n)-corrected ``G`` (PDLT's NLO
        metric is not implemented), so the result misses O(1/n) terms of the
        form ``δδ (K K^{1} + K^{1} K)/n``; 2-point moments are ``δ K``,
        likewise without the O(1/n) shift.

        Parameters
        ----------
        layer : int
            ``1..L``.
        neurons, inputs : sequences of int
            The points (see :class:`~deepeft.Theory`).
        order : {"leading", "exact"}, keyword-only
            ``"leading"``: 2 points give ``δ K``; 4 points give
            ``Σ_pairings δδ [K K + V/n_{l-1}]`` (the O(1/n) shift of the
            two-point function, PDLT's NLO metric, is not included). Odd
            numbers of points give 0; 6 or more raise. ``"exact"``: any even
            number of points on a single input, for homogeneous σ without
            biases (``Σ_pairings δ… E[Ĝ^{M/2}]``).
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        order = self._check_order(order)
        M = len(neurons)
        if M % 2:
            return 0.0
        if order == "exact":
            return self._exact_pattern(layer, neurons, inputs, connected=False)
        self._check_points(M)
        return self._pairings_value(layer, neurons, inputs, connected=False)

    def cumulant(self, layer: int, neurons: Sequence[int], inputs: Sequence[int], *, order: str = "leading") -> float:
        """The connected correlator (joint cumulant) of the same points.

        ``order="leading"``: 2 points give ``δ K``, 4 points
        ``(1/n_{l-1}) Σ_pairings δδ V`` (leading order in 1/n); odd numbers of
        points give 0; 6 or more raise. ``order="exact"``: any even number of
        points on a single input (homogeneous σ, no biases):
        ``Σ_pairings δ… κ_{M/2}(Ĝ)``.
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        order = self._check_order(order)
        M = len(neurons)
        if M % 2:
            return 0.0
        if order == "exact":
            return self._exact_pattern(layer, neurons, inputs, connected=True)
        self._check_points(M)
        if M == 2:
            return self._pairings_value(layer, neurons, inputs, connected=False)
        return self._pairings_value(layer, neurons, inputs, connected=True)

    def _check_points(self, M: int) -> None:
        if M > 4:
            extra = (
                " order='exact' gives any even order for single-input patterns here."
                if self.exact_available
                else ""
            )
            msg = (
                f"the leading-order nonlinear theory gives 2- and 4-point correlators, got {M} points "
                f"(the 6-point vertex of nonlinear networks is not implemented).{extra}"
            )
            raise ValueError(msg)

    def ntk(self, layer: int, lambda_b: object = 1.0, lambda_w: object = 1.0) -> np.ndarray:
        """Infinite-width mean NTK ``Θ^(l)`` (PDLT chs. 7–8 conventions, ``THEORY.md`` §4).

        Parameters
        ----------
        layer : int
            ``1..L``.
        lambda_b, lambda_w : float or sequence of L floats
            Learning rates of the biases and of the weights of each layer
            (each weight of layer l has rate ``λ_W^(l) / n_{l-1}``); finite, >= 0.

        Returns
        -------
        ndarray, shape (N_D, N_D)
            ``Θ^(1) = λ_b + λ_W G^(0)``,
            ``Θ^(l+1) = λ_b + λ_W ⟨σσ⟩_{K^(l)} + C_W ⟨σ'σ'⟩_{K^(l)} ∘ Θ^(l)``.
            Exact at any width for linear networks (with G = K).
        """
        layer = self._check_layer(layer, allow_input=False)
        depth = self.depth
        lb = per_layer("lambda_b", lambda_b, depth, strictly_positive=False)
        lw = per_layer("lambda_w", lambda_w, depth, strictly_positive=False)
        cw = self.network.cw
        theta = lb[0] + lw[0] * self.g0
        for l in range(1, layer):
            E, Ed, _ = self._layer_stats(l)
            theta = lb[l] + lw[l] * E + cw[l] * Ed * theta
        return np.asarray(theta, dtype=float)

    def susceptibilities(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """``(χ∥, χ⊥)`` of each input's diagonal at ``K^(l)`` with ``C_W^(l+1)`` (length-N_D arrays).

        ``χ∥ = C_W d⟨σ²⟩/dK``, ``χ⊥ = C_W ⟨σ'²⟩`` (``THEORY.md`` §3.3). ``layer``
        runs over ``1..L-1`` (the step to ``l+1`` must exist).
        """
        layer = self._check_layer(layer, allow_input=False)
        if layer >= self.depth:
            msg = f"`layer` must be in [1, {self.depth - 1}] (the susceptibility of the step l -> l+1), got {layer}."
            raise ValueError(msg)
        _, Ed, D = self._layer_stats(layer)
        cw = self.network.cw[layer]
        return cw * np.diag(D).copy(), cw * np.diag(Ed).copy()
