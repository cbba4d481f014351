"""Exact statistics of deep linear networks with Haar-orthogonal weights.

Scope: ``init="orthogonal"``, ``activation="linear"`` and square layers
``n_0 = n_1 = … = n_L = n`` (``THEORY.md`` §2.2); Gaussian biases with one
input (see below). Without biases ``W^(l) = sqrt(C_W^(l)) O^(l)`` and, since
a product of independent Haar matrices is Haar,

    z^(l)_α = sqrt(c_l) O x_α,   c_l = ∏_{l' <= l} C_W^(l'),   O Haar on O(n).

Inner products are preserved, so ``Ĝ^(l) = c_l G^(0)`` is deterministic, yet the
preactivations are not Gaussian: ``z`` is uniform on a sphere for one input.
Unlike the Gaussian ensemble, ``V`` is therefore *not* ``n Cov(Ĝ, Ĝ)`` (which
vanishes); it is defined by the connected four-point function,
``E[zzzz]_conn = (1/n)[δ_{i1i2}δ_{i3i4} V_{(α1α2)(α3α4)} + 2 more pairings]``.

With Gaussian biases ``b^(l) ~ N(0, C_b^(l) I)`` and one input, every layer is
isotropic (``O z`` is isotropic for any ``z``, and so is ``b``), so the
correlators follow from the moments of ``R_l = |z^(l)|²``: with ``R_0 = |x|²``
and ``u = O z^(l)``, ``R_{l+1} = C_W |u|² + 2 sqrt(C_W) b·u + |b|²``, hence

    E R_{l+1}   = C_W E R_l + n C_b,
    E R_{l+1}²  = C_W² E R_l² + C_b² n(n+2) + 2n C_W C_b E R_l + 4 C_W C_b E R_l

(equivalently ``R_{l+1} / C_b`` given ``R_l`` is noncentral χ²_n with
noncentrality ``C_W R_l / C_b``), and ``E[z_i z_j] = δ_ij E R / n``,
``E[z_i z_j z_k z_l] = E R² / (n(n+2)) (δ_ij δ_kl + δ_ik δ_jl + δ_il δ_jk)``.

Conventions as in :mod:`deepeft._theory`: layer 0 is the input,
``G^(0) = x xᵀ / n_0``.

References
----------
Day, Kahn & Roberts, arXiv:2310.07765 (orthogonal initialisation);
Collins & Śniady, Commun. Math. Phys. 264 (2006) (Weingarten calculus on O(n)).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from ._combinatorics import canonical_pattern, matchings
from ._theory import Theory
from .linear_theory import _cumulant_from_moments, _even_masks
from .network import Network

__all__ = ["OrthogonalLinearTheory"]


class OrthogonalLinearTheory(Theory):
    """Exact theory of a square deep linear network with Haar-orthogonal weights.

    Parameters
    ----------
    network : Network
        ``init="orthogonal"``, ``activation="linear"`` and all widths equal
        (``n_0 = n_1 = … = n_L``). Biases (``cb > 0``) need a single input.
    x : array_like, shape (N_D, n_0) or (n_0,)
        The inputs.

    Raises
    ------
    ValueError
        For any other ensemble, naming what is supported.

    Notes
    -----
    Available exactly: the kernel; moments and cumulants with ``M <= 4`` points
    for any inputs (Weingarten calculus), and of any even ``M`` when all points
    carry the same input (uniform law on the sphere of radius
    ``R = sqrt(n G^(l))``, ``G_{2m} = R^{2m} / ∏_{s<m} (n + 2s)``); the
    four-point vertex. The results do not depend on depth except through
    ``c_l = ∏ C_W``.

    With biases (one input): the kernel ``E|z|²/n``, moments and cumulants with
    ``M <= 4`` points and the vertex, from the exact recursions for ``E R`` and
    ``E R²`` (module docstring; ``THEORY.md`` §2.2).

    Examples
    --------
    >>> from deepeft import Network
    >>> from deepeft.orthogonal_theory import OrthogonalLinearTheory
    >>> th = OrthogonalLinearTheory(Network([10] * 4, init="orthogonal"), [1.0] * 10)
    >>> round(float(th.vertex(3)[0, 0, 0, 0]), 12)  # -2n/(n+2) G²
    -1.666666666667
    """

    exact = True

    def __init__(self, network: Network, x: object) -> None:
        super().__init__(network, x)
        if not network.is_linear or network.init != "orthogonal":
            msg = (
                "OrthogonalLinearTheory covers linear networks with orthogonal weights "
                "(activation='linear', init='orthogonal'), got "
                f"activation={network.activation.name!r}, init={network.init!r}."
            )
            raise ValueError(msg)
        if len(set(network.widths)) != 1:
            msg = (
                "OrthogonalLinearTheory supports square layers only "
                "(all `widths` equal, n_0 = n_1 = ... = n_L), "
                f"got widths={list(network.widths)!r}."
            )
            raise ValueError(msg)
        self._n = n = network.widths[0]
        scales = [1.0]
        for cw in network.cw:
            scales.append(scales[-1] * cw)
        self._scales = scales
        self._biased = network.has_biases
        if self._biased:
            if self.n_inputs != 1:
                msg = (
                    "OrthogonalLinearTheory supports biases (`cb` > 0) for a single input only, "
                    f"got N_D={self.n_inputs} inputs with cb={list(network.cb)!r}; "
                    "use one input, a bias-free network, or deepeft.sample(...) for Monte Carlo."
                )
                raise ValueError(msg)
            # E R_l and E R_l² with R_l = |z^(l)|², R_0 = |x|² (THEORY.md §2.2).
            r1 = float(self.x[0] @ self.x[0])
            r2 = r1 * r1
            self._r = [(r1, r2)]
            for cw, cb in zip(network.cw, network.cb, strict=True):
                r1, r2 = (
                    cw * r1 + n * cb,
                    cw * cw * r2 + cb * cb * n * (n + 2) + (2 * n + 4) * cw * cb * r1,
                )
                self._r.append((r1, r2))

    # ------------------------------------------------------------ kernel
    def kernel(self, layer: int) -> np.ndarray:
        """``G^(l) = (∏_{l'<=l} C_W^(l')) G^(0)``, exact (and deterministic).

        With biases (one input): ``G^(l) = E|z^(l)|² / n``, with
        ``E R_{l+1} = C_W E R_l + n C_b``.

        Parameters
        ----------
        layer : int
            ``0..L``; layer 0 is the input metric.

        Returns
        -------
        ndarray, shape (N_D, N_D)
        """
        layer = self._check_layer(layer)
        if self._biased:
            return np.array([[self._r[layer][0] / self._n]])
        return self._scales[layer] * self.g0

    # ------------------------------------------------------------ moments
    def _four_point(self, layer: int, a: int, b: int, c: int, d: int) -> float:
        """``H_{(ab)(cd)}``, the coefficient of ``δ_{i1i2}δ_{i3i4}`` (Weingarten, n >= 2)."""
        n = self._n
        g = self._scales[layer] * self.g0
        return (
            n
            * ((n + 1) * g[a, b] * g[c, d] - g[a, c] * g[b, d] - g[a, d] * g[b, c])
            / ((n - 1) * (n + 2))
        )

    def _pattern_moment(self, layer: int, pattern: tuple[tuple[int, ...], ...]) -> float:
        """Moment of a canonical neuron pattern whose blocks all have even size."""
        m = sum(len(block) for block in pattern)
        labels = sorted({a for block in pattern for a in block})
        n = self._n
        if self._biased:
            # Isotropic: E[z_i z_j] = δ E R / n, E[zzzz] = E R² / (n(n+2)) Σ δδ.
            if m > 4:
                msg = (
                    "OrthogonalLinearTheory with biases gives M-point correlators only for "
                    f"M <= 4 (`neurons`/`inputs` of length 2 or 4), got M={m}."
                )
                raise ValueError(msg)
            pairings = prod(len(matchings(len(block))) for block in pattern)
            r1, r2 = self._r[layer]
            return pairings * (r1 / n if m == 2 else r2 / (n * (n + 2)))
        if n == 1:
            # O(1) = {±1}: z_α = ±sqrt(c_l) x_α.
            x = self.x[:, 0]
            return self._scales[layer] ** (m // 2) * prod(
                float(x[a]) for block in pattern for a in block
            )
        if len(labels) == 1:
            # Uniform on the sphere of radius R, R² = n G: E[z_{i1}⋯z_{i2k}] = (Σ ∏δ) G_{2k}.
            g = self._scales[layer] * self.g0[labels[0], labels[0]]
            g2k = prod(n * g / (n + 2 * s) for s in range(m // 2))
            pairings = prod(len(matchings(len(block))) for block in pattern)
            return pairings * g2k
        if m == 2:
            (block,) = pattern
            return float(self._scales[layer] * self.g0[block[0], block[1]])
        if m == 4:
            if len(pattern) == 2:
                (a, b), (c, d) = pattern
                return self._four_point(layer, a, b, c, d)
            ((a, b, c, d),) = pattern
            return (
                self._four_point(layer, a, b, c, d)
                + self._four_point(layer, a, c, b, d)
                + self._four_point(layer, a, d, b, c)
            )
        msg = (
            "OrthogonalLinearTheory gives M-point correlators of several distinct inputs "
            "only for M <= 4 "
            f"(`neurons`/`inputs` of length 2 or 4), got M={m} with inputs {labels}; "
            "any even M is available when all points carry the same input."
        )
        raise ValueError(msg)

    def moment(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> float:
        """Exact moment ``E[∏_k z^(l)_{neurons[k]; inputs[k]}]``.

        Parameters
        ----------
        layer : int
            ``1..L``.
        neurons : sequence of int
            Neuron label of each point, ``0 <= i < n``.
        inputs : sequence of int
            Input index of each point, ``0 <= α < N_D``.

        Returns
        -------
        float
            ``M = 2``: ``δ G``. ``M = 4``: ``Σ_π ∏δ H_π`` with
            ``H_{(ab)(cd)} = n[(n+1) G_ab G_cd - G_ac G_bd - G_ad G_bc] / ((n-1)(n+2))``.
            One distinct input, any even ``M = 2m``: ``(Σ_π ∏δ) G_{2m}``. Zero
            for odd ``M`` or a neuron that occurs an odd number of times.

            With biases (one input): ``M = 2``: ``δ E R / n``; ``M = 4``:
            ``(Σ_π ∏δ) E R² / (n(n+2))``, ``R = |z^(l)|²``.

        Raises
        ------
        ValueError
            For ``M >= 6`` points with several distinct inputs, or with biases.
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        pattern = canonical_pattern(neurons, inputs)
        if any(len(block) % 2 for block in pattern):
            return 0.0
        return self._pattern_moment(layer, pattern)

    def cumulant(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> float:
        """Exact joint cumulant of the same points, where :meth:`moment` is available.

        Computed from the moments by the moment–cumulant formula over set
        partitions. (The Gaussian-weight shortcut ``κ(z) = Σ_π ∏δ κ(Ĝ)`` does
        not hold here: ``z`` given the previous layer is not Gaussian.)
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        m = len(neurons)
        if m % 2 or any(neurons.count(i) % 2 for i in set(neurons)):
            return 0.0
        if m > 4 and (self._biased or (len(set(inputs)) > 1 and self._n > 1)):
            # Raise before the sub-moments, with the same message as moment().
            self._pattern_moment(layer, canonical_pattern(neurons, inputs))
        moments = {}
        for mask in _even_masks(neurons):
            points = [p for p in range(m) if mask >> p & 1]
            pattern = canonical_pattern([neurons[p] for p in points], [inputs[p] for p in points])
            moments[mask] = self._pattern_moment(layer, pattern)
        return _cumulant_from_moments(m, moments)

    def vertex(self, layer: int) -> np.ndarray:
        """Four-point vertex ``V^(l)_{(ab)(cd)}``, exact.

        Parameters
        ----------
        layer : int
            ``1..L``.

        Returns
        -------
        ndarray, shape (N_D, N_D, N_D, N_D)
            ``V_{(ab)(cd)} = n [2 G_ab G_cd - n (G_ac G_bd + G_ad G_bc)] / ((n-1)(n+2))``
            with ``G = G^(l)`` (``THEORY.md`` §2.2): ``n`` times the coefficient
            of ``δ_{i1i2}δ_{i3i4}`` in the connected four-point function. Its
            large-n limit is ``-(G_ac G_bd + G_ad G_bc)``. With biases (one
            input) the same definition gives
            ``V = n [E R² / (n(n+2)) - (E R / n)²]``, shape (1, 1, 1, 1).

        Raises
        ------
        ValueError
            For ``n = 1``, where the neuron structures cannot be told apart.
        """
        layer = self._check_layer(layer, allow_input=False)
        n = self._n
        if n == 1:
            msg = "`widths` must be >= 2 for the vertex of an orthogonal network, got n=1."
            raise ValueError(msg)
        if self._biased:
            r1, r2 = self._r[layer]
            return np.full((1, 1, 1, 1), n * (r2 / (n * (n + 2)) - (r1 / n) ** 2))
        g = self._scales[layer] * self.g0
        return (
            n
            * (
                2 * np.einsum("ab,cd->abcd", g, g)
                - n * (np.einsum("ac,bd->abcd", g, g) + np.einsum("ad,bc->abcd", g, g))
            )
            / ((n - 1) * (n + 2))
        )
