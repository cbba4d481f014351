"""Exact finite-width statistics of deep linear networks with Gaussian weights.

For σ(z) = z every preactivation correlator is a polynomial in the widths'
inverses that can be computed exactly, at any widths ``n_l``, weight variances
``C_W^(l)``, bias variances ``C_b^(l)`` and any number of inputs ``N_D``
(Roberts & Yaida, arXiv:2106.10165, ch. 3; ``THEORY.md`` §1).

Conventions (those of :mod:`deepeft._theory`):

* layer 0 is the input, ``G^(0) = x xᵀ / n_0``; layers ``1..L`` are
  preactivations;
* ``Ĝ^(l)_{αβ} = C_b^(l) + C_W^(l) / n_{l-1} Σ_j z^(l-1)_{j;α} z^(l-1)_{j;β}``
  is the stochastic kernel, ``Ĝ^(1) = C_b^(1) + C_W^(1) G^(0)`` deterministic;
  given layer ``l-1`` the rows ``z^(l)_{i;·}`` are i.i.d. ``N(0, Ĝ^(l))``;
* the vertices carry the fan-in of their layer:
  ``V^(l) = n_{l-1} Cov(Ĝ, Ĝ)`` and ``U^(l) = n_{l-1}^2 κ_3(Ĝ, Ĝ, Ĝ)``.

How it is computed
------------------
Write ``A^(l)_{ab} = (1/n_l) Σ_j z^(l)_{j;a} z^(l)_{j;b}``, so that
``Ĝ^(l+1) = C_b + C_W A^(l)``. Summing the neuron labels of a Wick pairing
gives the matching/cycle rule (``THEORY.md`` §1.3)::

    E[∏_{r<k} A_{a_r b_r}] = Σ_π n_l^{c(π) - k} E[∏_{(p,q)∈π} Ĝ_{pq}],

with π running over the perfect matchings of the ``2k`` points and ``c(π)``
the number of cycles it draws on the ``k`` slots. Two engines use it:

* **cumulant tensors** (:meth:`LinearTheory.kernel_moments`,
  :meth:`~LinearTheory.vertex`, :meth:`~LinearTheory.six_point_vertex`):
  expanding the moments of Ĝ on the right into joint cumulants, the joint
  cumulant of the ``A``'s is the sum over the *connected* diagrams (a matching
  together with a set partition of its edges that links all ``k`` slots). The
  tensors ``κ_j(Ĝ^(l))`` for ``j <= 3`` are propagated layer by layer with
  ``numpy.einsum``. Working with cumulants avoids subtracting large moments,
  so ``V`` and ``U`` keep full relative precision at any width.
* **pair-multiset recursion** (:meth:`LinearTheory.moment`,
  :meth:`~LinearTheory.cumulant`, :meth:`~LinearTheory.kernel_product_moment`):
  ``E[∏ Ĝ_{a_r b_r}]`` for any number of factors, on the canonical multisets of
  input pairs reachable from the query, as one sparse linear map per layer.
  Its cost depends on the query, not on ``N_D``.

Scale and overflow
------------------
All recursions run on a rescaled network: at layer ``l`` every quantity with
``k`` kernel factors (``G``: 1, ``V`` and 4-point functions: 2, ``U`` and
6-point functions: 3, an ``M``-point correlator: ``M/2``) is stored in units of
``s_l^k``, where ``s_l`` is a power of two within a factor 2 of
``max_α G^(l)_{αα}`` (:meth:`LinearTheory.log_scale`). Since the scale factors
are powers of two the rescaling is exact, so ordinary results are unchanged,
while deep networks with ``C_W ≠ 1`` (or large biases) no longer overflow
inside the recursions. The scale is restored at the end: a value beyond the
float64 range raises :class:`OverflowError` (never ``inf`` or ``nan``); the
scale-free values stay available with ``normalized=True`` (e.g. ``V / G²``
for one input is ``vertex(l, normalized=True) / kernel(l, normalized=True)**2``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import cache, lru_cache
from itertools import product
from math import comb, prod

import numpy as np

from ._combinatorics import canonical_pattern, matchings, matchings_with_cycles, set_partitions
from ._theory import Theory
from ._validate import check_choice, check_index_sequence, check_positive_int, per_layer
from .network import Network

__all__ = ["LinearTheory"]

#: A multiset of input pairs (a, b), a <= b, coded as a sorted tuple of a * _BASE + b.
State = tuple[int, ...]
#: Per-layer state of a tensor recursion (cumulant or vertex tensors).
Tensors = tuple[np.ndarray, ...]
#: Canonical neuron pattern of a correlator, see :func:`deepeft._combinatorics.canonical_pattern`.
Pattern = tuple[tuple[int, ...], ...]

ORDERS: tuple[str, ...] = ("exact", "leading")

_LETTERS = "abcdefghijkl"


# ------------------------------------------------------------------ diagrams
@cache
def _connected_diagrams(k: int) -> tuple[tuple[int, int, str, tuple[int, ...]], ...]:
    """Connected diagrams on ``k`` slots, ready for ``numpy.einsum``.

    A diagram is a perfect matching π of the ``2k`` points (slot ``r`` owns
    points ``2r, 2r+1``) with a set partition P of π's edges; it is connected
    when π's edges together with P's blocks link all ``k`` slots. Each entry is
    ``(c(π) - k, |P|, einsum subscripts, cumulant order of each operand)``:
    the term is ``n^(c(π)-k) einsum(subscripts, κ_{|B|} for B in P)``.
    """
    out = []
    for pi, cycles in matchings_with_cycles(k):
        for part in set_partitions(range(k)):
            parent = list(range(k))

            def find(a: int, parent: list[int] = parent) -> int:
                while parent[a] != a:
                    a = parent[a]
                return a

            def union(a: int, b: int, parent: list[int] = parent) -> None:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[ra] = rb

            for p, q in pi:
                union(p // 2, q // 2)
            for block in part:
                for e in block[1:]:
                    union(pi[block[0]][0] // 2, pi[e][0] // 2)
            if len({find(r) for r in range(k)}) != 1:
                continue
            operands = ",".join(
                "".join(_LETTERS[p] + _LETTERS[q] for p, q in (pi[e] for e in block))
                for block in part
            )
            spec = f"{operands}->{_LETTERS[: 2 * k]}"
            out.append((cycles - k, len(part), spec, tuple(len(block) for block in part)))
    return tuple(out)


def _cumulants_of_a(
    kappas: Sequence[np.ndarray], order: int, n: float, *, leading: bool = False
) -> np.ndarray:
    """Joint cumulant tensor ``κ_order(A, …, A)`` from the cumulant tensors of Ĝ.

    ``kappas[j-1]`` is ``κ_j(Ĝ)`` with ``2j`` axes. With ``leading=True`` only
    the diagrams of leading order in 1/n are kept (``c(π) + |P| = order + 1``;
    a cumulant ``κ_j(Ĝ)`` counts as ``O(n^{1-j})``).
    """
    acc: np.ndarray | float = 0.0
    for power, n_blocks, spec, orders in _connected_diagrams(order):
        if leading and power + order + n_blocks != order + 1:
            continue
        acc = acc + n**power * np.einsum(spec, *(kappas[o - 1] for o in orders))
    return np.asarray(acc)


def _moments_from_cumulants(kappas: Sequence[np.ndarray], k: int) -> np.ndarray:
    """``E[Ĝ_{a1b1} ⋯ Ĝ_{akbk}]`` for k <= 3 from the joint cumulant tensors."""
    g = kappas[0]
    if k == 1:
        return g.copy()
    if k == 2:
        return kappas[1] + np.einsum("ab,cd->abcd", g, g)
    k2 = kappas[1]
    return (
        kappas[2]
        + np.einsum("abcd,ef->abcdef", k2, g)
        + np.einsum("abef,cd->abcdef", k2, g)
        + np.einsum("cdef,ab->abcdef", k2, g)
        + np.einsum("ab,cd,ef->abcdef", g, g, g)
    )


# ---------------------------------------------------- pair-multiset engine
# A multiset of input pairs {(a, b)} is stored as a sorted tuple of integer
# codes a * _BASE + b with a <= b (a "state"); the empty state is the constant 1.
_BASE = 1 << 20


def _encode(pairs: Iterable[Sequence[int]]) -> State:
    return tuple(sorted(min(a, b) * _BASE + max(a, b) for a, b in pairs))


def _decode(state: State) -> list[tuple[int, int]]:
    return [divmod(code, _BASE) for code in state]


@cache
def _matching_points(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of every perfect matching of 2k points, shape (M, k, 2), and their cycle counts."""
    found = matchings_with_cycles(k)
    points = np.array([[p for pair in pi for p in pair] for pi, _ in found], dtype=np.intp)
    cycles = np.array([c for _, c in found], dtype=np.int64)
    return points.reshape(len(found), k, 2), cycles


