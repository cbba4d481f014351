"""Which correlators are estimated, and how each one is computed per network.

A *pattern* (see :mod:`deepeft._combinatorics`) is a sorted tuple of blocks,
one block per distinct neuron, each block the sorted tuple of the input
indices that neuron carries. For one network the estimator of the pattern's
moment is a polynomial in a few per-network columns; this module builds the
polynomials once and evaluates them for a whole block of networks at a time.

Three polynomials are used, depending on what the sampler hands over:

* :func:`ustat_terms`: the U-statistic over distinct neurons, from the power
  sums ``S(m) = Σ_i ∏_{α∈m} z_{i;α}`` (columns: one per multiset ``m`` of
  inputs) by Möbius inversion over set partitions of the blocks.
* :func:`pairing_terms`: the conditional expectation given the stochastic
  kernel Ĝ when the rows of z are i.i.d. ``N(0, Ĝ)`` (Gaussian weights):
  Isserlis within each block, product over blocks (columns: the entries
  ``Ĝ_{αβ}``, α ≤ β).
* :func:`sphere_terms`: the conditional expectation given the squared radius
  ``r²`` when z is uniform on a sphere in ``n`` dimensions (Haar weights, one
  input, no biases): ``∏_b (|b|-1)!! · r^M / ∏_{s<M/2} (n + 2s)`` for blocks
  of even size, 0 otherwise (column: ``r²``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import combinations_with_replacement, product
from math import prod

import numpy as np
from scipy import sparse

from .._combinatorics import matchings, mobius_coefficient, set_partitions

__all__ = [
    "ODD_UP_TO",
    "TermTable",
    "chunked_tables",
    "enumerate_patterns",
    "is_even",
    "kernel_entries",
    "multisets",
    "pairing_terms",
    "pattern_order",
    "sphere_terms",
    "ustat_terms",
]

Pattern = tuple[tuple[int, ...], ...]

#: Patterns with a neuron carrying an odd number of points (expectation 0 by
#: the sign symmetry z_i → −z_i) are estimated up to this total order.
ODD_UP_TO: int = 4


def pattern_order(pattern: Pattern) -> int:
    """M, the number of points."""
    return sum(len(b) for b in pattern)


def is_even(pattern: Pattern) -> bool:
    """True when every neuron carries an even number of points."""
    return all(len(b) % 2 == 0 for b in pattern)


@cache
def multisets(n_inputs: int, order: int) -> tuple[tuple[int, ...], ...]:
    """All multisets (sorted tuples) of input indices of size 1..order, by size."""
    out: list[tuple[int, ...]] = []
    for s in range(1, order + 1):
        out.extend(combinations_with_replacement(range(n_inputs), s))
    return tuple(out)


@cache
def _multiset_column(n_inputs: int, order: int) -> dict[tuple[int, ...], int]:
    """Column index of each multiset of :func:`multisets` ``(n_inputs, order)``."""
    return {m: c for c, m in enumerate(multisets(n_inputs, order))}


@cache
def kernel_entries(n_inputs: int) -> tuple[tuple[int, int], ...]:
    """Upper-triangular kernel entries (α, β), α ≤ β, in row-major order."""
    return tuple((a, b) for a in range(n_inputs) for b in range(a, n_inputs))


@cache
def enumerate_patterns(n_inputs: int, order: int) -> tuple[Pattern, ...]:
    """The patterns estimated by a run of the given ``order``.

    All patterns of total order ``M <= min(order, ODD_UP_TO)``, plus the
    patterns of order ``ODD_UP_TO < M <= order`` in which every neuron carries
    an even number of points (the others vanish exactly by symmetry). Sorted
    by order, then number of distinct neurons, then lexicographically.
    """
    blocks = sorted(multisets(n_inputs, order), key=lambda b: (len(b), b))
    out: list[Pattern] = []

    def extend(prefix: list[tuple[int, ...]], start: int, remaining: int, even_only: bool) -> None:
        if remaining == 0:
            out.append(tuple(prefix))
            return
        for k in range(start, len(blocks)):
            b = blocks[k]
            if len(b) > remaining:
                break
            if even_only and len(b) % 2:
                continue
            prefix.append(b)
            extend(prefix, k, remaining - len(b), even_only)
            prefix.pop()

    for m in range(1, order + 1):
        if m > ODD_UP_TO and m % 2:
            continue
        extend([], 0, m, m > ODD_UP_TO)
    return tuple(sorted(out, key=lambda p: (pattern_order(p), len(p), p)))


# ------------------------------------------------------------------ term tables
Terms = dict[tuple[int, ...], float]  # sorted column indices -> coefficient


@cache
def _ustat_integer_terms(pattern: Pattern, n_inputs: int, order: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Σ over distinct neurons as Σ_P μ(P) ∏_{Q∈P} S(⊎_{b∈Q} m_b), merged by monomial."""
    column = _multiset_column(n_inputs, order)
    acc: dict[tuple[int, ...], int] = {}
    for part in set_partitions(range(len(pattern))):
        coef = mobius_coefficient([len(q) for q in part])
        cols = tuple(sorted(column[tuple(sorted(a for b in q for a in pattern[b]))] for q in part))
        acc[cols] = acc.get(cols, 0) + coef
    return tuple((k, v) for k, v in sorted(acc.items()) if v != 0)


