"""Theory against Monte Carlo, quantity by quantity, with z-scores.

:func:`compare` walks the layers and correlator patterns that a Monte Carlo run
estimated, asks the theory for the same quantities, and returns a
:class:`Comparison`: a list of records for code, a rich table in the terminal.

The z-score of a record is ``(MC − theory) / s.e.``, in units of the Monte Carlo
estimator's own standard error. For a correct exact theory, |z| is of order 1;
a leading-order (1/n) theory is also off by its truncation error, O(1/n²) on the
4-point function, which shows up as a drift of z with the number of networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Comparison", "Record", "compare", "default_patterns"]

_NEURON_NAMES = "ijklmnpqrs"


@dataclass(frozen=True)
class Record:
    """One quantity compared.

    ``quantity`` is ``"kernel"``, ``"moment"`` or ``"cumulant"``; ``neurons`` and
    ``inputs`` are the correlator's points; ``z = (mc − theory) / stderr``.
    """

    layer: int
    quantity: str
    neurons: tuple[int, ...]
    inputs: tuple[int, ...]
    theory: float
    mc: float
    stderr: float
    z: float
    theory_order: str = "exact"

    @property
    def label(self) -> str:
        """A readable name, e.g. ``κ[z_i;0 z_i;0 z_j;0 z_j;0]``."""
        names = {}
        for i in self.neurons:
            names.setdefault(i, _NEURON_NAMES[len(names) % len(_NEURON_NAMES)])
        body = " ".join(f"z_{names[i]};{a}" for i, a in zip(self.neurons, self.inputs, strict=True))
        head = {"kernel": "E", "moment": "E", "cumulant": "κ"}[self.quantity]
        return f"{head}[{body}]"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["neurons"] = list(self.neurons)
        d["inputs"] = list(self.inputs)
        d["label"] = self.label
        return d


def _zscore(mc: float, theory: float, stderr: float) -> float:
    if not (math.isfinite(mc) and math.isfinite(theory) and math.isfinite(stderr)):
        return math.nan
    if stderr > 0:
        return (mc - theory) / stderr
    return 0.0 if mc == theory else math.copysign(math.inf, mc - theory)


def _theory_value(
    theory: Any, quantity: str, layer: int, neurons: tuple[int, ...], inputs: tuple[int, ...],
    exact: bool, exact_available: bool,
) -> tuple[float, str]:
    """The theory's value of a moment or cumulant, exact where it has one, and its order."""
    fn = getattr(theory, quantity)
    if exact_available:
        try:
            return float(fn(layer, neurons, inputs, order="exact")), "exact"
        except ValueError:
            pass
    return float(fn(layer, neurons, inputs)), ("exact" if exact else "leading")


def default_patterns(n_inputs: int, order: int) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """The (quantity, neurons, inputs) triples that :func:`compare` reports by default.

    * kernel entries ``E[z_{i;a} z_{i;b}]`` for ``a <= b``;
    * for ``order >= 4``: the one-neuron moment ``E[z_i^4]`` and the connected
      two-neuron function ``κ[z_{i;a} z_{i;b} z_{j;c} z_{j;d}] = V_{(ab)(cd)}/n_{l-1}``
      for each distinct pair of input pairs;
    * for ``order >= 6``: the one-neuron sixth moment and the connected
      three-neuron function ``κ[z_i z_i z_j z_j z_k z_k]``, one input at a time.
    """
    out: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    pairs = [(a, b) for a in range(n_inputs) for b in range(a, n_inputs)]
    for a, b in pairs:
        out.append(("kernel", (0, 0), (a, b)))
    if order >= 4:
        for a in range(n_inputs):
            out.append(("moment", (0, 0, 0, 0), (a, a, a, a)))
        for p, q in itertools.combinations_with_replacement(pairs, 2):
            out.append(("cumulant", (0, 0, 1, 1), (*p, *q)))
    if order >= 6:
        for a in range(n_inputs):
            out.append(("moment", (0,) * 6, (a,) * 6))
            out.append(("cumulant", (0, 0, 1, 1, 2, 2), (a,) * 6))
    return out


