"""Finite-width check: Monte Carlo at several widths, extrapolated in 1/n, against the theory.

The effective theory predicts the infinite-width kernel ``K`` and the
leading-order vertex ``V`` (``THEORY.md`` §3). A Monte Carlo estimate at width
``n`` differs from them by ``O(1/n)``:

    X(n) = X_∞ + b/n + O(1/n²).

:func:`finite_width_check` samples the same architecture at several widths
(all hidden and output widths equal to ``n``, or a template's widths scaled
by a factor ``s``), fits ``X_∞`` and ``b`` by weighted least squares using the
Monte Carlo standard errors, and compares ``X_∞`` with the theory (z-score).
Where the theory is exact at finite width (deep linear networks;
homogeneous σ with one input and no biases) the same fit of the exact values
gives the theoretical ``b`` as well.

This is how a user convinces themselves that the 1/n theory is right: the
width-n Monte Carlo has a visible O(1/n) bias, the extrapolation removes it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .network import Network

__all__ = ["FiniteWidthCheck", "FitRecord", "finite_width_check", "fit_inverse_width"]

QUANTITIES: tuple[str, ...] = ("kernel", "vertex")


def fit_inverse_width(sizes: Sequence[float], values: Sequence[float], stderr: Sequence[float]) -> dict[str, float]:
    """Weighted least-squares fit of ``X(s) = X_∞ + b/s``.

    Parameters
    ----------
    sizes : sequence of float
        The widths (or width scale factors) ``s_i > 0``; at least two distinct.
    values, stderr : sequences of float
        Estimates ``X(s_i)`` and their standard errors (weights ``1/stderr²``;
        all zero means an unweighted, exact fit).

    Returns
    -------
    dict
        ``x_inf``, ``x_inf_se``, ``b``, ``b_se``, ``chi2``, ``dof``.
    """
    s = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    e = np.asarray(stderr, dtype=float)
    if s.ndim != 1 or s.size < 2 or y.shape != s.shape or e.shape != s.shape:
        msg = "`sizes`, `values` and `stderr` must be 1-d arrays of the same length >= 2."
        raise ValueError(msg)
    if np.any(s <= 0) or np.unique(s).size < 2:
        msg = f"`sizes` must be positive with at least two distinct values, got {list(s)}."
        raise ValueError(msg)
    if np.any(~np.isfinite(y)) or np.any(~np.isfinite(e)) or np.any(e < 0):
        msg = "`values` and `stderr` must be finite (stderr >= 0)."
        raise ValueError(msg)
    A = np.column_stack([np.ones_like(s), 1.0 / s])
    if np.all(e == 0):
        beta, *_ = np.linalg.lstsq(A, y, rcond=None)
        return {"x_inf": float(beta[0]), "x_inf_se": 0.0, "b": float(beta[1]), "b_se": 0.0,
                "chi2": 0.0, "dof": int(s.size - 2)}
    floor = 1e-12 * max(float(np.max(e)), 1e-300)
    w = 1.0 / np.maximum(e, floor) ** 2
    AtW = A.T * w
    cov = np.linalg.inv(AtW @ A)
    beta = cov @ (AtW @ y)
    resid = (y - A @ beta) * np.sqrt(w)
    return {"x_inf": float(beta[0]), "x_inf_se": float(np.sqrt(cov[0, 0])), "b": float(beta[1]),
            "b_se": float(np.sqrt(cov[1, 1])), "chi2": float(resid @ resid), "dof": int(s.size - 2)}


@dataclass(frozen=True)
class FitRecord:
    """One extrapolated entry.

    Attributes
    ----------
    quantity : str
        ``"kernel"`` (``G_ab``) or ``"vertex"`` (``V_(ab)(cd)``).
    index : tuple of int
        ``(a, b)`` or ``(a, b, c, d)``.
    sizes : tuple of float
        Widths (or scale factors) sampled.
    values, stderr : tuple of float
        Monte Carlo estimates at each size.
    x_inf, x_inf_se, b, b_se, chi2, dof
        The fit ``X = X_∞ + b/size``.
    theory : float
        The theory's ``X_∞`` (kernel K, leading-order V).
    z : float
        ``(x_inf − theory) / x_inf_se``.
    b_theory : float or None
        The theory's 1/size coefficient, where the theory is exact at finite width.
    z_b : float or None
        ``(b − b_theory) / b_se``.
    """

    quantity: str
    index: tuple[int, ...]
    sizes: tuple[float, ...]
    values: tuple[float, ...]
    stderr: tuple[float, ...]
    x_inf: float
    x_inf_se: float
    b: float
    b_se: float
    chi2: float
    dof: int
    theory: float
    z: float
    b_theory: float | None = None
    z_b: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _z(diff: float, se: float, scale: float) -> float:
    if se > 0:
        return diff / se
    return 0.0 if abs(diff) <= 1e-12 * max(abs(scale), 1e-300) else float(np.copysign(np.inf, diff))


@dataclass(frozen=True)
class FiniteWidthCheck:
    """The result of :func:`finite_width_check`.

    Attributes
    ----------
    layer : int
    sizes : tuple of float
        The widths (``widths=``) or scale factors (``scales=``) sampled.
    size_label : str
        ``"n"`` or ``"s"`` (what ``b/size`` divides by).
    networks : int
    method : str
    records : tuple of FitRecord
        One per independent entry of each quantity.
    """

    layer: int
    sizes: tuple[float, ...]
    size_label: str
    networks: int
    method: str
    records: tuple[FitRecord, ...] = field(default=())

    @property
    def max_abs_z(self) -> float:
        """Largest |z| of ``X_∞`` against the theory."""
        return max((abs(r.z) for r in self.records), default=0.0)

    def select(self, quantity: str) -> list[FitRecord]:
        """The records of one quantity."""
        return [r for r in self.records if r.quantity == quantity]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "sizes": list(self.sizes), "size_label": self.size_label,
                "networks": self.networks, "method": self.method, "max_abs_z": self.max_abs_z,
                "records": [r.to_dict() for r in self.records]}

    def table(self) -> str:
        """A plain-text table of every record."""
        head = (f"{'quantity':8} {'entry':>12} {'theory':>12} {'X_inf (MC)':>12} {'± s.e.':>10} {'z':>7} "
                f"{'b':>11} {'± s.e.':>10} {'b theory':>10} {'chi2/dof':>9}")
        lines = [f"layer {self.layer}; X({self.size_label}) = X_inf + b/{self.size_label} fitted over "
                 f"{self.size_label} = {', '.join(f'{s:g}' for s in self.sizes)}; "
                 f"{self.networks} networks each ({self.method})", head]
        for r in self.records:
            bt = "—" if r.b_theory is None else f"{r.b_theory:.4g}"
            c2 = "—" if r.dof == 0 else f"{r.chi2 / r.dof:.2f}"
            lines.append(f"{r.quantity:8} {r.index!s:>12} {r.theory:12.6g} {r.x_inf:12.6g} "
                         f"{r.x_inf_se:10.2g} {r.z:7.2f} {r.b:11.4g} {r.b_se:10.2g} {bt:>10} {c2:>9}")
        lines.append(f"max |z| = {self.max_abs_z:.2f} over {len(self.records)} entries")
        return "\n".join(lines)

    def plot(self, quantity: str = "vertex", index: Sequence[int] | None = None, ax: Any = None) -> Any:
        """X(size) against 1/size with error bars, the fit and the theory's X_∞; returns the Axes."""
        import matplotlib.pyplot as plt

        recs = self.select(quantity)
        if not recs:
            msg = f"`quantity` must be one of {sorted({r.quantity for r in self.records})}, got {quantity!r}."
            raise ValueError(msg)
        if index is None:
            rec = recs[0]
        else:
            match = [r for r in recs if r.index == tuple(index)]
            if not match:
                msg = f"`index` {tuple(index)} is not among the {quantity} entries {[r.index for r in recs]}."
                raise ValueError(msg)
            rec = match[0]
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4))
        inv = 1.0 / np.asarray(rec.sizes)
        ax.errorbar(inv, rec.values, yerr=rec.stderr, fmt="o", label="Monte Carlo")
        grid = np.linspace(0.0, inv.max() * 1.05, 50)
        ax.plot(grid, rec.x_inf + rec.b * grid, "-", label="fit X_inf + b/size")
        ax.errorbar([0.0], [rec.x_inf], yerr=[rec.x_inf_se], fmt="s", color="C1")
        ax.plot([0.0], [rec.theory], "*", ms=12, color="C3", label="theory (infinite width)")
        ax.set_xlabel(f"1/{self.size_label}")
        ax.set_ylabel(f"{quantity} {rec.index}")
        ax.set_title(f"layer {self.layer}: z = {rec.z:.2f}", fontsize=9)
        ax.legend(fontsize=8)
        return ax


