"""The network ensemble: widths, initialisation variances, activation.

Conventions (Roberts & Yaida, *The Principles of Deep Learning Theory*, ch. 2;
``THEORY.md`` §0):

* ``widths = (n_0, n_1, …, n_L)``: ``n_0`` is the input dimension, layers
  ``1..L`` are preactivation layers and ``n_L`` is the output width.
* Layer ``l`` has weights ``W^(l)`` of shape ``(n_l, n_{l-1})`` and biases
  ``b^(l)`` of length ``n_l``. Gaussian ensemble:
  ``W^(l)_{ij} ~ N(0, C_W^(l) / n_{l-1})`` (variance divided by the *fan-in*)
  and ``b^(l)_i ~ N(0, C_b^(l))``, all independent.
* ``z^(1) = b^(1) + W^(1) x`` and ``z^(l+1) = b^(l+1) + W^(l+1) σ(z^(l))``.
* Layer 0 is the input: ``G^(0)_{αβ} = x_α · x_β / n_0``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from . import activations as _act
from ._validate import check_choice, check_inputs, check_positive_int, per_layer

__all__ = ["INITS", "Network"]

#: Weight ensembles understood by deepeft.
INITS: tuple[str, ...] = ("gaussian", "orthogonal")


@dataclass(frozen=True, init=False)
class Network:
    """A frozen, validated description of a random-MLP ensemble at initialization.

    Parameters
    ----------
    widths : sequence of int
        ``[n_0, n_1, …, n_L]`` with ``L >= 1``; ``n_0`` is the input dimension.
    activation : str or deepeft.activations.Activation, default ``"linear"``
        σ; see :data:`deepeft.activations.NAMES`.
    cw : float or sequence of L floats, default 1.0
        Weight variances ``C_W^(l)`` (> 0); ``W^(l)`` has entries of variance
        ``C_W^(l) / n_{l-1}``.
    cb : float or sequence of L floats, default 0.0
        Bias variances ``C_b^(l)`` (>= 0).
    init : {"gaussian", "orthogonal"}, default ``"gaussian"``
        Weight ensemble. ``"orthogonal"`` means ``W^(l) = sqrt(C_W^(l)) O``
        with ``O`` Haar-distributed.

    Examples
    --------
    >>> import deepeft
    >>> net = deepeft.Network([8, 32, 32, 1], cw=1.0)
    >>> net.depth, net.cw
    (3, (1.0, 1.0, 1.0))
    """

    widths: tuple[int, ...]
    activation: _act.Activation = field(default_factory=_act.linear)
    cw: tuple[float, ...] = ()
    cb: tuple[float, ...] = ()
    init: str = "gaussian"

    def __init__(
        self,
        widths: object,
        activation: str | _act.Activation = "linear",
        cw: object = 1.0,
        cb: object = 0.0,
        init: str = "gaussian",
    ) -> None:
        if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple, np.ndarray, range)):
            msg = f"`widths` must be a sequence of positive integers [n0, n1, ..., nL], got {widths!r}."
            raise TypeError(msg)
        ws = list(widths)
        if len(ws) < 2:
            msg = f"`widths` must have at least two entries [n0, n1, ...] (input and one layer), got {widths!r}."
            raise ValueError(msg)
        checked = []
        for w in ws:
            if isinstance(w, np.integer):
                w = int(w)
            if isinstance(w, bool) or not isinstance(w, numbers.Integral):
                msg = f"`widths` must contain positive integers, got {widths!r}."
                raise TypeError(msg)
            if w <= 0:
                msg = f"`widths` must contain positive integers (>= 1), got {widths!r}."
                raise ValueError(msg)
            checked.append(int(w))
        depth = len(checked) - 1
        object.__setattr__(self, "widths", tuple(checked))
        object.__setattr__(self, "activation", _act.get(activation))
        object.__setattr__(self, "cw", per_layer("cw", cw, depth, strictly_positive=True))
        object.__setattr__(self, "cb", per_layer("cb", cb, depth, strictly_positive=False))
        object.__setattr__(self, "init", check_choice("init", init, INITS))

    @classmethod
    def uniform(
        cls,
        n0: int,
        width: int,
        depth: int,
        activation: str | _act.Activation = "linear",
        cw: object = 1.0,
        cb: object = 0.0,
        init: str = "gaussian",
    ) -> Network:
        """``Network([n0] + [width] * depth, …)``: equal hidden and output widths."""
        n0 = check_positive_int("n0", n0)
        width = check_positive_int("width", width)
        depth = check_positive_int("depth", depth)
        return cls([n0] + [width] * depth, activation, cw, cb, init)

    # ---------------------------------------------------------------- properties
    @property
    def depth(self) -> int:
        """L, the number of preactivation layers."""
        return len(self.widths) - 1

    @property
    def n0(self) -> int:
        """Input dimension ``n_0``."""
        return self.widths[0]

    @property
    def is_linear(self) -> bool:
        """True when σ(z) = z."""
        return self.activation.is_linear

    @property
    def has_biases(self) -> bool:
        """True when some ``C_b^(l) > 0``."""
        return any(c > 0 for c in self.cb)

    def width(self, layer: int) -> int:
        """``n_layer`` (layer 0 is the input)."""
        return self.widths[layer]

    def input_metric(self, x: object) -> np.ndarray:
        """``G^(0)_{αβ} = x_α · x_β / n_0`` for inputs of shape (N_D, n_0) or (n_0,)."""
        arr = check_inputs(x, self.n0)
        return arr @ arr.T / self.n0

    def check_inputs(self, x: object) -> np.ndarray:
        """Validate inputs against ``n_0``; return a float array of shape (N_D, n_0)."""
        return check_inputs(x, self.n0)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary of the ensemble."""
        return {
            "widths": list(self.widths),
            "activation": self.activation.name,
            "cw": list(self.cw),
            "cb": list(self.cb),
            "init": self.init,
        }

    def __repr__(self) -> str:
        def short(v: tuple[float, ...]) -> str:
            return f"{v[0]:g}" if len(set(v)) == 1 else "[" + ", ".join(f"{c:g}" for c in v) + "]"

        return (
            f"Network(widths={list(self.widths)}, activation={self.activation.name!r}, "
            f"cw={short(self.cw)}, cb={short(self.cb)}, init={self.init!r})"
        )
