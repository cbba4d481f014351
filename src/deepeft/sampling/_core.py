"""The sampling driver: :func:`sample`."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._validate import check_choice, check_layer, check_positive_int, check_seed
from ..estimators import BatchedMoments
from ..network import Network
from ._estimates import Estimates
from ._methods import (
    METHODS,
    GaussianGivenKernel,
    LayerDraw,
    LayerFeatures,
    Preactivations,
    UniformOnSphere,
    _psd_factor,
    resolve_method,
)
from ._patterns import enumerate_patterns

__all__ = ["DEFAULT_METHOD", "ORDERS", "SamplingAccuracyWarning", "block_rng", "draw", "sample"]

#: Orders of correlators that can be estimated.
ORDERS: tuple[int, ...] = (2, 3, 4, 5, 6)
#: The default ``method``.
DEFAULT_METHOD = "auto"
#: Progress is reported about this many times per run (chunk_size default).
_PROGRESS_STEPS = 100


class SamplingAccuracyWarning(UserWarning):
    """Sampled preactivations or kernels left the float64 range (overflow, underflow, NaN).

    Raised by :func:`sample` and :func:`draw` when a recorded layer has non-finite
    values, a kernel that underflowed to exactly zero for a non-zero input, or
    magnitudes whose powers up to the sampled order under- or overflow. The
    estimates of that layer are then unreliable.
    """


def _can_vanish(net: Network) -> bool:
    """True when σ is zero on a whole half-line (ReLU-like): a layer can die with positive probability."""
    if net.activation.slopes is not None:
        return 0.0 in net.activation.slopes
    probe = net.activation(np.array([-2.0, -1.0, 1.0, 2.0]))
    return bool((probe[0] == 0 and probe[1] == 0) or (probe[2] == 0 and probe[3] == 0))


class _Health:
    """Counts networks whose recorded layers left the float64 range; warns once per layer."""

    def __init__(self, net: Network, x: np.ndarray, layers: Sequence[int], order: int) -> None:
        self.net = net
        self.order = order
        self.can_vanish = _can_vanish(net)
        sigma0_nonzero = bool(net.activation(np.zeros(1))[0] != 0)
        live = np.any(x != 0, axis=1)
        self.live: dict[int, np.ndarray] = {}
        for l in range(1, max(layers) + 1):
            live = live | (net.cb[l - 1] > 0) | (l > 1 and sigma0_nonzero)
            self.live[l] = live.copy()
        finfo = np.finfo(float)
        self.low = float(finfo.tiny) ** (2.0 / order)
        self.high = float(finfo.max) ** (2.0 / order)
        self.counts: dict[int, dict[str, int]] = {l: {"nonfinite": 0, "zero": 0, "range": 0} for l in layers}

    @staticmethod
    def _mean_squares(d: LayerDraw) -> np.ndarray:
        """Per network and input, the mean square of a neuron's preactivation: (networks, N_D)."""
        if isinstance(d, Preactivations):
            return np.mean(d.z * d.z, axis=1)
        if isinstance(d, GaussianGivenKernel):
            return np.diagonal(d.g, axis1=1, axis2=2)
        if isinstance(d, UniformOnSphere):
            return d.r2[:, None]
        msg = f"unknown layer draw {type(d).__name__}."  # pragma: no cover - internal
        raise TypeError(msg)

    def check(self, layer: int, d: LayerDraw) -> None:
        """Count the networks of one block whose layer ``layer`` left the float64 range."""
        g = self._mean_squares(d)
        c = self.counts[layer]
        finite = np.isfinite(g)
        self._bad = ~finite.all(axis=1)
        if not self.can_vanish:
            c["zero"] += int(np.count_nonzero(np.any((g == 0) & self.live[layer], axis=1)))
        off = finite & (((g > 0) & (g < self.low)) | (g > self.high))
        c["range"] += int(np.count_nonzero(off.any(axis=1)))

    def features(self, part: np.ndarray) -> np.ndarray:
        """Pass a run of features of the block just checked through, noting non-finite ones."""
        self._bad |= ~np.isfinite(part).all(axis=1)
        return part

    def done(self, layer: int) -> None:
        """End of a block's layer: add the networks with non-finite values or features."""
        self.counts[layer]["nonfinite"] += int(np.count_nonzero(self._bad))

    def warn(self, networks: int, stacklevel: int) -> None:
        for layer, c in self.counts.items():
            problems = []
            if c["nonfinite"]:
                problems.append(f"non-finite values (overflow or NaN) in {c['nonfinite']:,} networks")
            if c["zero"]:
                problems.append(f"a kernel that underflowed to exactly 0 in {c['zero']:,} networks")
            if c["range"]:
                problems.append(
                    f"preactivations so small or large that their powers up to order {self.order} "
                    f"under- or overflow in {c['range']:,} networks"
                )
            if problems:
                msg = (
                    f"layer {layer} of {networks:,} sampled networks has {'; '.join(problems)}: its estimates "
                    "are unreliable (float64 range exceeded). Record fewer layers (`layers=`), use wider "
                    "layers or a smaller depth, or work with log-space quantities (e.g. log Ĝ)."
                )
                warnings.warn(msg, SamplingAccuracyWarning, stacklevel=stacklevel + 1)