def _entries(n_inputs: int, quantity: str) -> list[tuple[int, ...]]:
    pairs = [(a, b) for a in range(n_inputs) for b in range(a, n_inputs)]
    if quantity == "kernel":
        return pairs
    return [p + q for i, p in enumerate(pairs) for q in pairs[i:]]


def finite_width_check(
    network: Network | Callable[[int], Network],
    x: object = None,
    widths: Sequence[int] | None = None,
    *,
    scales: Sequence[int] | None = None,
    layer: int | None = None,
    networks: int = 20_000,
    seed: int = 0,
    method: str | None = None,
    quantities: Sequence[str] = QUANTITIES,
) -> FiniteWidthCheck:
    """Monte Carlo at several widths, fitted as ``X_∞ + b/n``, against the theory (K and V).

    Parameters
    ----------
    network : Network or callable
        A template: with ``widths=`` every width but ``n_0`` is set to ``n``;
        with ``scales=`` the template's ``n_1..n_L`` are multiplied by ``s``.
        Or a callable ``size -> Network``.
    x : array_like or callable, optional
        Inputs (default one input of ones), or a callable ``size -> inputs``
        (e.g. when ``n_0`` changes with the size, as for square orthogonal nets).
    widths : sequence of int, optional
        Uniform widths n (default ``(32, 64, 128, 256)``).
    scales : sequence of int, optional
        Width scale factors (exclusive with ``widths``).
    layer : int, optional
        Layer checked (default the last).
    networks : int, default 20_000
        Networks sampled at each size.
    seed : int, default 0
        Each size gets an independent child of ``SeedSequence(seed)``.
    method : str, optional
        Sampler method (default ``"auto"``: the fastest exact method).
    quantities : sequence of {"kernel", "vertex"}

    Returns
    -------
    FiniteWidthCheck
        ``records`` hold the fit, the theory and the z-score of every
        independent entry; ``table()`` prints them, ``plot()`` draws one.
    """
    import deepeft

    if widths is not None and scales is not None:
        msg = "give `widths` (uniform widths n) or `scales` (factors on the template's widths), not both."
        raise ValueError(msg)
    if scales is not None:
        sizes = list(scales)
        label = "s"
    else:
        sizes = list(widths) if widths is not None else [32, 64, 128, 256]
        label = "n"
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (numbers.Integral, np.integer)) or s < 1:
            msg = f"`{'scales' if label == 's' else 'widths'}` must be positive integers, got {sizes!r}."
            raise ValueError(msg)
    if len(set(sizes)) < 2:
        msg = f"need at least two distinct sizes to fit X_inf + b/size, got {sizes!r}."
        raise ValueError(msg)
    if isinstance(networks, bool) or not isinstance(networks, (numbers.Integral, np.integer)) or networks < 2:
        msg = f"`networks` must be an integer >= 2, got {networks!r}."
        raise ValueError(msg)
    quantities = tuple(quantities)
    for q in quantities:
        if q not in QUANTITIES:
            msg = f"`quantities` must contain only {list(QUANTITIES)}, got {q!r}."
            raise ValueError(msg)
    if isinstance(network, Network):
        template = network

        def make(size: int) -> Network:
            if label == "s":
                ws = [template.widths[0]] + [w * size for w in template.widths[1:]]
            else:
                ws = [template.widths[0]] + [size] * template.depth
            return Network(ws, template.activation, list(template.cw), list(template.cb), template.init)

    elif callable(network):
        make = network  # type: ignore[assignment]
    else:
        msg = f"`network` must be a deepeft.Network or a callable size -> Network, got {type(network).__name__}."
        raise TypeError(msg)
    nets = [make(int(s)) for s in sizes]
    depth = nets[0].depth
    if layer is None:
        layer = depth
    if isinstance(layer, bool) or not isinstance(layer, (numbers.Integral, np.integer)) or not 1 <= layer <= depth:
        msg = f"`layer` must be an integer in [1, {depth}], got {layer!r}."
        raise ValueError(msg)
    if "vertex" in quantities and layer < 2 and nets[0].init == "gaussian":
        msg = "`layer` must be >= 2 to check the vertex (V^(1) = 0 for Gaussian weights)."
        raise ValueError(msg)
    method = "auto" if method is None else method
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    ests, theories = [], []
    xs = [x(int(s)) if callable(x) else x for s in sizes]
    for net, xi, child in zip(nets, xs, children, strict=True):
        ests.append(deepeft.sample(net, xi, networks=int(networks), seed=child, method=method,
                                   order=4 if "vertex" in quantities else 2, layers=[layer]))
        theories.append(deepeft.theory(net, xi))
    n_inputs = theories[0].n_inputs
    records = []
    for q in quantities:
        means, ses = [], []
        for est in ests:
            e = est.kernel(layer) if q == "kernel" else est.vertex(layer)
            means.append(np.asarray(e.mean, dtype=float))
            ses.append(np.asarray(e.stderr, dtype=float))
        th0 = theories[-1]
        pred = th0.kernel(layer) if q == "kernel" else th0.vertex(layer, order="leading")
        exact_vals = None
        if q == "kernel" and (th0.exact or (getattr(th0, "exact_available", False) and n_inputs == 1)):
            exact_vals = [t.kernel(layer) for t in theories]
        elif q == "vertex":
            try:
                exact_vals = [t.vertex(layer, order="exact") for t in theories]
            except ValueError:
                exact_vals = None
        for idx in _entries(n_inputs, q):
            vals = [float(m[idx]) for m in means]
            errs = [float(e[idx]) for e in ses]
            fit = fit_inverse_width(sizes, vals, errs)
            theory = float(pred[idx])
            z = _z(fit["x_inf"] - theory, fit["x_inf_se"], theory)
            b_th = z_b = None
            if exact_vals is not None:
                bfit = fit_inverse_width(sizes, [float(v[idx]) for v in exact_vals], [0.0] * len(sizes))
                b_th = bfit["b"]
                z_b = _z(fit["b"] - b_th, fit["b_se"], b_th)
            records.append(FitRecord(q, tuple(int(i) for i in idx), tuple(float(s) for s in sizes), tuple(vals),
                                     tuple(errs), fit["x_inf"], fit["x_inf_se"], fit["b"], fit["b_se"],
                                     fit["chi2"], fit["dof"], theory, z, b_th, z_b))
    return FiniteWidthCheck(int(layer), tuple(float(s) for s in sizes), label, int(networks), method, tuple(records))