class Comparison:
    """Theory vs Monte Carlo records.

    Iterate over it (or use :attr:`records`) for :class:`Record` objects; print
    it, or pass it to a rich console, for a table; :meth:`to_dicts` for JSON.
    """

    def __init__(self, records: Iterable[Record], *, title: str = "") -> None:
        self.records: list[Record] = list(records)
        self.title = title

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    @property
    def max_abs_z(self) -> float:
        """The largest |z| over all records (nan if there are none)."""
        zs = [abs(r.z) for r in self.records if not math.isnan(r.z)]
        return max(zs) if zs else math.nan

    def to_dicts(self) -> list[dict[str, Any]]:
        """The records as plain dictionaries (JSON-friendly)."""
        return [r.as_dict() for r in self.records]

    def table(self):  # type: ignore[no-untyped-def]
        """A :class:`rich.table.Table` of the records."""
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=self.title or None, header_style="bold")
        for col, justify in (("layer", "right"), ("quantity", "left"), ("theory", "right"),
                             ("Monte Carlo", "right"), ("z", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in self.records:
            z = "" if math.isnan(r.z) else f"{r.z:+.2f}"
            style = "red" if abs(r.z) > 4 else None
            theory = f"{r.theory:.6g}" + ("" if r.theory_order == "exact" else " (LO)")
            table.add_row(str(r.layer), escape(r.label), theory, f"{r.mc:.6g} ± {r.stderr:.2g}", z, style=style)
        return table

    def __rich__(self):  # type: ignore[no-untyped-def]
        return self.table()

    def __str__(self) -> str:
        lines = [f"{'layer':>5}  {'quantity':<36} {'theory':>14} {'Monte Carlo':>24} {'z':>7}"]
        for r in self.records:
            mc = f"{r.mc:.6g} ± {r.stderr:.2g}"
            lines.append(f"{r.layer:>5}  {r.label:<36} {r.theory:>14.6g} {mc:>24} {r.z:>+7.2f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Comparison({len(self.records)} records, max |z| = {self.max_abs_z:.2f})"


def compare(
    theory: Any,
    estimates: Any,
    *,
    layers: Sequence[int] | None = None,
    patterns: Sequence[tuple[str, Sequence[int], Sequence[int]]] | None = None,
) -> Comparison:
    """Compare a theory with Monte Carlo estimates of the same network and inputs.

    Parameters
    ----------
    theory : Theory
        From :func:`deepeft.theory`.
    estimates : Estimates
        From :func:`deepeft.sample` for the same network and inputs.
    layers : sequence of int, optional
        Layers to report (default: every layer that was sampled).
    patterns : sequence of (quantity, neurons, inputs), optional
        ``quantity`` in {"kernel", "moment", "cumulant"}; default
        :func:`default_patterns` for the sampled order. Patterns that need more
        distinct neurons than a layer has, or that the theory cannot answer
        (e.g. 6-point functions at leading order), are skipped.

    Returns
    -------
    Comparison
    """
    from ._theory import Theory
    from .sampling import Estimates

    if not isinstance(theory, Theory):
        msg = f"`theory` must be the result of deepeft.theory(net, x), got {type(theory).__name__}."
        raise TypeError(msg)
    if not isinstance(estimates, Estimates):
        msg = f"`estimates` must be the result of deepeft.sample(net, x, ...), got {type(estimates).__name__}."
        raise TypeError(msg)
    if theory.network != estimates.network:
        msg = (
            "`theory` and `estimates` describe different networks: "
            f"{theory.network!r} vs {estimates.network!r}."
        )
        raise ValueError(msg)
    if theory.x.shape != estimates.x.shape or not np.array_equal(theory.x, estimates.x):
        msg = "`theory` and `estimates` were computed for different inputs `x`."
        raise ValueError(msg)
    sampled = list(estimates.layers)
    if layers is None:
        layers = sampled
    else:
        bad = [layer for layer in layers if layer not in sampled]
        if bad:
            msg = f"`layers` must be among the sampled layers {sampled}, got {list(layers)}."
            raise ValueError(msg)
    if patterns is None:
        patterns = default_patterns(theory.n_inputs, estimates.order)
    exact = bool(getattr(theory, "exact", False))
    # A leading-order theory may still know some quantities exactly (e.g. homogeneous σ,
    # one input, no biases); compare against the exact value wherever there is one.
    exact_available = not exact and bool(getattr(theory, "exact_available", False))
    records = []
    for layer in layers:
        width = theory.network.widths[layer]
        for quantity, neurons, inputs in patterns:
            neurons, inputs = tuple(neurons), tuple(inputs)
            if len(set(neurons)) > width or len(neurons) > estimates.order:
                continue
            if quantity == "kernel":
                a, b = inputs
                th = float(theory.kernel(layer)[a, b])
                label = "exact" if exact or exact_available else "leading"
                est = estimates.kernel(layer)
                mc, se = float(est.mean[a, b]), float(est.stderr[a, b])
            elif quantity in ("moment", "cumulant"):
                try:
                    th, label = _theory_value(theory, quantity, layer, neurons, inputs, exact, exact_available)
                except ValueError:
                    continue  # the theory has no answer at this order
                est = getattr(estimates, quantity)(layer, neurons, inputs)
                mc, se = float(est.mean), float(est.stderr)
            else:
                msg = f"pattern quantity must be 'kernel', 'moment' or 'cumulant', got {quantity!r}."
                raise ValueError(msg)
            records.append(Record(layer, quantity, neurons, inputs, th, mc, se, _zscore(mc, th, se), label))
    title = f"{theory.network!r}: theory vs Monte Carlo ({estimates.networks:,} networks)"
    return Comparison(records, title=title)
