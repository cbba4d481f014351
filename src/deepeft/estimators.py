"""Mergeable Monte Carlo accumulators and the :class:`Estimate` they produce.

The samplers reduce every network to a vector of per-network statistics
(U-statistics over distinct neurons, or their conditional expectations) and
feed those rows to the accumulators here. Nothing here depends on how many
networks were drawn: memory is O(dimension), results are read on demand.

* :class:`StreamingMoments` keeps the count, the mean and the centred sum of
  squares ``M2`` of its rows and merges with another accumulator by the
  Chan–Golub–LeVeque / Pébay update. Merging is associative up to float
  rounding, so chunks may be reduced in any grouping.
* :class:`BatchedMoments` keeps one such accumulator per *batch* of networks
  (network ``g`` belongs to batch ``g mod n_batches``). Its overall moments are
  the merge of the batches; nonlinear functions of the means (cumulants,
  vertices) get a delete-one-batch jackknife standard error.
* :class:`Estimate` is what users see: ``mean``, ``stderr``, ``count``.

References
----------
T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances" (1979); P. Pébay, "Formulas for
robust, one-pass parallel computation of covariances and arbitrary-order
statistical moments", Sandia report SAND2008-6212.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["N_BATCHES", "ROUNDING", "BatchedMoments", "Estimate", "StreamingMoments"]

#: Number of batches used for jackknife standard errors.
N_BATCHES: int = 32

#: Relative floor on standard errors: float64 rounding (64 ulp). A quantity the
#: sampler computes exactly (zero variance, e.g. a first-layer kernel) reports
#: this rounding error instead of 0, so that ``Estimate.z`` stays meaningful.
ROUNDING: float = 64 * float(np.finfo(float).eps)


# --------------------------------------------------------------------- Estimate
def _format_pair(mean: float, stderr: float) -> str:
    """``"1.234 ± 0.005"``: the mean to the precision of its standard error."""
    if not (math.isfinite(stderr) and stderr > 0):
        return f"{mean:.6g} ± {stderr:.2g}"
    if not math.isfinite(mean):
        return f"{mean} ± {stderr:.2g}"
    scale = max(abs(mean), stderr)
    if scale >= 1e6 or scale < 1e-4:
        # Scientific notation with the mantissa to the stderr's precision.
        exp = math.floor(math.log10(scale))
        digits = max(0, exp - math.floor(math.log10(stderr)) + 1)
        return f"{mean:.{digits}e} ± {stderr:.1e}"
    first = math.floor(math.log10(stderr))
    lead = stderr / 10.0**first
    decimals = max(0, -first + (1 if lead < 3 else 0))
    if decimals > 8:
        return f"{mean:.10g} ± {stderr:.1e}"
    return f"{mean:.{decimals}f} ± {stderr:.{decimals}f}"


@dataclass(frozen=True, eq=False)
class Estimate:
    """A Monte Carlo estimate with its standard error.

    Attributes
    ----------
    mean : float or ndarray
        The estimate.
    stderr : float or ndarray
        Its standard error (same shape as ``mean``). Where the sampler
        computes the quantity exactly (e.g. a first-layer kernel given the
        inputs) it is the float64 rounding error (:data:`ROUNDING` relative),
        exactly 0 for a quantity that is identically 0; NaN where it cannot be
        estimated from the data (fewer than two networks or batches).
    count : int
        Number of networks behind the estimate.

    Examples
    --------
    >>> Estimate(1.2341, 0.0052, 1000)
    1.234 ± 0.005
    """

    mean: float | np.ndarray
    stderr: float | np.ndarray
    count: int

    def z(self, theory: object) -> float | np.ndarray:
        """``(mean − theory) / stderr``: the deviation in standard errors.

        Where ``stderr`` is 0 the result is 0 if ``mean == theory`` exactly and
        ±inf otherwise.
        """
        diff = np.asarray(self.mean, dtype=float) - np.asarray(theory, dtype=float)
        se = np.broadcast_to(np.asarray(self.stderr, dtype=float), diff.shape)
        out = np.zeros(np.broadcast(diff, se).shape)
        nonzero = se != 0
        np.divide(diff, se, out=out, where=nonzero)
        zero_se = ~nonzero & (diff != 0)
        out[zero_se] = np.copysign(np.inf, np.broadcast_to(diff, out.shape)[zero_se])
        return float(out) if out.ndim == 0 else out

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``mean`` (``()`` for a scalar)."""
        return np.shape(self.mean)

    def __getitem__(self, index: object) -> Estimate:
        mean = np.asarray(self.mean)[index]  # type: ignore[index]
        stderr = np.asarray(self.stderr)[index]  # type: ignore[index]
        if np.ndim(mean) == 0:
            return Estimate(float(mean), float(stderr), self.count)
        return Estimate(mean, stderr, self.count)

    def __repr__(self) -> str:
        if np.ndim(self.mean) == 0:
            return _format_pair(float(self.mean), float(self.stderr))
        mean = np.asarray(self.mean, dtype=float)
        se = np.broadcast_to(np.asarray(self.stderr, dtype=float), mean.shape)
        cells = np.empty(mean.shape, dtype=object)
        for idx in np.ndindex(mean.shape):
            cells[idx] = _format_pair(float(mean[idx]), float(se[idx]))
        body = np.array2string(cells, formatter={"all": str}, separator=", ", max_line_width=120)
        return f"Estimate(count={self.count},\n{body})"