@lru_cache(maxsize=1 << 16)
def _children(state: State) -> tuple[tuple[State, int, int], ...]:
    """``(child, c(π), multiplicity)`` over the matchings π of the points of ``state``.

    ``E[∏_{r∈state} A_r] = Σ n^{c - k} · multiplicity · E[∏_{child} Ĝ]``.
    """
    k = len(state)
    if k == 0:
        return (((), 0, 1),)
    labels = np.array(_decode(state), dtype=np.int64).ravel()
    points, cycles = _matching_points(k)
    lab = labels[points]
    child = np.sort(lab.min(axis=2) * _BASE + lab.max(axis=2), axis=1)
    rows, counts = np.unique(np.column_stack([child, cycles]), axis=0, return_counts=True)
    return tuple(
        (tuple(row[:-1]), row[-1], m) for row, m in zip(rows.tolist(), counts.tolist(), strict=True)
    )


@lru_cache(maxsize=1 << 16)
def _sub_multisets(state: State) -> tuple[tuple[State, int], ...]:
    """Sub-multisets T of ``state`` with the number of slot subsets that give each."""
    distinct = sorted(set(state))
    mult = [state.count(p) for p in distinct]
    out = []
    for take in product(*(range(m + 1) for m in mult)):
        sub = tuple(p for p, t in zip(distinct, take, strict=True) for _ in range(t))
        out.append((sub, prod(comb(m, t) for m, t in zip(mult, take, strict=True))))
    return tuple(out)


