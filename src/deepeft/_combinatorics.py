"""Pairings, set partitions and the pattern bookkeeping of M-point correlators.

A *pattern* is what a correlator E[z_{i_1;α_1} … z_{i_M;α_M}] depends on: the
neuron labels only through their equality pattern, the input labels
themselves. Its canonical form is a sorted tuple of *blocks*, one block per
distinct neuron, each block the sorted tuple of the input indices carried by
that neuron.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from math import comb, factorial

__all__ = [
    "canonical_pattern",
    "cumulants_from_moments",
    "matchings",
    "matchings_with_cycles",
    "mobius_coefficient",
    "moments_from_cumulants",
    "set_partitions",
]

Pattern = tuple[tuple[int, ...], ...]


@cache
def matchings(m: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """All perfect matchings of ``range(m)`` ((m-1)!! of them; empty for odd m)."""
    if m == 0:
        return ((),)
    if m % 2:
        return ()
    out = []
    for partner in range(1, m):
        rest = [p for p in range(1, m) if p != partner]
        for sub in matchings(m - 2):
            out.append(((0, partner), *((rest[a], rest[b]) for a, b in sub)))
    return tuple(out)


@cache
def matchings_with_cycles(k: int) -> tuple[tuple[tuple[tuple[int, int], ...], int], ...]:
    """Matchings of the 2k points of k slots, each with its cycle count.

    Slot ``r`` owns points ``2r`` and ``2r+1``. The cycle count ``c(π)`` is the
    number of connected components of the graph on slots whose edges are the
    pairs of π (THEORY.md §1.3, the matching/cycle rule).
    """
    out = []
    for pi in matchings(2 * k):
        parent = list(range(k))

        def find(a: int, parent: list[int] = parent) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for p, q in pi:
            ra, rb = find(p // 2), find(q // 2)
            if ra != rb:
                parent[ra] = rb
        cycles = len({find(r) for r in range(k)})
        out.append((pi, cycles))
    return tuple(out)


def set_partitions(items: Sequence[int]) -> Iterator[list[list[int]]]:
    """All set partitions of ``items`` (Bell(len(items)) of them)."""
    items = list(items)
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]


def mobius_coefficient(sizes: Sequence[int]) -> int:
    """(-1)^{|P|-1} (|P|-1)! style weight ∏_Q (-1)^{|Q|-1}(|Q|-1)! for block sizes."""
    out = 1
    for s in sizes:
        out *= (-1) ** (s - 1) * factorial(s - 1)
    return out


def canonical_pattern(neurons: Sequence[int], inputs: Sequence[int]) -> Pattern:
    """Canonical pattern of a correlator: sorted blocks of sorted input labels."""
    blocks: dict[int, list[int]] = {}
    for i, a in zip(neurons, inputs, strict=True):
        blocks.setdefault(i, []).append(a)
    return tuple(sorted((tuple(sorted(b)) for b in blocks.values()), key=lambda b: (len(b), b)))


def cumulants_from_moments(moments: Sequence[float]) -> list[float]:
    """Cumulants κ_1..κ_n of a scalar from its raw moments m_1..m_n.

    Uses the recursion κ_k = m_k − Σ_{j<k} C(k−1, j−1) κ_j m_{k−j}. The entries
    may be floats or NumPy arrays (elementwise).
    """
    m = [1.0, *moments]
    kappa: list = [0.0]
    for k in range(1, len(m)):
        value = m[k]
        for j in range(1, k):
            value = value - comb(k - 1, j - 1) * kappa[j] * m[k - j]
        kappa.append(value)
    return kappa[1:]


def moments_from_cumulants(cumulants: Sequence[float]) -> list[float]:
    """Raw moments m_1..m_n of a scalar from its cumulants κ_1..κ_n (inverse of the above).

    m_k = Σ_{j=1}^{k} C(k−1, j−1) κ_j m_{k−j}, m_0 = 1; floats or arrays.
    """
    m: list = [1.0]
    for k in range(1, len(cumulants) + 1):
        m.append(sum(comb(k - 1, j - 1) * cumulants[j - 1] * m[k - j] for j in range(1, k + 1)))
    return m[1:]