# ------------------------------------------------------------ StreamingMoments
def _chan_merge(
    n_a: np.ndarray,
    mean_a: np.ndarray,
    m2_a: np.ndarray,
    n_b: np.ndarray,
    mean_b: np.ndarray,
    m2_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise merge of (count, mean, M2) triples; counts broadcast against the last axis."""
    n = n_a + n_b
    safe = np.where(n > 0, n, 1).astype(float)
    w_b = (n_b / safe)[..., None]
    w_ab = (n_a * (n_b / safe))[..., None]
    delta = mean_b - mean_a
    mean = mean_a + delta * w_b
    m2 = m2_a + m2_b + delta * delta * w_ab
    return n, mean, m2


def _moments_of_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and centred sum of squares over axis 0."""
    mean = rows.mean(axis=0)
    dev = rows - mean
    return mean, (dev * dev).sum(axis=0)


class StreamingMoments:
    """Running count, mean and centred second moment of a stream of vectors.

    Parameters
    ----------
    dim : int
        Length of each row.

    Notes
    -----
    ``update`` folds a batch of rows in; ``merge`` combines two accumulators
    (Chan et al. 1979; Pébay 2008)::

        n = n_a + n_b,  δ = mean_b − mean_a,
        mean = mean_a + δ n_b / n,  M2 = M2_a + M2_b + δ² n_a n_b / n.

    The update is exact in exact arithmetic and associative up to float
    rounding. Memory is independent of the number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> acc = StreamingMoments(2).update(np.array([[1.0, 2.0], [3.0, 6.0]]))
    >>> acc.result().mean
    array([2., 4.])
    """

    __slots__ = ("count", "dim", "m2", "mean")

    def __init__(self, dim: int) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 0:
            msg = f"`dim` must be a non-negative integer, got {dim!r}."
            raise ValueError(msg)
        self.dim = int(dim)
        self.count = 0
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros(self.dim)

    def _check_rows(self, rows: object) -> np.ndarray:
        arr = np.asarray(rows, dtype=float)
        if arr.ndim == 1 and self.dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            msg = f"`batch` must have shape (rows, {self.dim}), got {arr.shape}."
            raise ValueError(msg)
        return arr

    def update(self, batch: object) -> StreamingMoments:
        """Fold the rows of ``batch`` (shape ``(rows, dim)``) in; returns ``self``."""
        rows = self._check_rows(batch)
        if rows.shape[0] == 0:
            return self
        mean_b, m2_b = _moments_of_rows(rows)
        n, mean, m2 = _chan_merge(np.asarray(self.count), self.mean, self.m2, np.asarray(rows.shape[0]), mean_b, m2_b)
        self.count, self.mean, self.m2 = int(n), mean, m2
        return self

    def merge(self, other: StreamingMoments) -> StreamingMoments:
        """A new accumulator holding the rows of both (neither is modified)."""
        if not isinstance(other, StreamingMoments):
            msg = f"`other` must be a StreamingMoments, got {type(other).__name__}."
            raise TypeError(msg)
        if other.dim != self.dim:
            msg = f"cannot merge accumulators of dimension {self.dim} and {other.dim}."
            raise ValueError(msg)
        out = StreamingMoments(self.dim)
        n, mean, m2 = _chan_merge(
            np.asarray(self.count),
            self.mean,
            self.m2,
            np.asarray(other.count),
            other.mean,
            other.m2,
        )
        out.count, out.mean, out.m2 = int(n), mean, m2
        return out

    def copy(self) -> StreamingMoments:
        """An independent copy."""
        out = StreamingMoments(self.dim)
        out.count, out.mean, out.m2 = self.count, self.mean.copy(), self.m2.copy()
        return out

    def variance(self) -> np.ndarray:
        """Sample variance of the rows (``ddof=1``); NaN with fewer than two rows."""
        if self.count < 2:
            return np.full(self.dim, np.nan)
        return self.m2 / (self.count - 1)

    def result(self) -> Estimate:
        """``Estimate(mean, stderr = sqrt(var / count), count)``."""
        if self.count < 2:
            stderr = np.full(self.dim, np.nan)
        else:
            stderr = np.sqrt(np.maximum(self.m2, 0.0) / ((self.count - 1) * self.count))
            stderr = np.maximum(stderr, ROUNDING * np.abs(self.mean))
        return Estimate(self.mean.copy(), stderr, self.count)

    def __repr__(self) -> str:
        return f"StreamingMoments(dim={self.dim}, count={self.count})"


# --------------------------------------------------------------- BatchedMoments
class BatchedMoments:
    """Per-batch streaming moments for jackknife standard errors.

    Row ``j`` of an update that starts at global network index ``start``
    belongs to batch ``(start + j) mod n_batches``. Batches are therefore
    interleaved and each holds an independent share of the networks.

    Parameters
    ----------
    dim : int
        Length of each row (number of per-network statistics).
    n_batches : int, default :data:`N_BATCHES`
        Number of batches.

    Notes
    -----
    For a smooth function ``g`` of the means, :meth:`jackknife` returns
    ``g(overall means)`` with the delete-one-batch jackknife error

    .. math:: \\mathrm{se}^2 = \\frac{B-1}{B}\\sum_b (g_{-b} - \\bar g)^2 ,

    where ``g_{-b}`` is ``g`` of the means without batch ``b`` and ``B`` is the
    number of non-empty batches. For a linear ``g`` and equal batch sizes this
    is the batch-means standard error ``std(batch means) / sqrt(B)``.
    """

    __slots__ = ("counts", "dim", "m2", "means", "n_batches")

    def __init__(self, dim: int, n_batches: int = N_BATCHES) -> None:
        if isinstance(n_batches, bool) or not isinstance(n_batches, (int, np.integer)) or n_batches < 2:
            msg = f"`n_batches` must be an integer >= 2, got {n_batches!r}."
            raise ValueError(msg)
        self.dim = StreamingMoments(dim).dim
        self.n_batches = int(n_batches)
        self.counts = np.zeros(self.n_batches, dtype=np.int64)
        self.means = np.zeros((self.n_batches, self.dim))
        self.m2 = np.zeros((self.n_batches, self.dim))

    def update(self, rows: np.ndarray, start: int = 0) -> BatchedMoments:
        """Fold in rows for networks ``start, start+1, …``; returns ``self``.

        The reduction of a given block of rows does not depend on anything but
        the rows and ``start``, so the same blocks fed in the same order give
        bit-identical accumulators.
        """
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            msg = f"`rows` must have shape (rows, {self.dim}), got {rows.shape}."
            raise ValueError(msg)
        return self.update_parts([(0, rows)], rows.shape[0], start)

    def update_parts(
        self,
        parts: Iterable[tuple[int, np.ndarray]],
        n_rows: int,
        start: int = 0,
    ) -> BatchedMoments:
        """Like :meth:`update`, with the rows given as runs of columns.

        ``parts`` yields ``(first column, array of shape (n_rows, k))`` covering
        columns ``0 … dim−1`` in order, so that only one run of columns needs to
        be in memory at a time. Every column is reduced on its own, so the
        result is bit-identical to :meth:`update` with the whole rows.
        """
        m, nb = int(n_rows), self.n_batches
        if m == 0:
            return self
        fast = start % nb == 0 and m % nb == 0
        if fast:
            counts = np.full(nb, m // nb, dtype=np.int64)
            ids = None
        else:
            ids = (start + np.arange(m)) % nb
            counts = np.bincount(ids, minlength=nb).astype(np.int64)
        new_means, new_m2 = self.means.copy(), self.m2.copy()
        done = 0
        for first, part in parts:
            arr = np.asarray(part, dtype=float)
            if first != done or arr.ndim != 2 or arr.shape[0] != m or done + arr.shape[1] > self.dim:
                msg = (
                    f"`parts` must cover columns 0..{self.dim - 1} in order with {m} rows each; "
                    f"got columns from {first} of shape {arr.shape} after {done} columns."
                )
                raise ValueError(msg)
            k = arr.shape[1]
            cols = slice(first, first + k)
            if fast:
                stacked = arr.reshape(m // nb, nb, k)
                means = stacked.mean(axis=0)
                dev = stacked - means
                m2 = (dev * dev).sum(axis=0)
            else:
                means = np.zeros((nb, k))
                m2 = np.zeros((nb, k))
                for b in range(nb):
                    sel = arr[ids == b]
                    if sel.shape[0]:
                        means[b], m2[b] = _moments_of_rows(sel)
            _, new_means[:, cols], new_m2[:, cols] = _chan_merge(
                self.counts, self.means[:, cols], self.m2[:, cols], counts, means, m2
            )
            done += k
        if done != self.dim:
            msg = f"`parts` must cover columns 0..{self.dim - 1}; they ended after {done} columns."
            raise ValueError(msg)
        self.counts, self.means, self.m2 = self.counts + counts, new_means, new_m2
        return self

    def merge(self, other: BatchedMoments) -> BatchedMoments:
        """A new accumulator holding the rows of both, batch by batch."""
        if not isinstance(other, BatchedMoments):
            msg = f"`other` must be a BatchedMoments, got {type(other).__name__}."
            raise TypeError(msg)
        if (other.dim, other.n_batches) != (self.dim, self.n_batches):
            msg = (
                f"cannot merge BatchedMoments of (dim, n_batches) = {(self.dim, self.n_batches)} "
                f"and {(other.dim, other.n_batches)}."
            )
            raise ValueError(msg)
        out = BatchedMoments(self.dim, self.n_batches)
        out.counts, out.means, out.m2 = _chan_merge(
            self.counts, self.means, self.m2, other.counts, other.means, other.m2
        )
        return out

    @property
    def count(self) -> int:
        """Total number of rows."""
        return int(self.counts.sum())

    def total(self) -> StreamingMoments:
        """All batches merged, in batch order."""
        acc = StreamingMoments(self.dim)
        for b in range(self.n_batches):
            part = StreamingMoments(self.dim)
            part.count, part.mean, part.m2 = int(self.counts[b]), self.means[b], self.m2[b]
            acc = acc.merge(part)
        return acc

    def result(self) -> Estimate:
        """Means, with standard errors from the per-row variance (see StreamingMoments)."""
        return self.total().result()

    def leave_one_out_means(self) -> np.ndarray:
        """Means without batch ``b``, shape ``(non-empty batches, dim)`` (empty ones dropped)."""
        keep = self.counts > 0
        counts = self.counts[keep].astype(float)
        sums = self.means[keep] * counts[:, None]
        total = sums.sum(axis=0)
        n = counts.sum()
        rest = n - counts
        safe = np.where(rest > 0, rest, 1.0)
        return (total - sums) / safe[:, None]

    def jackknife(
        self,
        g: Callable[[np.ndarray], np.ndarray],
        scale: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Estimate:
        """``g(means)`` with a delete-one-batch jackknife standard error.

        Parameters
        ----------
        g : callable
            Maps an array of means of shape ``(..., dim)`` to values of shape
            ``(...,) + out_shape``; it is called once on the overall means
            (shape ``(dim,)``) and once on the leave-one-out means (shape
            ``(B, dim)``).
        scale : callable, optional
            Same signature; the magnitude of the terms that ``g`` adds up
            (default ``|g|``). The standard error is floored at
            :data:`ROUNDING` times it, the float64 rounding of ``g``.
        """
        value = np.asarray(g(self.total().mean), dtype=float)
        loo = np.asarray(g(self.leave_one_out_means()), dtype=float)
        n_b = loo.shape[0]
        if n_b < 2:
            stderr = np.full(value.shape, np.nan)
        else:
            dev = loo - loo.mean(axis=0)
            stderr = np.sqrt((n_b - 1) / n_b * (dev * dev).sum(axis=0))
            size = np.abs(value) if scale is None else np.abs(np.asarray(scale(self.total().mean), dtype=float))
            stderr = np.maximum(stderr, ROUNDING * size)
        if value.ndim == 0:
            return Estimate(float(value), float(stderr), self.count)
        return Estimate(value, stderr, self.count)

    def __repr__(self) -> str:
        return f"BatchedMoments(dim={self.dim}, n_batches={self.n_batches}, count={self.count})"