def block_rng(seed: int | np.random.SeedSequence, block: int) -> np.random.Generator:
    """The generator of random block ``block``: child ``block`` of ``SeedSequence(seed)``.

    Equal to ``np.random.default_rng(np.random.SeedSequence(seed).spawn(block + 1)[block])``.
    For a :class:`~numpy.random.SeedSequence` seed the child key is its
    ``spawn_key + (block,)`` (children it spawned before are ignored).
    """
    if isinstance(seed, np.random.SeedSequence):
        ss = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, block), pool_size=seed.pool_size)
    else:
        ss = np.random.SeedSequence(seed, spawn_key=(block,))
    return np.random.default_rng(ss)


def _check_layers(layers: object, depth: int) -> tuple[int, ...]:
    if layers is None:
        return tuple(range(1, depth + 1))
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [layers]
    if isinstance(layers, (str, bytes)) or not isinstance(layers, (Sequence, np.ndarray, range)):
        msg = f"`layers` must be None, a layer index or a sequence of layer indices in [1, {depth}], got {layers!r}."
        raise TypeError(msg)
    out = sorted({check_layer(l, depth, allow_input=False, name="layers") for l in layers})
    if not out:
        msg = f"`layers` must name at least one layer in [1, {depth}], got an empty sequence."
        raise ValueError(msg)
    return tuple(out)


def _to_preactivations(d: LayerDraw, width: int, rng: np.random.Generator) -> np.ndarray:
    """Preactivations ``(networks, width, N_D)`` with the law that ``d`` describes, drawn from ``rng``."""
    if isinstance(d, Preactivations):
        return np.array(d.z, dtype=float)
    if isinstance(d, GaussianGivenKernel):
        g = np.asarray(d.g)
        noise = rng.standard_normal((g.shape[0], width, g.shape[1]))
        if g.shape[1] == 1:
            return noise * np.sqrt(g[:, :, 0])[:, None, :]
        return np.matmul(noise, _psd_factor(g).transpose(0, 2, 1))
    if isinstance(d, UniformOnSphere):
        u = rng.standard_normal((d.r2.shape[0], width))
        u *= (np.sqrt(d.r2) / np.sqrt(np.einsum("bi,bi->b", u, u)))[:, None]
        return u[:, :, None]
    msg = f"unknown layer draw {type(d).__name__}."  # pragma: no cover - internal
    raise TypeError(msg)


def _check_run(
    net: object, x: object, networks: object, seed: object, method: object
) -> tuple[np.ndarray, int, int | np.random.SeedSequence, str]:
    """Arguments shared by :func:`sample` and :func:`draw`: validated inputs, count, seed, method."""
    if not isinstance(net, Network):
        msg = f"`net` must be a deepeft.Network, got {type(net).__name__}."
        raise TypeError(msg)
    xarr = net.check_inputs(np.ones(net.n0) if x is None else x)
    networks = check_positive_int("networks", networks)
    seed = check_seed(seed)
    method = check_choice("method", method, ("auto", *METHODS))
    return xarr, networks, seed, method