class _PairStructure:
    """Layer-independent part of the pair-multiset recursion for a set of roots.

    ``states`` is the closure of the roots under "take a sub-multiset" (bias
    terms) and "re-pair the points" (matching rule). One layer step is two
    sparse maps::

        g[T]     = Σ_child  mult · n_l^(c - |T|) · f_l[child]           (= E[∏_T A])
        f_l+1[S] = Σ_{T⊆S}  mult · C_b^(|S|-|T|) · C_W^|T| · g[T]
    """

    def __init__(self, roots: tuple[State, ...], with_bias: bool) -> None:
        index: dict[State, int] = {}
        states: list[State] = []

        def add(s: State) -> int:
            if s not in index:
                index[s] = len(states)
                states.append(s)
            return index[s]

        for r in roots:
            add(r)
        subs: list[tuple[int, int, int, int, int]] = []
        kids: list[tuple[int, int, int, int]] = []
        i = 0
        while i < len(states):
            s = states[i]
            for sub, mult in _sub_multisets(s) if with_bias else ((s, 1),):
                subs.append((i, add(sub), len(s) - len(sub), len(sub), mult))
            for child, cycles, mult in _children(s):
                kids.append((i, add(child), cycles - len(s), mult))
            i += 1
        self.states = states
        self.index = index
        sub_arr = np.array(subs, dtype=np.int64)
        kid_arr = np.array(kids, dtype=np.int64)
        self.sub_rows, self.sub_cols, self.e_b, self.e_w = sub_arr[:, :4].T.copy()
        self.sub_coef = sub_arr[:, 4].astype(float)
        self.kid_rows, self.kid_cols, self.e_n = kid_arr[:, :3].T.copy()
        self.kid_coef = kid_arr[:, 3].astype(float)

    def first_layer(self, g1: np.ndarray) -> np.ndarray:
        return np.array([prod(g1[a, b] for a, b in _decode(s)) for s in self.states], dtype=float)

    def step(self, values: np.ndarray, n: int, cb: float, cw: float) -> np.ndarray:
        size = len(self.states)
        weights = self.kid_coef * np.float64(n) ** self.e_n
        g = np.bincount(self.kid_rows, weights=weights * values[self.kid_cols], minlength=size)
        weights = self.sub_coef * np.float64(cb) ** self.e_b * np.float64(cw) ** self.e_w
        return np.bincount(self.sub_rows, weights=weights * g[self.sub_cols], minlength=size)


@lru_cache(maxsize=256)
def _pair_structure(roots: tuple[State, ...], with_bias: bool) -> _PairStructure:
    return _PairStructure(roots, with_bias)


@lru_cache(maxsize=4096)
def _pattern_roots(pattern: Pattern) -> tuple[tuple[State, int], ...]:
    """Wick pairings of a neuron pattern, grouped by their multiset of input pairs.

    Only pairings that join points of the same neuron contribute (§0), so the
    pairings are products of matchings inside each neuron's block.
    """
    per_block = []
    for block in pattern:
        per_block.append([[(block[p], block[q]) for p, q in pi] for pi in matchings(len(block))])
    counts: dict[State, int] = {}
    for choice in product(*per_block):
        state = _encode(pair for part in choice for pair in part)
        counts[state] = counts.get(state, 0) + 1
    return tuple(counts.items())


# ------------------------------------------------------------ moment → cumulant
def _even_masks(neurons: Sequence[int]) -> list[int]:
    """Bitmasks of the non-empty point subsets in which every neuron occurs an even number of times.

    Only these sub-collections have a non-vanishing moment.
    """
    m = len(neurons)
    out = []
    for mask in range(1, 1 << m):
        counts: dict[int, int] = {}
        for p in range(m):
            if mask >> p & 1:
                counts[neurons[p]] = counts.get(neurons[p], 0) + 1
        if all(c % 2 == 0 for c in counts.values()):
            out.append(mask)
    return out


