"""The result of :func:`deepeft.sample`: estimates with standard errors, per layer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from math import factorial

import numpy as np

from .._combinatorics import canonical_pattern, set_partitions
from .._validate import check_correlator, check_layer
from ..estimators import BatchedMoments, Estimate
from ..network import Network
from ._patterns import ODD_UP_TO, Pattern

__all__ = ["Estimates"]


@cache
def _cumulant_terms(neurons: tuple[int, ...], inputs: tuple[int, ...]) -> tuple[tuple[int, tuple[Pattern, ...]], ...]:
    """Moment–cumulant formula with symmetry-vanishing proper sub-moments removed.

    Returns ``(coefficient, sub-patterns)`` pairs: κ = Σ coefficient · ∏ E[sub-pattern].
    A proper sub-moment in which some neuron carries an odd number of points is
    exactly 0 (z_i → −z_i is a symmetry of every ensemble in deepeft), so the
    partitions containing one are dropped.
    """
    m = len(neurons)
    acc: dict[tuple[Pattern, ...], int] = {}
    for part in set_partitions(range(m)):
        subs = []
        for block in part:
            sub = canonical_pattern([neurons[p] for p in block], [inputs[p] for p in block])
            if len(part) > 1 and any(len(b) % 2 for b in sub):
                break
            subs.append(sub)
        else:
            key = tuple(sorted(subs))
            coef = (-1) ** (len(part) - 1) * factorial(len(part) - 1)
            acc[key] = acc.get(key, 0) + coef
    return tuple((c, k) for k, c in sorted(acc.items()) if c != 0)


class Estimates:
    """Monte Carlo estimates of preactivation statistics, with standard errors.

    Returned by :func:`deepeft.sample`; mirrors :class:`deepeft.Theory`
    (``kernel``, ``moment``, ``cumulant``, ``vertex``) with :class:`Estimate`
    values in place of floats.

    Attributes
    ----------
    network : Network
        The ensemble.
    x : ndarray, shape (N_D, n_0)
        The inputs.
    networks : int
        Number of networks drawn.
    seed : int or numpy.random.SeedSequence
        The seed; with ``networks`` and ``method`` it fixes every number here.
    method : str
        The sampling method that ran (``"auto"`` resolved to a concrete one).
    order : int
        Highest correlator order estimated.
    layers : tuple of int
        The layers with statistics.
    elapsed : float
        Wall-clock seconds of the run.
    block_size : int
        Networks per random block (see :func:`deepeft.sample`).

    Notes
    -----
    Per network, each pattern's moment is estimated by a U-statistic over
    distinct neurons (or, for the fast methods, by its exact conditional
    expectation given the previous layer). Moments get standard errors from
    the variance of that per-network statistic across networks; cumulants and
    vertices, which are nonlinear in the moments, get a delete-one-batch
    jackknife over the 32 interleaved batches of networks.
    """

    def __init__(
        self,
        *,
        network: Network,
        x: np.ndarray,
        networks: int,
        seed: int | np.random.SeedSequence,
        method: str,
        order: int,
        layers: tuple[int, ...],
        patterns: dict[int, tuple[Pattern, ...]],
        stats: dict[int, BatchedMoments],
        elapsed: float,
        block_size: int,
    ) -> None:
        self.network = network
        self.x = x
        self.networks = networks
        self.seed = seed
        self.method = method
        self.order = order
        self.layers = layers
        self.elapsed = elapsed
        self.block_size = block_size
        self._patterns = patterns
        self._index = {l: {p: c for c, p in enumerate(ps)} for l, ps in patterns.items()}
        self._stats = stats

    # ------------------------------------------------------------ bookkeeping
    @property
    def n_inputs(self) -> int:
        """N_D."""
        return self.x.shape[0]

    def _check_layer(self, layer: object) -> int:
        layer = check_layer(layer, self.network.depth, allow_input=False)
        if layer not in self._stats:
            msg = f"`layer` {layer} was not sampled; the sampled layers are {list(self.layers)}."
            raise ValueError(msg)
        return layer

    def _check_query(
        self, layer: object, neurons: Sequence[int], inputs: Sequence[int]
    ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        layer = self._check_layer(layer)
        neurons, inputs = check_correlator(
            neurons, inputs, layer=layer, width=self.network.widths[layer], n_inputs=self.n_inputs
        )
        if len(neurons) > self.order:
            msg = (
                f"`neurons` names {len(neurons)} points but this run estimated correlators up to "
                f"order={self.order}; sample again with order={len(neurons)} (at most 6)."
            )
            raise ValueError(msg)
        pattern = canonical_pattern(neurons, inputs)
        if pattern not in self._index[layer]:
            # Only odd patterns above ODD_UP_TO are left out.
            msg = (
                f"the correlator {pattern} has a neuron carrying an odd number of points; "
                "its expectation is exactly 0 by the sign symmetry z_i -> -z_i, and such "
                f"correlators are estimated only up to order {ODD_UP_TO}."
            )
            raise ValueError(msg)
        return layer, neurons, inputs

    def patterns(self, layer: int) -> tuple[Pattern, ...]:
        """The canonical patterns estimated at ``layer`` (column order of :meth:`features`)."""
        return self._patterns[self._check_layer(layer)]

    def features(self, layer: int) -> Estimate:
        """Moment estimates of every pattern of :meth:`patterns` (1-d arrays)."""
        return self._stats[self._check_layer(layer)].result()

    def stats(self, layer: int) -> BatchedMoments:
        """The raw accumulator of ``layer`` (a copy), for merging or custom estimators."""
        return self._stats[self._check_layer(layer)].merge(BatchedMoments(self._stats[layer].dim))

    # ------------------------------------------------------------ estimates
    def kernel(self, layer: int) -> Estimate:
        """``G^(layer)_{αβ} = E[z_{i;α} z_{i;β}]``: (N_D, N_D) mean and stderr."""
        layer = self._check_layer(layer)
        res = self._stats[layer].result()
        index = self._index[layer]
        n = self.n_inputs
        cols = np.array([[index[(tuple(sorted((a, b))),)] for b in range(n)] for a in range(n)])
        return Estimate(res.mean[cols], res.stderr[cols], res.count)

    def moment(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> Estimate:
        """``E[∏_k z^(layer)_{neurons[k]; inputs[k]}]`` with its standard error.

        Only the equality pattern of ``neurons`` matters. Orders up to the
        sampled ``order``; patterns in which a neuron carries an odd number of
        points (expectation exactly 0) are estimated up to order 4.
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        res = self._stats[layer].result()
        c = self._index[layer][canonical_pattern(neurons, inputs)]
        return Estimate(float(res.mean[c]), float(res.stderr[c]), res.count)

    def cumulant(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> Estimate:
        """The joint cumulant (connected correlator) of the same points.

        Computed from the estimated moments by the moment–cumulant formula
        over set partitions of the points. Proper sub-moments in which a
        neuron carries an odd number of points vanish exactly by the symmetry
        z_i → −z_i; they are set to 0 rather than estimated, which lowers the
        variance and removes terms that are pure noise. Standard error: the
        delete-one-batch jackknife over the 32 batches.
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        index = self._index[layer]
        rank = {i: k for k, i in enumerate(dict.fromkeys(neurons))}
        labels = tuple(rank[i] for i in neurons)  # relabel 0, 1, … so the cache stays small
        terms = [(c, [index[p] for p in subs]) for c, subs in _cumulant_terms(labels, inputs)]

        def g(means: np.ndarray, absolute: bool = False) -> np.ndarray:
            out = np.zeros(means.shape[:-1])
            for coef, cols in terms:
                part = np.full(means.shape[:-1], float(coef))
                for c in cols:
                    part = part * means[..., c]
                out = out + (np.abs(part) if absolute else part)
            return out

        return self._stats[layer].jackknife(g, scale=lambda m: g(m, absolute=True))

    def vertex(self, layer: int) -> Estimate:
        """``V^(layer)_{(αβ)(γδ)} = n_{layer-1} κ[z_{i;α} z_{i;β} z_{j;γ} z_{j;δ}]``, i ≠ j.

        Shape ``(N_D,)*4``; equals ``n_{l-1} Cov(Ĝ_{αβ}, Ĝ_{γδ})`` (THEORY.md §0).
        Needs ``order >= 4`` and ``n_layer >= 2``; jackknife standard errors.
        """
        layer = self._check_layer(layer)
        if self.order < 4:
            msg = f"`vertex` needs 4-point statistics; this run has order={self.order}. Sample with order >= 4."
            raise ValueError(msg)
        width = self.network.widths[layer]
        if width < 2:
            msg = f"`vertex` needs two distinct neurons; layer {layer} has n_{layer}={width}."
            raise ValueError(msg)
        index = self._index[layer]
        n = self.n_inputs
        shape = (n, n, n, n)
        four = np.empty(shape, dtype=np.intp)
        left = np.empty(shape, dtype=np.intp)
        right = np.empty(shape, dtype=np.intp)
        for a, b, c, d in np.ndindex(*shape):
            four[a, b, c, d] = index[canonical_pattern((0, 0, 1, 1), (a, b, c, d))]
            left[a, b, c, d] = index[(tuple(sorted((a, b))),)]
            right[a, b, c, d] = index[(tuple(sorted((c, d))),)]
        fan_in = float(self.network.widths[layer - 1])

        def g(means: np.ndarray) -> np.ndarray:
            return fan_in * (means[..., four] - means[..., left] * means[..., right])

        def scale(means: np.ndarray) -> np.ndarray:
            return fan_in * (np.abs(means[..., four]) + np.abs(means[..., left] * means[..., right]))

        return self._stats[layer].jackknife(g, scale=scale)

    # ------------------------------------------------------------ export
    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly summary: run description and per-layer kernels."""
        if isinstance(self.seed, np.random.SeedSequence):
            seed: object = {"entropy": self.seed.entropy, "spawn_key": list(self.seed.spawn_key)}
        else:
            seed = self.seed
        kernels = {}
        for layer in self.layers:
            k = self.kernel(layer)
            kernels[str(layer)] = {"mean": k.mean.tolist(), "stderr": k.stderr.tolist()}
        return {
            "network": self.network.describe(),
            "x": self.x.tolist(),
            "networks": self.networks,
            "seed": seed,
            "method": self.method,
            "order": self.order,
            "layers": list(self.layers),
            "block_size": self.block_size,
            "elapsed": self.elapsed,
            "kernel": kernels,
        }

    def __repr__(self) -> str:
        return (
            f"Estimates({self.network!r}, N_D={self.n_inputs}, networks={self.networks}, "
            f"method={self.method!r}, order={self.order}, layers={list(self.layers)})"
        )
