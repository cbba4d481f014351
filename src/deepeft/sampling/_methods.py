"""Sampling methods: how one block of networks is drawn.

Every method is an object with

* ``name`` and a one-line ``description``;
* ``unsupported(net, x) -> str | None``: why the method does not apply to this
  ensemble and these inputs (``None`` when it does);
* ``block_size(net, n_inputs) -> int``: networks per random block. Fixed by
  the method and the network only, never by how the run is chunked;
* ``draw_block(net, x, rng, n_networks, layers) -> dict[int, LayerDraw]``:
  what each requested layer looks like for ``n_networks`` networks drawn from
  the generator ``rng``.

A :class:`LayerDraw` is one of

* :class:`Preactivations` ``z`` of shape ``(networks, n_l, N_D)``: the
  features are U-statistics over distinct neurons;
* :class:`GaussianGivenKernel` ``g`` of shape ``(networks, N_D, N_D)``: the
  rows of ``z^(l)`` are i.i.d. ``N(0, g)`` given the network's past, and the
  features are the exact conditional expectations (Rao–Blackwellisation);
* :class:`UniformOnSphere` ``r2`` of shape ``(networks,)``: ``z^(l)`` (one
  input) is uniform on the sphere of squared radius ``r2``; again the
  features are conditional expectations.

Register a new method with :func:`register`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..network import Network
from ._patterns import (
    Pattern,
    TermTable,
    chunked_tables,
    kernel_entries,
    multisets,
    pairing_terms,
    sphere_terms,
    ustat_terms,
)

__all__ = [
    "METHODS",
    "Conditional",
    "Dense",
    "GaussianGivenKernel",
    "LayerDraw",
    "LayerFeatures",
    "Preactivations",
    "Radial",
    "Sampler",
    "UniformOnSphere",
    "get_method",
    "register",
    "resolve_method",
]


# ------------------------------------------------------------------ layer draws
@dataclass(frozen=True, eq=False)
class Preactivations:
    """Preactivations ``z`` of shape ``(networks, n_l, N_D)``."""

    z: np.ndarray


@dataclass(frozen=True, eq=False)
class GaussianGivenKernel:
    """Rows of z i.i.d. ``N(0, g)`` given the past; ``g`` of shape ``(networks, N_D, N_D)``."""

    g: np.ndarray


@dataclass(frozen=True, eq=False)
class UniformOnSphere:
    """One input; z uniform on the sphere of squared radius ``r2`` (shape ``(networks,)``)."""

    r2: np.ndarray


LayerDraw = Preactivations | GaussianGivenKernel | UniformOnSphere


#: Elements (float64) of the largest temporary array when features are computed.
STEP_ELEMENTS = 2**20


class LayerFeatures:
    """Per-network estimators of every pattern of one layer.

    Parameters
    ----------
    patterns : tuple of patterns
        The layer's patterns (those with at most ``width`` distinct neurons).
    width : int
        ``n_l``.
    n_inputs, order : int
        N_D and the largest order sampled.
    rows : int, default 256
        The usual number of networks per call (the block size). Features are
        evaluated in runs of at most ``STEP_ELEMENTS // rows`` polynomial terms,
        and power sums in groups of networks, so every temporary array holds at
        most about :data:`STEP_ELEMENTS` numbers, whatever the number of
        patterns; only the per-network power sums (networks × multisets) and
        the accumulators are held whole. A feature's value does not depend on
        this grouping.
    """

    def __init__(
        self,
        patterns: tuple[Pattern, ...],
        width: int,
        n_inputs: int,
        order: int,
        rows: int = 256,
    ) -> None:
        self.patterns = patterns
        self.width = width
        self.n_inputs = n_inputs
        self.order = order
        self.max_terms = max(16, STEP_ELEMENTS // max(int(rows), 1))
        self._tables: dict[str, tuple[tuple[int, TermTable], ...]] = {}
        self._entries = np.asarray(kernel_entries(n_inputs), dtype=np.intp)
        ms = multisets(n_inputs, order)
        # Monomials of size s are built from their size s-1 prefix times one input.
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []
        for s in range(2, order + 1):
            level = [m for m in ms if len(m) == s]
            prev = [m for m in ms if len(m) == s - 1]
            prev_index = {m: c for c, m in enumerate(prev)}
            parent = np.asarray([prev_index[m[:-1]] for m in level], dtype=np.intp)
            last = np.asarray([m[-1] for m in level], dtype=np.intp)
            self._levels.append((parent, last))
        self._widest_level = max([n_inputs] + [p.size for p, _ in self._levels])

    def _table(self, kind: str) -> tuple[tuple[int, TermTable], ...]:
        tables = self._tables.get(kind)
        if tables is None:
            if kind == "ustat":
                terms = [ustat_terms(p, self.n_inputs, self.order, self.width) for p in self.patterns]
            elif kind == "pairing":
                terms = [pairing_terms(p, self.n_inputs) for p in self.patterns]
            else:
                terms = [sphere_terms(p, self.width) for p in self.patterns]
            tables = self._tables[kind] = chunked_tables(terms, self.max_terms)
        return tables

    def power_sums(self, z: np.ndarray) -> np.ndarray:
        """``S(m) = Σ_i ∏_{α∈m} z_{i;α}`` for every multiset m, shape ``(networks, C)``.

        Computed for groups of networks whose ``(networks, n_l, multisets of one
        size)`` products stay within :data:`STEP_ELEMENTS`; each network's sums
        do not depend on the grouping.
        """
        total = len(multisets(self.n_inputs, self.order))
        out = np.empty((z.shape[0], total))
        step = max(1, STEP_ELEMENTS // max(1, z.shape[1] * self._widest_level))
        for lo in range(0, z.shape[0], step):
            part = z[lo : lo + step]
            level = part
            col = self.n_inputs
            out[lo : lo + step, :col] = level.sum(axis=1)
            for parent, last in self._levels:
                level = level[:, :, parent] * part[:, :, last]
                out[lo : lo + step, col : col + parent.size] = level.sum(axis=1)
                col += parent.size
        return out

    def _columns(self, draw: LayerDraw) -> tuple[str, np.ndarray]:
        if isinstance(draw, Preactivations):
            return "ustat", self.power_sums(draw.z)
        if isinstance(draw, GaussianGivenKernel):
            return "pairing", draw.g[:, self._entries[:, 0], self._entries[:, 1]]
        if isinstance(draw, UniformOnSphere):
            return "sphere", draw.r2[:, None]
        msg = f"unknown layer draw {type(draw).__name__}."  # pragma: no cover - internal
        raise TypeError(msg)

    def parts(self, draw: LayerDraw) -> Iterator[tuple[int, np.ndarray]]:
        """Features in runs of columns: ``(first feature, array (networks, k))``, in order."""
        kind, columns = self._columns(draw)
        cols_t = np.ascontiguousarray(columns.T)
        del columns
        for first, table in self._table(kind):
            yield first, table.evaluate_t(cols_t).T

    def __call__(self, draw: LayerDraw) -> np.ndarray:
        """Features of shape ``(networks, len(patterns))``."""
        return np.concatenate([part for _, part in self.parts(draw)], axis=1)


# ---------------------------------------------------------------- the protocol
class Sampler(Protocol):
    """What a sampling method provides (see the module docstring)."""

    name: str
    description: str

    def unsupported(self, net: Network, x: np.ndarray) -> str | None: ...

    def block_size(self, net: Network, n_inputs: int) -> int: ...

    def draw_block(
        self,
        net: Network,
        x: np.ndarray,
        rng: np.random.Generator,
        n_networks: int,
        layers: Sequence[int],
    ) -> dict[int, LayerDraw]: ...


def _pow2_floor(value: float, low: int, high: int) -> int:
    """Largest power of two <= value, clipped to [low, high]."""
    value = max(float(value), 1.0)
    return min(max(2 ** math.floor(math.log2(value)), low), high)


def _square_widths_reason(net: Network) -> str | None:
    if net.init == "orthogonal" and len(set(net.widths)) != 1:
        return (
            "init='orthogonal' needs square weight matrices "
            f"(all widths equal, n_0 = n_1 = … = n_L), got widths {list(net.widths)}"
        )
    return None


def _psd_factor(g: np.ndarray) -> np.ndarray:
    """A stack of factors F with F Fᵀ = g for positive semi-definite g (shape (B, D, D))."""
    try:
        return np.linalg.cholesky(g)
    except np.linalg.LinAlgError:
        # Singular kernels (duplicate inputs, n_l < N_D, dead ReLUs): symmetric square root.
        w, v = np.linalg.eigh(g)
        return v * np.sqrt(np.clip(w, 0.0, None))[:, None, :]


def _haar(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """``count`` Haar n×n matrices: QR of a Gaussian matrix, columns times sign(diag R)."""
    q, r = np.linalg.qr(rng.standard_normal((count, n, n)))
    signs = np.where(np.diagonal(r, axis1=1, axis2=2) < 0, -1.0, 1.0)
    return q * signs[:, None, :]


# --------------------------------------------------------------------- methods
class Dense:
    """Full weight matrices (the reference method): any activation, inputs and weight law."""

    name = "dense"
    description = "full weight matrices, U-statistics over neurons (reference; any network)"
    #: Bytes of one layer's weights for a whole block, and the block cap.
    max_block_bytes = 32 * 2**20
    max_block = 256

    def unsupported(self, net: Network, x: np.ndarray) -> str | None:
        return _square_widths_reason(net)

    def block_size(self, net: Network, n_inputs: int) -> int:
        biggest = max(a * b for a, b in zip(net.widths[:-1], net.widths[1:], strict=True))
        return _pow2_floor(self.max_block_bytes / (8 * biggest), 1, self.max_block)

    def draw_block(
        self,
        net: Network,
        x: np.ndarray,
        rng: np.random.Generator,
        n_networks: int,
        layers: Sequence[int],
    ) -> dict[int, LayerDraw]:
        wanted = set(layers)
        out: dict[int, LayerDraw] = {}
        h = np.broadcast_to(x.T, (n_networks, *x.T.shape))  # (B, n0, N_D)
        for l in range(1, max(wanted) + 1):
            fan_in, fan_out = net.widths[l - 1], net.widths[l]
            cw, cb = net.cw[l - 1], net.cb[l - 1]
            if net.init == "orthogonal":
                w = _haar(rng, n_networks, fan_out)
                w *= math.sqrt(cw)
            else:
                w = rng.standard_normal((n_networks, fan_out, fan_in))
                w *= math.sqrt(cw / fan_in)
            z = w @ h
            del w
            if cb > 0:
                z += math.sqrt(cb) * rng.standard_normal((n_networks, fan_out, 1))
            if l in wanted:
                out[l] = Preactivations(z)
            if l < max(wanted):
                h = net.activation(z)
        return out


class Conditional:
    """Layer-by-layer sampling given the previous layer: O(n·N_D) draws per layer.

    * **Gaussian weights** (any activation, biases, inputs): given layer l the
      rows of ``z^(l+1)`` are i.i.d. ``N(0, Ĝ^(l+1))`` with
      ``Ĝ^(l+1) = C_b + (C_W/n_l) σ(Z)ᵀσ(Z)`` (THEORY.md §0, the conditional
      lemma). Features are the conditional expectations given Ĝ^(l)
      (Isserlis), so the deepest requested layer is never drawn.
    * **Haar weights** (square layers, ``N_D <= n``, any activation, biases):
      write ``S = σ(z^(l))`` (n × N_D) as ``S = U C`` with U orthonormal and
      ``CᵀC = SᵀS``. Since ``O U`` is a uniformly random orthonormal frame F,
      ``O S`` has the law of ``F C``: ``z^(l+1) = √C_W · F C + b``. F is drawn
      as ``G R⁻¹`` for a Gaussian n × N_D matrix G with ``RᵀR = GᵀG``
      (Cholesky–QR, i.e. QR with positive diagonal). Features are
      U-statistics of the drawn preactivations.
    """

    name = "conditional"
    description = (
        "layer by layer given the previous one: rows of z ~ N(0, Ĝ) (Gaussian weights) "
        "or a random orthonormal frame (Haar weights, square layers)"
    )
    target_elements = 2**18
    max_block = 8192

    def unsupported(self, net: Network, x: np.ndarray) -> str | None:
        if net.init == "gaussian":
            return None
        reason = _square_widths_reason(net)
        if reason is None and x.shape[0] > net.n0:
            reason = (
                f"method='conditional' with init='orthogonal' needs at most n={net.n0} inputs, got N_D={x.shape[0]}"
            )
        return reason

    def block_size(self, net: Network, n_inputs: int) -> int:
        return _pow2_floor(self.target_elements / (max(net.widths[1:]) * n_inputs), 32, self.max_block)

    def draw_block(
        self,
        net: Network,
        x: np.ndarray,
        rng: np.random.Generator,
        n_networks: int,
        layers: Sequence[int],
    ) -> dict[int, LayerDraw]:
        if net.init == "orthogonal":
            return self._draw_haar(net, x, rng, n_networks, layers)
        wanted = set(layers)
        last = max(wanted)
        n_inputs = x.shape[0]
        out: dict[int, LayerDraw] = {}
        g0 = x @ x.T / net.n0
        g = np.broadcast_to(net.cb[0] + net.cw[0] * g0, (n_networks, n_inputs, n_inputs))
        z = np.empty((n_networks, 0, n_inputs))
        for l in range(1, last + 1):
            if l > 1:
                g = _gram(net.activation(z)) * (net.cw[l - 1] / net.widths[l - 1])
                if net.cb[l - 1] > 0:
                    g += net.cb[l - 1]
            if l in wanted:
                out[l] = GaussianGivenKernel(g)
            if l < last:
                noise = rng.standard_normal((n_networks, net.widths[l], n_inputs))
                if n_inputs == 1:
                    z = noise * np.sqrt(g[:, :, 0])[:, None, :]
                else:
                    z = np.matmul(noise, _psd_factor(g).transpose(0, 2, 1))
        return out

    @staticmethod
    def _draw_haar(
        net: Network, x: np.ndarray, rng: np.random.Generator, n_networks: int, layers: Sequence[int]
    ) -> dict[int, LayerDraw]:
        wanted = set(layers)
        n_inputs, n = x.shape[0], net.n0
        out: dict[int, LayerDraw] = {}
        gram = np.broadcast_to(x @ x.T, (n_networks, n_inputs, n_inputs))  # SᵀS for S = xᵀ
        for l in range(1, max(wanted) + 1):
            g = rng.standard_normal((n_networks, n, n_inputs))
            if n_inputs == 1:
                # F C = g / |g| · |S|
                scale = np.sqrt(gram[:, 0, 0] / np.einsum("bi,bi->b", g[:, :, 0], g[:, :, 0]))
                z = g * (math.sqrt(net.cw[l - 1]) * scale)[:, None, None]
            else:
                # F C = G R⁻¹ C with RᵀR = GᵀG and CᵀC = SᵀS.
                r_t = np.linalg.cholesky(_gram(g))  # Rᵀ, lower triangular
                c = _psd_factor(gram).transpose(0, 2, 1)
                z = np.matmul(g, np.linalg.solve(r_t.transpose(0, 2, 1), c))
                z *= math.sqrt(net.cw[l - 1])
            if net.cb[l - 1] > 0:
                z += math.sqrt(net.cb[l - 1]) * rng.standard_normal((n_networks, n, 1))
            if l in wanted:
                out[l] = Preactivations(z)
            if l < max(wanted):
                gram = _gram(net.activation(z))
        return out


def _gram(s: np.ndarray) -> np.ndarray:
    """``sᵀs`` per network: (B, n, D) -> (B, D, D)."""
    if s.shape[2] == 1:
        return np.einsum("bi,bi->b", s[:, :, 0], s[:, :, 0])[:, None, None]
    return np.matmul(s.transpose(0, 2, 1), s)


class Radial:
    """One input: only the norm of the layer is sampled (O(L) draws per network).

    * Gaussian weights, σ positively homogeneous (linear, ReLU, leaky ReLU),
      any biases: ``Ĝ^(l+1) = C_b + (C_W/n_l) Ĝ^(l) Y_l`` with
      ``Y_l = a₊² χ²_M + a₋² χ²_{n_l−M}`` independent, ``M ~ Bin(n_l, ½)``
      (THEORY.md §1.4, §3.4). Features: conditional expectations given Ĝ.
    * Haar-orthogonal weights, no biases, square layers, any σ: z^(l) is
      uniform on the sphere of radius r_l, ``r_1² = C_W |x|²`` and
      ``r_{l+1}² = C_W |σ(z^(l))|²`` (THEORY.md §2.2, §3.6). For homogeneous σ,
      ``|σ(r u)|² = r² (a₊² A + a₋² B)/(A + B)`` with ``A ~ χ²_M``,
      ``B ~ χ²_{n−M}``; otherwise the direction ``u`` is drawn.
    """

    name = "radial"
    description = (
        "one input: the layer norm by χ² factors (Gaussian weights, homogeneous σ) "
        "or a uniform direction (Haar weights, no biases)"
    )
    target_elements = 2**18
    scalar_block = 16384

    def unsupported(self, net: Network, x: np.ndarray) -> str | None:
        if x.shape[0] != 1:
            return f"method='radial' needs exactly one input, got N_D={x.shape[0]} inputs"
        if net.init == "gaussian":
            if not net.activation.is_homogeneous:
                return (
                    "method='radial' with Gaussian weights needs a positively homogeneous "
                    f"activation (linear, relu, leaky_relu), got {net.activation.name!r}"
                )
            return None
        if net.has_biases:
            return f"method='radial' with init='orthogonal' needs no biases (all cb = 0), got cb={list(net.cb)}"
        return _square_widths_reason(net)

    def _vector_path(self, net: Network) -> bool:
        return net.init == "orthogonal" and not net.activation.is_homogeneous

    def block_size(self, net: Network, n_inputs: int) -> int:
        if self._vector_path(net):
            return _pow2_floor(self.target_elements / max(net.widths[1:]), 32, 8192)
        return self.scalar_block

    @staticmethod
    def _norm_factor(
        rng: np.random.Generator,
        slopes: tuple[float, float],
        width: int,
        count: int,
        *,
        ratio: bool,
    ) -> np.ndarray:
        """``|σ(g)|²`` for g ~ N(0, I_width) (or ``|σ(u)|²``, u uniform, when ``ratio``)."""
        a_plus, a_minus = slopes
        if a_plus**2 == a_minus**2:
            if ratio:
                return np.full(count, a_plus**2)
            return a_plus**2 * 2.0 * rng.standard_gamma(width / 2.0, count)
        m = rng.binomial(width, 0.5, count)
        pos = 2.0 * rng.standard_gamma(m / 2.0)
        neg = 2.0 * rng.standard_gamma((width - m) / 2.0)
        y = a_plus**2 * pos + a_minus**2 * neg
        if ratio:
            y /= pos + neg
        return y

    def draw_block(
        self,
        net: Network,
        x: np.ndarray,
        rng: np.random.Generator,
        n_networks: int,
        layers: Sequence[int],
    ) -> dict[int, LayerDraw]:
        wanted = set(layers)
        last = max(wanted)
        slopes = net.activation.slopes or (1.0, 1.0)
        out: dict[int, LayerDraw] = {}
        sq = float(x[0] @ x[0])
        if net.init == "gaussian":
            g = np.full(n_networks, net.cb[0] + net.cw[0] * sq / net.n0)
            for l in range(1, last + 1):
                if l in wanted:
                    out[l] = GaussianGivenKernel(g[:, None, None])
                if l < last:
                    width = net.widths[l]
                    g = g * self._norm_factor(rng, slopes, width, n_networks, ratio=False) * (net.cw[l] / width)
                    if net.cb[l] > 0:
                        g += net.cb[l]
            return out
        r2 = np.full(n_networks, net.cw[0] * sq)
        for l in range(1, last + 1):
            if l in wanted:
                out[l] = UniformOnSphere(r2)
            if l < last:
                width = net.widths[l]
                if self._vector_path(net):
                    u = rng.standard_normal((n_networks, width))
                    u *= (np.sqrt(r2) / np.sqrt(np.einsum("bi,bi->b", u, u)))[:, None]
                    s = net.activation(u)
                    r2 = net.cw[l] * np.einsum("bi,bi->b", s, s)
                else:
                    r2 = r2 * self._norm_factor(rng, slopes, width, n_networks, ratio=True) * net.cw[l]
        return out


# -------------------------------------------------------------------- registry
METHODS: dict[str, Sampler] = {}


def register(sampler: Sampler) -> Sampler:
    """Add a method to the registry (by its ``name``); returns it."""
    METHODS[sampler.name] = sampler
    return sampler


for _m in (Radial(), Conditional(), Dense()):
    register(_m)

#: Order in which ``method="auto"`` tries the methods (cheapest first).
AUTO_ORDER: tuple[str, ...] = ("radial", "conditional", "dense")


def get_method(name: str) -> Sampler:
    """The registered method called ``name``."""
    return METHODS[name]


def resolve_method(method: str, net: Network, x: np.ndarray) -> Sampler:
    """The sampler for ``method`` (``"auto"``: the cheapest that applies); raises if none does."""
    if method == "auto":
        reasons = []
        for name in AUTO_ORDER:
            reason = METHODS[name].unsupported(net, x)
            if reason is None:
                return METHODS[name]
            reasons.append(f"{name}: {reason}")
        msg = f"no sampling method applies to {net!r} ({'; '.join(reasons)})."
        raise ValueError(msg)
    sampler = METHODS[method]
    reason = sampler.unsupported(net, x)
    if reason is not None:
        works = [n for n in METHODS if METHODS[n].unsupported(net, x) is None]
        hint = f"methods that apply here: {works}" if works else "no method applies to this network"
        msg = f"`method`={method!r} does not apply: {reason}; {hint}."
        raise ValueError(msg)
    return sampler