def draw(
    net: Network,
    x: object = None,
    networks: int = 1_000,
    seed: int | np.random.SeedSequence = 0,
    method: str = DEFAULT_METHOD,
    layer: int | None = None,
) -> np.ndarray:
    """Raw preactivations of one layer for ``networks`` random networks.

    Parameters
    ----------
    net : Network
        The ensemble.
    x : array_like, shape (N_D, n_0) or (n_0,), optional
        The inputs; default one input of ones.
    networks : int, default 1_000
        Number of independent networks.
    seed : int >= 0 or numpy.random.SeedSequence, default 0
        Fixes the result (together with ``networks`` and the method that runs).
    method : str, default ``"auto"``
        As in :func:`sample`. Every method gives the exact law of ``z^(l)``:
        ``"dense"`` returns the preactivations it computes; ``"conditional"``
        (Gaussian weights) draws the rows of ``z^(l)`` i.i.d. ``N(0, Ĝ^(l))``
        given its sampled kernel; ``"radial"`` draws the rows ``N(0, Ĝ^(l))``
        given its kernel (Gaussian weights) or ``z^(l) = r u`` with ``u``
        uniform on the unit sphere given its radius (Haar weights).
    layer : int, optional
        The layer (1..L); default the last.

    Returns
    -------
    ndarray, shape (networks, n_layer, N_D)
        ``z[k, i, α]``: network k, neuron i, input α.

    Notes
    -----
    Networks come in the same random blocks as in :func:`sample` (block ``b``
    from :func:`block_rng` ``(seed, b)``, the method's block size); the extra
    draws that turn a kernel or a radius into coordinates come from the same
    block generator after the method's own draws. A
    :class:`SamplingAccuracyWarning` is issued when the layer leaves the float64
    range.

    Examples
    --------
    >>> import deepeft
    >>> from deepeft.sampling import draw
    >>> z = draw(deepeft.Network([1, 8, 8]), networks=100, seed=1)
    >>> z.shape
    (100, 8, 1)
    """
    xarr, networks, seed, method = _check_run(net, x, networks, seed, method)
    layer = net.depth if layer is None else check_layer(layer, net.depth, allow_input=False)
    sampler = resolve_method(method, net, xarr)
    block = sampler.block_size(net, xarr.shape[0])
    width = net.widths[layer]
    out = np.empty((networks, width, xarr.shape[0]))
    health = _Health(net, xarr, (layer,), 2)
    with np.errstate(all="ignore"):
        for b in range(math.ceil(networks / block)):
            start = b * block
            count = min(block, networks - start)
            rng = block_rng(seed, b)
            z = _to_preactivations(sampler.draw_block(net, xarr, rng, count, (layer,))[layer], width, rng)
            health.check(layer, Preactivations(z))
            health.done(layer)
            out[start : start + count] = z
    health.warn(networks, stacklevel=2)
    return out


#: Seconds a run must have taken before its progress bar is shown.
SHOW_AFTER = 1.0


@contextmanager
def _progress_bar(enabled: bool, total: int, label: str) -> Iterator[Any]:
    """A rich progress bar (networks, networks/s) or a no-op with the same ``advance``."""
    if not enabled:

        class _NoBar:
            def advance(self, n: int) -> None:
                pass

        yield _NoBar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} networks/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # The bar appears only once a run has taken longer than SHOW_AFTER seconds:
    # quick runs stay silent.
    bar = Progress(*columns, console=Console(stderr=True))
    task = bar.add_task(label, total=total, rate="—")
    start = time.perf_counter()
    done = 0
    shown = False

    class _Bar:
        def advance(self, n: int) -> None:
            nonlocal done, shown
            done += n
            elapsed = time.perf_counter() - start
            rate = done / max(elapsed, 1e-9)
            bar.update(task, advance=n, rate=f"{rate:,.0f}")
            if not shown and elapsed >= SHOW_AFTER and done < total:
                bar.start()
                shown = True

    try:
        yield _Bar()
    finally:
        if shown:
            bar.refresh()
            bar.stop()