def _cumulant_from_moments(m: int, moments: dict[int, float]) -> float:
    """Joint cumulant of all ``m`` points from the moments of their sub-collections.

    ``moments`` maps a bitmask to its moment; a missing mask is a vanishing
    moment. Uses ``κ(S) = m(S) - Σ_{B ∋ min S, B ⊊ S} κ(B) m(S∖B)``, the
    moment–cumulant formula over set partitions summed block by block.
    """
    kappas: dict[int, float] = {}

    def kappa(s: int) -> float:
        if s in kappas:
            return kappas[s]
        low = s & -s
        rest = s ^ low
        total = moments.get(s, 0.0)
        sub = rest
        while sub:
            b = low | sub
            if b != s and b in moments and (s ^ b) in moments:
                total -= kappa(b) * moments[s ^ b]
            sub = (sub - 1) & rest
        kappas[s] = total
        return total

    full = (1 << m) - 1
    return kappa(full) if full in moments else 0.0


# ---------------------------------------------------------------- layer cache
class _Recurrence:
    """Lazily propagated layer recursion: a frontier plus a small LRU of visited layers.

    Only O(1) layers are held, so that large tensors (``N_D^6`` per layer) do
    not accumulate over deep networks; going back below the frontier restarts
    from layer 1.
    """

    def __init__(
        self, first: Callable[[], Tensors], step: Callable[[int, Tensors], Tensors], keep: int = 8
    ) -> None:
        self._first = first
        self._step = step
        self._keep = keep
        self._frontier: tuple[int, Tensors] | None = None
        self._saved: OrderedDict[int, Tensors] = OrderedDict()

    def at(self, layer: int) -> Tensors:
        if layer in self._saved:
            self._saved.move_to_end(layer)
            return self._saved[layer]
        if self._frontier is None or self._frontier[0] > layer:
            self._frontier = (1, self._first())
        current, state = self._frontier
        while current < layer:
            state = self._step(current, state)
            current += 1
        self._frontier = (current, state)
        self._saved[layer] = state
        if len(self._saved) > self._keep:
            self._saved.popitem(last=False)
        return state


#: ldexp exponents beyond this bound over- or underflow any nonzero float64.
_EXP_CLIP = 4000


def _ldexp(value: np.ndarray | float, exp: int) -> np.ndarray:
    """``value * 2**exp``, exact unless it leaves the float64 range (then inf or 0, silently)."""
    exp = max(-_EXP_CLIP, min(_EXP_CLIP, exp))
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(value, exp)