def ustat_terms(pattern: Pattern, n_inputs: int, order: int, width: int) -> Terms:
    """U-statistic of ``pattern`` over ``width`` neurons in power-sum columns.

    Columns are indexed by :func:`multisets` ``(n_inputs, order)``. The result
    is the average over ordered tuples of distinct neurons, i.e. the sum is
    divided by the falling factorial ``(width)_k``, k = number of blocks.
    """
    k = len(pattern)
    if k > width:
        msg = f"pattern {pattern} needs {k} distinct neurons, the layer has {width}."
        raise ValueError(msg)
    falling = prod(range(width - k + 1, width + 1))
    return {cols: coef / falling for cols, coef in _ustat_integer_terms(pattern, n_inputs, order)}


@cache
def _pairings_of_block(block: tuple[int, ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(
        tuple(sorted((min(block[p], block[q]), max(block[p], block[q])) for p, q in pi)) for pi in matchings(len(block))
    )


def pairing_terms(pattern: Pattern, n_inputs: int) -> Terms:
    """E[pattern | Ĝ] for rows i.i.d. N(0, Ĝ): ∏_blocks Σ_pairings ∏ Ĝ, in kernel-entry columns."""
    column = {e: c for c, e in enumerate(kernel_entries(n_inputs))}
    acc: dict[tuple[int, ...], float] = {}
    per_block = [_pairings_of_block(b) for b in pattern]
    if any(not p for p in per_block):
        return {}
    for choice in product(*per_block):
        cols = tuple(sorted(column[e] for pairs in choice for e in pairs))
        acc[cols] = acc.get(cols, 0.0) + 1.0
    return acc


def sphere_terms(pattern: Pattern, width: int) -> Terms:
    """E[pattern | r²] for z uniform on the sphere of radius r in ``width`` dimensions."""
    if not is_even(pattern):
        return {}
    half = pattern_order(pattern) // 2
    coef = 1.0
    for b in pattern:
        coef *= prod(range(len(b) - 1, 0, -2))
    coef /= prod(width + 2 * s for s in range(half))
    return {(0,) * half: coef}


class TermTable:
    """Polynomials in per-network columns, compiled for vectorised evaluation.

    Parameters
    ----------
    terms : sequence of dict
        One dict per output feature, mapping a sorted tuple of column indices
        (a monomial) to its coefficient.

    Notes
    -----
    Monomials of equal degree are gathered into one ``(T, networks)`` array
    of products of columns and scattered into the features by a sparse
    ``(features, T)`` coefficient matrix. Each feature is accumulated from its
    own terms only, in the order they are given, degree by degree, so a
    feature's value does not depend on which other features share the table
    (see :func:`chunked_tables`).
    """

    def __init__(self, terms: Sequence[Terms]) -> None:
        self.n_features = len(terms)
        self.n_terms = sum(len(t) for t in terms)
        by_degree: dict[int, tuple[list[tuple[int, ...]], list[int], list[float]]] = {}
        for f, t in enumerate(terms):
            for cols, coef in t.items():
                if not cols:
                    msg = "constant terms are not supported."
                    raise ValueError(msg)
                mono, feats, coefs = by_degree.setdefault(len(cols), ([], [], []))
                mono.append(cols)
                feats.append(f)
                coefs.append(coef)
        self._blocks: list[tuple[np.ndarray, sparse.csr_matrix]] = []
        for degree in sorted(by_degree):
            mono, feats, coefs = by_degree[degree]
            unique, inverse = np.unique(np.asarray(mono, dtype=np.intp), axis=0, return_inverse=True)
            matrix = sparse.csr_matrix(
                (np.asarray(coefs), (np.asarray(feats), inverse.ravel())),
                shape=(self.n_features, unique.shape[0]),
            )
            self._blocks.append((unique, matrix))

    def evaluate_t(self, cols_t: np.ndarray) -> np.ndarray:
        """Evaluate on transposed, C-contiguous columns ``(C, networks)``; returns ``(features, networks)``."""
        out = np.zeros((self.n_features, cols_t.shape[1]))
        for unique, matrix in self._blocks:
            prods = cols_t[unique[:, 0]]
            for j in range(1, unique.shape[1]):
                prods *= cols_t[unique[:, j]]
            out += matrix @ prods
        return out

    def __call__(self, columns: np.ndarray) -> np.ndarray:
        """Evaluate on ``columns`` of shape ``(networks, C)``; returns ``(networks, features)``."""
        return self.evaluate_t(np.ascontiguousarray(columns.T)).T


def chunked_tables(terms: Sequence[Terms], max_terms: int) -> tuple[tuple[int, TermTable], ...]:
    """Split the features into contiguous runs of at most ``max_terms`` terms (and features).

    Returns ``(first feature, table)`` pairs covering all features in order; a
    feature with more terms than ``max_terms`` gets a table of its own. With
    ``R`` networks, evaluating one table needs O(``max_terms`` · R) memory.
    """
    out: list[tuple[int, TermTable]] = []
    first, size = 0, 0
    for f, t in enumerate(terms):
        cost = max(len(t), 1)
        if f > first and size + cost > max_terms:
            out.append((first, TermTable(terms[first:f])))
            first, size = f, 0
        size += cost
    if first < len(terms) or not out:
        out.append((first, TermTable(terms[first:])))
    return tuple(out)