def sample(
    net: Network,
    x: object = None,
    networks: int = 10_000,
    seed: int | np.random.SeedSequence = 0,
    method: str = DEFAULT_METHOD,
    chunk_size: int | None = None,
    order: int = 4,
    layers: int | Sequence[int] | None = None,
    progress: bool = False,
) -> Estimates:
    """Monte Carlo estimates of preactivation statistics, with standard errors.

    Parameters
    ----------
    net : Network
        The ensemble.
    x : array_like, shape (N_D, n_0) or (n_0,), optional
        The inputs; default one input of ones (``G^(0) = 1``).
    networks : int, default 10_000
        Number of independent networks to draw.
    seed : int >= 0 or numpy.random.SeedSequence, default 0
        Fixes every number of the result (together with ``networks`` and the
        method that runs).
    method : str, default ``"auto"``
        How networks are drawn (all are exact in law):

        * ``"dense"``: full weight matrices ``W ~ N(0, C_W/n_{l-1})`` (Haar
          ``√C_W·O`` for ``init="orthogonal"``, square layers only) and
          biases; any activation, inputs and weights. The reference.
        * ``"conditional"``: layer by layer given the previous layer, O(n·N_D)
          draws per layer instead of O(n²). Gaussian weights: the rows of
          ``z^(l+1)`` are i.i.d. ``N(0, Ĝ^(l+1))``,
          ``Ĝ^(l+1) = C_b + (C_W/n_l) σ(Z)ᵀσ(Z)`` (THEORY.md §0). Haar weights
          (square layers, N_D ≤ n): ``O σ(Z)`` has the law of ``F C`` with F a
          uniformly random orthonormal n × N_D frame and ``CᵀC = σ(Z)ᵀσ(Z)``.
        * ``"radial"``: one input. Gaussian weights with a positively
          homogeneous σ (linear, ReLU, leaky ReLU), any biases: the kernel
          evolves by independent χ² factors, O(1) draws per layer.
          Haar weights without biases (square layers, any σ): the layer is
          uniform on a sphere, only its radius is tracked.
        * ``"auto"``: the first of radial, conditional, dense that applies.
    chunk_size : int, optional
        Networks per processing step, rounded up to whole random blocks.
        Each step draws and reduces its blocks one after another and then
        reports progress; the result does not depend on it (see Notes).
        Default: about 1 % of the run.
    order : int in 2..6, default 4
        Highest order of correlators to estimate.
    layers : int or sequence of int, optional
        Layers (1..L) to record; default all. Deeper layers are never drawn.
    progress : bool, default False
        Show a progress bar (networks done, networks/s) on stderr.

    Returns
    -------
    Estimates

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it and what is allowed; ``ValueError``
        also when ``method`` does not apply to the network (listing those
        that do).

    Warns
    -----
    SamplingAccuracyWarning
        Once per recorded layer whose preactivations or kernels left the
        float64 range (non-finite, underflowed to 0, or powers up to ``order``
        out of range) in some networks; its estimates are then unreliable.

    Notes
    -----
    **Reproducibility.** Networks come in random *blocks*: block ``b`` holds
    networks ``b·B … b·B + B − 1`` and is drawn from
    ``np.random.default_rng(SeedSequence(seed, spawn_key=(b,)))`` (see
    :func:`block_rng`). The block size ``B`` depends only on the method, the
    network and N_D (:attr:`Estimates.block_size`; dense: one layer's weights
    for a block stay within 32 MiB, at most 256 networks). Each block is
    reduced on its own and the blocks are merged in order, so the estimates
    are **bit-identical for every** ``chunk_size``. Runs with more networks
    share all complete blocks of a shorter run with the same seed.

    **Estimators.** For each layer and each *pattern* (the canonical form of
    ``(neurons, inputs)``, see :func:`deepeft._combinatorics.canonical_pattern`)
    of order ≤ ``order``, each network contributes one statistic:

    * ``dense``: the U-statistic, the average over ordered tuples of
      *distinct* neurons of the product of preactivations, computed from
      power sums ``S(m) = Σ_i ∏_{α∈m} z_{i;α}`` by Möbius inversion over set
      partitions;
    * ``conditional`` (Gaussian weights) and ``radial``: its exact
      conditional expectation given the previous layer (Rao–Blackwellisation;
      unbiased for the same moment, never larger variance): Isserlis' pairing
      sum in Ĝ^(l) for Gaussian weights, the uniform-sphere moments
      ``∏(|b|−1)!! r^M/∏_{s<M/2}(n+2s)`` for Haar weights;
    * ``conditional`` with Haar weights: the U-statistic of the drawn layer.

    Patterns of every order ≤ min(order, 4) are kept, including those where
    some neuron carries an odd number of points (expectation exactly 0: a
    check); above order 4 only patterns in which every neuron carries an even
    number of points. Patterns needing more distinct neurons than a layer
    has are skipped there. Standard errors come from the spread of the
    per-network statistics across networks (neurons within a network are
    dependent); nonlinear functions of moments use a jackknife over 32
    batches (network index mod 32).

    Examples
    --------
    >>> import deepeft
    >>> net = deepeft.Network([4, 16, 16], cw=1.0)
    >>> est = deepeft.sample(net, networks=2_000, seed=1, method="dense")
    >>> est.kernel(2).mean.shape
    (1, 1)
    """
    xarr, networks, seed, method = _check_run(net, x, networks, seed, method)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        kind = type(order).__name__
        msg = f"`order` must be an integer in {list(ORDERS)}, got {order!r} of type {kind}."
        raise TypeError(msg)
    if int(order) not in ORDERS:
        msg = f"`order` must be an integer in {list(ORDERS)}, got {order}."
        raise ValueError(msg)
    order = int(order)
    layers_t = _check_layers(layers, net.depth)
    if not isinstance(progress, bool):
        msg = f"`progress` must be True or False, got {progress!r}."
        raise TypeError(msg)

    sampler = resolve_method(method, net, xarr)
    n_inputs = xarr.shape[0]
    block = sampler.block_size(net, n_inputs)
    n_blocks = math.ceil(networks / block)
    if chunk_size is None:
        blocks_per_chunk = max(1, math.ceil(n_blocks / _PROGRESS_STEPS))
    else:
        blocks_per_chunk = max(1, math.ceil(chunk_size / block))

    base = enumerate_patterns(n_inputs, order)
    patterns = {l: tuple(p for p in base if len(p) <= net.widths[l]) for l in layers_t}
    featurize = {l: LayerFeatures(patterns[l], net.widths[l], n_inputs, order, rows=block) for l in layers_t}
    stats = {l: BatchedMoments(len(patterns[l])) for l in layers_t}
    health = _Health(net, xarr, layers_t, order)

    start_time = time.perf_counter()
    # Leaving the float64 range is reported once per layer by SamplingAccuracyWarning.
    with _progress_bar(progress, networks, f"sampling ({sampler.name})") as bar, np.errstate(all="ignore"):
        for first in range(0, n_blocks, blocks_per_chunk):
            done = 0
            for b in range(first, min(first + blocks_per_chunk, n_blocks)):
                start = b * block
                count = min(block, networks - start)
                draws = sampler.draw_block(net, xarr, block_rng(seed, b), count, layers_t)
                for l in layers_t:
                    health.check(l, draws[l])
                    parts = ((f, health.features(part)) for f, part in featurize[l].parts(draws[l]))
                    stats[l].update_parts(parts, count, start)
                    health.done(l)
                done += count
            bar.advance(done)
    elapsed = time.perf_counter() - start_time
    health.warn(networks, stacklevel=2)
    return Estimates(
        network=net,
        x=xarr,
        networks=networks,
        seed=seed,
        method=sampler.name,
        order=order,
        layers=layers_t,
        patterns=patterns,
        stats=stats,
        elapsed=elapsed,
        block_size=block,
    )