class LinearTheory(Theory):
    """Exact finite-width theory of a deep linear network with Gaussian weights.

    Every answer is exact at any widths, per-layer ``C_W^(l)``, ``C_b^(l)`` and
    any number of inputs (``THEORY.md`` §1; Roberts & Yaida,
    arXiv:2106.10165, eqs. 3.8–3.57 for the single-input, bias-free special
    cases).

    Parameters
    ----------
    network : Network
        A linear (``activation="linear"``), Gaussian-weight (``init="gaussian"``)
        ensemble.
    x : array_like, shape (N_D, n_0) or (n_0,)
        The inputs; ``G^(0) = x xᵀ / n_0``.

    Raises
    ------
    ValueError
        For a nonlinear network or orthogonal weights.

    Notes
    -----
    Index conventions: ``layer`` runs over ``0..L`` with layer 0 the input (only
    :meth:`kernel` accepts it). Correlators take ``neurons`` and ``inputs``,
    equal-length sequences naming the points ``z^(l)_{neurons[k]; inputs[k]}``.
    Sample-index tensors are indexed in slot order: ``V[a, b, c, d]`` is
    ``V_{(ab)(cd)}``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepeft import Network
    >>> from deepeft.linear_theory import LinearTheory
    >>> th = LinearTheory(Network([10] * 6), np.ones(10))
    >>> round(th.moment(5, [0, 0, 0, 0], [0, 0, 0, 0]) / 3, 10)  # G_4 = 1296/625
    2.0736
    >>> round(float(th.vertex(5)[0, 0, 0, 0]), 10)
    10.736

    Deep networks away from ``C_W = 1`` leave the float64 range; the ratios
    remain available:

    >>> deep = LinearTheory(Network([1] + [10] * 2000, cw=1.5), [1.0])
    >>> g = float(deep.kernel(2000, normalized=True)[0, 0])
    >>> v = float(deep.vertex(2000, normalized=True)[0, 0, 0, 0])
    >>> f"{v / g**2 / 10:.6e}"  # V / (n G²) = (1 + 2/n)^(L-1) - 1
    '1.920043e+158'
    """

    exact = True

    def __init__(self, network: Network, x: object) -> None:
        super().__init__(network, x)
        if not network.is_linear or network.init != "gaussian":
            msg = (
                "LinearTheory covers linear networks with Gaussian weights "
                "(activation='linear', init='gaussian'), got "
                f"activation={network.activation.name!r}, init={network.init!r}."
            )
            raise ValueError(msg)
        net = network
        # Rescaled kernels G^(l) / 2^e_l, with the max diagonal in [1, 2), and the
        # effective (C_b, C_W) of the rescaled step l -> l + 1 (exact: powers of 2).
        kernels = [self.g0]
        exps = [0]
        self._cb_eff: list[float] = []
        self._cw_eff: list[float] = []
        for l in range(net.depth):
            with np.errstate(over="ignore", invalid="ignore"):
                g = math.ldexp(net.cb[l], -exps[-1]) + net.cw[l] * kernels[-1]
                top = float(np.max(np.abs(np.diagonal(g))))
            d = math.frexp(top)[1] - 1 if top > 0 and math.isfinite(top) else 0
            exps.append(exps[-1] + d)
            kernels.append(_ldexp(g, -d))
            self._cb_eff.append(math.ldexp(net.cb[l], -exps[-1]))
            self._cw_eff.append(math.ldexp(net.cw[l], -d))
        self._kernels = kernels
        self._exps = exps
        self._with_bias = any(c > 0 for c in net.cb[1:])
        self._exact_tensors: dict[int, _Recurrence] = {}
        self._leading_tensors: dict[int, _Recurrence] = {}
        self._pair_values: OrderedDict[tuple[tuple[State, ...], bool], list[np.ndarray]] = (
            OrderedDict()
        )

    # ------------------------------------------------------------ kernel
    def log_scale(self, layer: int) -> float:
        """``log s_l``, the natural log of the scale used at ``layer``.

        ``s_l`` is a power of two within a factor 2 of ``max_α G^(l)_{αα}``
        (``s_0 = 1``; ``s_l = 1`` when the kernel vanishes). With
        ``normalized=True`` the methods return their value divided by
        ``s_l^k``, ``k`` the number of kernel factors (module docstring); the
        true value is ``exp(k log_scale(l))`` times that, also when it is
        beyond the float64 range.

        Parameters
        ----------
        layer : int
            ``0..L``.
        """
        layer = self._check_layer(layer)
        return self._exps[layer] * math.log(2.0)

    def _restore(
        self, value: np.ndarray | float, power: int, layer: int, what: str, normalized: bool
    ) -> np.ndarray | float:
        """``value * s_l^power`` (or ``value`` itself if normalized); OverflowError beyond float64."""
        scalar = np.ndim(value) == 0
        arr = np.asarray(value, dtype=float)
        out = arr if normalized else _ldexp(arr, power * self._exps[layer])
        if not np.all(np.isfinite(out)):
            raise self._overflow(what, layer, arr, power, normalized)
        return float(out) if scalar else out

    def _overflow(
        self, what: str, layer: int, value: np.ndarray, power: int, normalized: bool
    ) -> OverflowError:
        hint = (
            "For one input, use the log-space closed forms "
            "deepeft.single_input.kernel_power_moment / coordinate_moment / norm_moment"
            "(..., log=True)."
        )
        if not np.all(np.isfinite(value)):
            msg = (
                f"the {what} at layer {layer} exceeds the float64 range even in units of the "
                f"layer's kernel scale (the scale-free ratio itself overflows: deep, narrow "
                f"networks make high moments grow like exp(L/n)). {hint}"
            )
            return OverflowError(msg)
        top = float(np.max(np.abs(value)))
        log10 = math.log10(top) + power * self._exps[layer] * math.log10(2.0)
        msg = (
            f"the {what} at layer {layer} is about 10^{log10:.1f} in magnitude, beyond the "
            "float64 range (deep networks with C_W != 1 overflow). "
            f"Use normalized=True for the value in units of s_l^{power}, with "
            f"log s_l = log_scale({layer}) = {self.log_scale(layer):.6g}; ratios such as "
            f"V / G² stay finite. {hint}"
        )
        if normalized:  # pragma: no cover - normalized values are checked above
            msg = f"the {what} at layer {layer} is not finite."
        return OverflowError(msg)

    def kernel(self, layer: int, *, normalized: bool = False) -> np.ndarray:
        """The kernel ``G^(l)_{αβ} = E[Ĝ^(l)_{αβ}]``, exact at any width.

        Parameters
        ----------
        layer : int
            ``0..L``; layer 0 gives the input metric ``G^(0) = x xᵀ / n_0``.
        normalized : bool, default False
            Return ``G^(l) / s_l`` instead (:meth:`log_scale`); its largest
            diagonal entry is in ``[1, 2)``.

        Returns
        -------
        ndarray, shape (N_D, N_D)
            ``G^(l) = C_b^(l) + C_W^(l) G^(l-1)`` (``THEORY.md`` §1.1); the
            widths do not enter.

        Raises
        ------
        OverflowError
            When ``G^(l)`` is beyond the float64 range (use ``normalized=True``).
        """
        layer = self._check_layer(layer)
        return self._restore(self._kernels[layer].copy(), 1, layer, "kernel", normalized)

    # ------------------------------------------------------------ tensors
    def _exact(self, order: int) -> _Recurrence:
        if order not in self._exact_tensors:
            net = self.network
            nd = self.n_inputs

            def first() -> tuple[np.ndarray, ...]:
                g1 = self._kernels[1]
                return (g1, *(np.zeros((nd,) * (2 * j)) for j in range(2, order + 1)))

            def step(l: int, kappas: Tensors) -> Tensors:
                # layer l -> l + 1 uses n_l, C_b^(l+1) = cb[l], C_W^(l+1) = cw[l]
                # (rescaled: κ_j is stored in units of s_l^j).
                n, cb, cw = net.widths[l], self._cb_eff[l], self._cw_eff[l]
                with np.errstate(over="ignore", invalid="ignore"):
                    new = [cb + cw * kappas[0]]
                    for j in range(2, order + 1):
                        new.append(cw**j * _cumulants_of_a(kappas, j, n))
                return tuple(new)

            self._exact_tensors[order] = _Recurrence(first, step)
        return self._exact_tensors[order]

    def _leading(self, order: int) -> _Recurrence:
        if order not in self._leading_tensors:
            net = self.network
            nd = self.n_inputs

            def first() -> tuple[np.ndarray, ...]:
                # (V^(1), U^(1)) = 0: the first layer is deterministic.
                return tuple(np.zeros((nd,) * (2 * j)) for j in range(2, order + 1))

            def step(l: int, vertices: Tensors) -> Tensors:
                n, n_prev, cw = net.widths[l], net.widths[l - 1], self._cw_eff[l]
                g = self._kernels[l]
                # κ_j(Ĝ) = (vertex of order j) / n_{l-1}^(j-1), in units of s_l^j.
                with np.errstate(over="ignore", invalid="ignore"):
                    kappas = [g, *(v / n_prev ** (j - 1) for j, v in enumerate(vertices, start=2))]
                    return tuple(
                        cw**j * n ** (j - 1) * _cumulants_of_a(kappas, j, n, leading=True)
                        for j in range(2, order + 1)
                    )

            self._leading_tensors[order] = _Recurrence(first, step)
        return self._leading_tensors[order]

    def _check_order(self, order: object) -> str:
        return check_choice("order", order, ORDERS)

    def kernel_moments(self, layer: int, k: int, *, normalized: bool = False) -> np.ndarray:
        """Joint moments ``E[Ĝ^(l)_{a1b1} Ĝ^(l)_{a2b2} ⋯ Ĝ^(l)_{akbk}]`` of the stochastic kernel.

        ``k = 1`` is the kernel ``G``, ``k = 2`` the tensor ``H`` and ``k = 3``
        the tensor ``T`` of ``THEORY.md`` §1.2–1.3.

        Parameters
        ----------
        layer : int
            ``1..L``.
        k : {1, 2, 3}
            Number of factors.
        normalized : bool, default False
            Return the value in units of ``s_l^k`` (:meth:`log_scale`), finite
            also where the value itself is beyond the float64 range.

        Returns
        -------
        ndarray, shape (N_D,) * (2k)
            Axis ``2r`` and ``2r+1`` carry the pair of factor ``r``. Building it
            costs ``O(L · N_D^(2k))``; for more factors use
            :meth:`kernel_product_moment`.
        """
        layer = self._check_layer(layer, allow_input=False)
        k = check_positive_int("k", k)
        if k > 3:
            msg = (
                f"`k` must be 1, 2 or 3 for the full tensor, got {k}; "
                "use kernel_product_moment for more factors."
            )
            raise ValueError(msg)
        kappas = self._exact(k).at(layer)
        with np.errstate(over="ignore", invalid="ignore"):
            value = _moments_from_cumulants(kappas, k)
        return self._restore(value, k, layer, f"kernel moment tensor (k={k})", normalized)

    def vertex(self, layer: int, order: str = "exact", *, normalized: bool = False) -> np.ndarray:
        """Four-point vertex ``V^(l)_{(ab)(cd)} = n_{l-1} Cov(Ĝ^(l)_{ab}, Ĝ^(l)_{cd})``.

        The connected four-point function is
        ``(1/n_{l-1}) [δ_{i1i2}δ_{i3i4} V_{(α1α2)(α3α4)} + 2 more pairings]``.

        Parameters
        ----------
        layer : int
            ``1..L``; ``V^(1) = 0``.
        order : {"exact", "leading"}
            ``"exact"``: at finite width. ``"leading"``: the leading-1/n
            recursion ``V^(l+1) = C_W² [(n_l/n_{l-1}) V^(l) + G_ac G_bd + G_ad G_bc]``
            (``THEORY.md`` §1.2 without its last bracket).
        normalized : bool, default False
            Return the value in units of ``s_l^2`` (:meth:`log_scale`), finite
            also where the value itself is beyond the float64 range.
            For one input, ``V / G²`` is
            ``vertex(l, normalized=True) / kernel(l, normalized=True)**2``.

        Returns
        -------
        ndarray, shape (N_D, N_D, N_D, N_D)
            ``V[a, b, c, d] = V_{(ab)(cd)}``.
        """
        layer = self._check_layer(layer, allow_input=False)
        if self._check_order(order) == "leading":
            value = self._leading(2).at(layer)[0].copy()
        else:
            value = self.network.widths[layer - 1] * self._exact(2).at(layer)[1]
        return self._restore(value, 2, layer, "four-point vertex V", normalized)

    def six_point_vertex(
        self, layer: int, order: str = "exact", *, normalized: bool = False
    ) -> np.ndarray:
        """Six-point vertex ``U^(l) = n_{l-1}² κ_3(Ĝ^(l)_{ab}, Ĝ^(l)_{cd}, Ĝ^(l)_{ef})``.

        The connected six-point function is ``(1/n_{l-1}²) Σ_{15 pairings} ∏δ U``.

        Parameters
        ----------
        layer : int
            ``1..L``; ``U^(1) = 0``.
        order : {"exact", "leading"}
            ``"exact"``: at finite width. ``"leading"``: the leading-1/n
            recursion of ``THEORY.md`` §1.3 (for one input, ``C_W = 1``,
            ``C_b = 0`` and equal widths, ``U^(l) = (12m² - 4m) G³`` with
            ``m = l - 1``).
        normalized : bool, default False
            Return the value in units of ``s_l^3`` (:meth:`log_scale`), finite
            also where the value itself is beyond the float64 range.

        Returns
        -------
        ndarray, shape (N_D,) * 6
            ``U[a, b, c, d, e, f] = U_{(ab)(cd)(ef)}``.
        """
        layer = self._check_layer(layer, allow_input=False)
        if self._check_order(order) == "leading":
            value = self._leading(3).at(layer)[1].copy()
        else:
            value = self.network.widths[layer - 1] ** 2 * self._exact(3).at(layer)[2]
        return self._restore(value, 3, layer, "six-point vertex U", normalized)

    # ------------------------------------------------------------ pair engine
    def _pairs_moments(self, layer: int, roots: tuple[State, ...]) -> dict[State, float]:
        """``E[∏_{(a,b)∈s} Ĝ^(layer)_{ab}] / s_l^|s|`` for every root multiset ``s``."""
        key = (tuple(sorted(set(roots))), self._with_bias)
        structure = _pair_structure(*key)
        values = self._pair_values.get(key)
        if values is None:
            values = [structure.first_layer(self._kernels[1])]
            self._pair_values[key] = values
            if len(self._pair_values) > 64:
                self._pair_values.popitem(last=False)
        else:
            self._pair_values.move_to_end(key)
        net = self.network
        while len(values) < layer:
            l = len(values)  # values[-1] is layer l; step to l + 1
            with np.errstate(over="ignore", invalid="ignore"):
                values.append(
                    structure.step(values[-1], net.widths[l], self._cb_eff[l], self._cw_eff[l])
                )
        current = values[layer - 1]
        return {r: float(current[structure.index[r]]) for r in roots}

    def kernel_product_moment(
        self, layer: int, pairs: Sequence[Sequence[int]], *, normalized: bool = False
    ) -> float:
        """``E[∏_r Ĝ^(l)_{a_r b_r}]`` for any number of factors.

        Parameters
        ----------
        layer : int
            ``1..L``.
        pairs : sequence of (int, int)
            The input-index pairs ``(a_r, b_r)``, each index in ``0..N_D-1``.
            An empty sequence gives 1.
        normalized : bool, default False
            Return the value in units of ``s_l^k`` (:meth:`log_scale`), finite
            also where the value itself is beyond the float64 range.
            (``k = len(pairs)``).

        Returns
        -------
        float
            Exact, by the matching/cycle rule (``THEORY.md`` §1.3).
        """
        layer = self._check_layer(layer, allow_input=False)
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, (Sequence, np.ndarray)):
            msg = f"`pairs` must be a sequence of (a, b) input-index pairs, got {pairs!r}."
            raise TypeError(msg)
        checked = []
        for pair in pairs:
            idx = check_index_sequence(
                "pairs", pair, upper=self.n_inputs, what=f" (there are N_D={self.n_inputs} inputs)"
            )
            if len(idx) != 2:
                msg = f"`pairs` must contain pairs (a, b) of input indices, got {pair!r}."
                raise ValueError(msg)
            checked.append(idx)
        state = _encode(checked)
        if not state:
            return 1.0
        value = self._pairs_moments(layer, (state,))[state]
        return self._restore(value, len(state), layer, "kernel product moment", normalized)

    def _pattern_moments(self, layer: int, patterns: Sequence[Pattern]) -> list[float]:
        root_lists = [_pattern_roots(p) for p in patterns]
        roots = tuple({s for rl in root_lists for s, _ in rl})
        values = self._pairs_moments(layer, roots) if roots else {}
        return [sum(m * values[s] for s, m in rl) for rl in root_lists]

    # ------------------------------------------------------------ correlators
    def moment(
        self,
        layer: int,
        neurons: Sequence[int],
        inputs: Sequence[int],
        *,
        normalized: bool = False,
    ) -> float:
        """Exact moment ``E[∏_k z^(l)_{neurons[k]; inputs[k]}]``.

        Parameters
        ----------
        layer : int
            ``1..L``.
        neurons : sequence of int
            Neuron label of each point, ``0 <= i < n_l``; only their equality
            pattern matters.
        inputs : sequence of int
            Input index of each point, ``0 <= α < N_D``.
        normalized : bool, default False
            Return the value in units of ``s_l^M/2`` (:meth:`log_scale`), finite
            also where the value itself is beyond the float64 range.

        Returns
        -------
        float
            ``Σ_π E[∏_{(p,q)∈π} Ĝ^(l)_{α_p α_q}]`` over the Wick pairings π
            that pair equal neuron labels only (``THEORY.md`` §0). Zero when the
            number of points is odd or a neuron occurs an odd number of times.

        Notes
        -----
        Any even M works. The cost grows with the number of distinct input
        pairings reachable from the query: M = 10 over a few distinct inputs
        takes milliseconds, M = 10 over ten distinct inputs with biases a few
        seconds (the structure is cached, so repeated queries are fast).
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        pattern = canonical_pattern(neurons, inputs)
        if any(len(block) % 2 for block in pattern):
            return 0.0
        value = self._pattern_moments(layer, [pattern])[0]
        return self._restore(value, len(neurons) // 2, layer, "moment", normalized)

    def cumulant(
        self,
        layer: int,
        neurons: Sequence[int],
        inputs: Sequence[int],
        *,
        normalized: bool = False,
    ) -> float:
        """Exact joint cumulant (connected correlator) of ``z^(l)_{neurons[k]; inputs[k]}``.

        Parameters
        ----------
        layer, neurons, inputs, normalized
            As in :meth:`moment`.

        Returns
        -------
        float
            From the moments of all sub-collections by the moment–cumulant
            formula over set partitions (partitions with a vanishing block are
            dropped). Equivalently (``THEORY.md`` §0) ``Σ_π ∏δ κ_k(Ĝ…)`` over the
            pairings π. For very wide layers the subtraction loses about
            ``log10(n)`` digits per order; :meth:`vertex` and
            :meth:`six_point_vertex` give the four- and six-point cumulants
            without cancellation.

        Raises
        ------
        OverflowError
            When the value is beyond the float64 range (use ``normalized=True``).
        """
        layer, neurons, inputs = self._check_query(layer, neurons, inputs)
        m = len(neurons)
        if m % 2 or any(neurons.count(i) % 2 for i in set(neurons)):
            return 0.0
        masks = _even_masks(neurons)
        patterns = [
            canonical_pattern(
                [neurons[p] for p in range(m) if mask >> p & 1],
                [inputs[p] for p in range(m) if mask >> p & 1],
            )
            for mask in masks
        ]
        distinct = sorted(set(patterns))
        values = dict(zip(distinct, self._pattern_moments(layer, distinct), strict=True))
        with np.errstate(over="ignore", invalid="ignore"):
            value = _cumulant_from_moments(
                m, {mask: values[p] for mask, p in zip(masks, patterns, strict=True)}
            )
        return self._restore(value, m // 2, layer, "cumulant", normalized)

    # ------------------------------------------------------------ NTK
    def ntk(self, layer: int, lambda_b: object = 1.0, lambda_w: object = 1.0) -> np.ndarray:
        """Mean neural tangent kernel ``Θ^(l)``, exact at any width for linear nets.

        Parameters
        ----------
        layer : int
            ``1..L``.
        lambda_b, lambda_w : float or sequence of L floats
            Learning rates of the biases and weights of each layer (PDLT ch. 7
            conventions: each weight of layer ``l`` has rate ``λ_W^(l) / n_{l-1}``);
            finite and ``>= 0``.

        Returns
        -------
        ndarray, shape (N_D, N_D)
            ``Θ^(1) = λ_b^(1) + λ_W^(1) G^(0)`` and
            ``Θ^(l+1) = λ_b^(l+1) + λ_W^(l+1) G^(l) + C_W^(l+1) Θ^(l)``
            (``THEORY.md`` §4 with σ' = 1).

        Raises
        ------
        OverflowError
            When ``Θ^(l)`` is beyond the float64 range.
        """
        layer = self._check_layer(layer, allow_input=False)
        depth = self.depth
        lb = per_layer("lambda_b", lambda_b, depth, strictly_positive=False)
        lw = per_layer("lambda_w", lambda_w, depth, strictly_positive=False)
        cw = self.network.cw
        with np.errstate(over="ignore", invalid="ignore"):
            theta = lb[0] + lw[0] * self._kernels[0]
            for l in range(1, layer):
                kernel = _ldexp(self._kernels[l], self._exps[l]) if lw[l] else 0.0
                theta = lb[l] + lw[l] * kernel + cw[l] * theta
        theta = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(theta)):
            msg = (
                f"the mean NTK at layer {layer} is beyond the float64 range "
                "(deep networks with C_W != 1 overflow); see log_scale() for the kernel's scale."
            )
            raise OverflowError(msg)
        return theta
