"""Activation functions σ.

An :class:`Activation` carries the function itself (used by the Monte Carlo
samplers) and what the theory needs to know about it: its derivative and, for
the positively homogeneous family σ(z) = a₊ z₊ + a₋ z₋ (linear, ReLU, leaky
ReLU), the two slopes.

Use a string name wherever an activation is accepted (``"linear"``,
``"relu"``, ``"tanh"``, …; see :data:`NAMES`) or an object from the factories
here, e.g. ``deepeft.activations.leaky_relu(0.1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = [
    "NAMES",
    "Activation",
    "erf",
    "gelu",
    "get",
    "leaky_relu",
    "linear",
    "relu",
    "silu",
    "sin",
    "softplus",
    "tanh",
]

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation function.

    Parameters
    ----------
    name : str
        Display name, e.g. ``"relu"`` or ``"leaky_relu(0.1)"``.
    fn : callable
        σ, applied elementwise to a NumPy array.
    derivative : callable or None
        σ', applied elementwise; ``None`` if unknown.
    slopes : (float, float) or None
        ``(a_plus, a_minus)`` when σ(z) = a₊ max(z, 0) + a₋ min(z, 0) (positively
        homogeneous of degree one); ``None`` otherwise.
    """

    name: str
    fn: ArrayFn = field(repr=False, compare=False)
    derivative: ArrayFn | None = field(default=None, repr=False, compare=False)
    slopes: tuple[float, float] | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.fn(z)

    @property
    def is_linear(self) -> bool:
        """True for σ(z) = z."""
        return self.slopes == (1.0, 1.0)

    @property
    def is_homogeneous(self) -> bool:
        """True when σ(λz) = λσ(z) for λ > 0 (linear, ReLU, leaky ReLU)."""
        return self.slopes is not None

    def __str__(self) -> str:
        return self.name


def _homogeneous(name: str, a_plus: float, a_minus: float) -> Activation:
    ap, am = float(a_plus), float(a_minus)
    if ap == 1.0 and am == 1.0:
        return Activation(name, lambda z: z, lambda z: np.ones_like(z), (1.0, 1.0))

    def fn(z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, ap * z, am * z)

    def der(z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, ap, am)

    return Activation(name, fn, der, (ap, am))


def linear() -> Activation:
    """σ(z) = z (deep linear networks)."""
    return _homogeneous("linear", 1.0, 1.0)


def relu() -> Activation:
    """σ(z) = max(z, 0)."""
    return _homogeneous("relu", 1.0, 0.0)


def leaky_relu(a: float = 0.01) -> Activation:
    """σ(z) = z for z > 0 and a·z otherwise."""
    try:
        a = float(a)
    except (TypeError, ValueError) as exc:
        msg = f"`a` (leaky ReLU slope) must be a finite real number, got {a!r}."
        raise TypeError(msg) from exc
    if not math.isfinite(a):
        msg = f"`a` (leaky ReLU slope) must be finite, got {a!r}."
        raise ValueError(msg)
    return _homogeneous(f"leaky_relu({a:g})", 1.0, a)


def tanh() -> Activation:
    """σ(z) = tanh z."""
    return Activation("tanh", np.tanh, lambda z: 1.0 / np.cosh(z) ** 2)


def erf() -> Activation:
    """σ(z) = erf z."""
    return Activation("erf", special.erf, lambda z: 2.0 / math.sqrt(math.pi) * np.exp(-(z**2)))


def sin() -> Activation:
    """σ(z) = sin z."""
    return Activation("sin", np.sin, np.cos)


def gelu() -> Activation:
    """σ(z) = z Φ(z) (exact GELU, Φ the standard normal CDF)."""
    return Activation(
        "gelu",
        lambda z: z * special.ndtr(z),
        lambda z: special.ndtr(z) + z * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi),
    )


def silu() -> Activation:
    """σ(z) = z / (1 + e^{-z}) (SiLU, also called swish)."""
    return Activation(
        "silu",
        lambda z: z * special.expit(z),
        lambda z: special.expit(z) * (1 + z * (1 - special.expit(z))),
    )


def softplus() -> Activation:
    """σ(z) = log(1 + e^z)."""
    return Activation("softplus", lambda z: np.logaddexp(0.0, z), special.expit)


_FACTORIES: dict[str, Callable[[], Activation]] = {
    "linear": linear,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "tanh": tanh,
    "erf": erf,
    "sin": sin,
    "gelu": gelu,
    "silu": silu,
    "swish": silu,
    "softplus": softplus,
}

#: The string names accepted wherever an activation is expected.
NAMES: tuple[str, ...] = tuple(_FACTORIES)


def get(activation: str | Activation) -> Activation:
    """Return the :class:`Activation` for a name or pass an object through.

    ``"leaky_relu"`` means slope 0.01; use :func:`leaky_relu` for another slope.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key in _FACTORIES:
            return _FACTORIES[key]()
        msg = f"`activation` must be one of {list(NAMES)} or a deepeft.activations.Activation, got {activation!r}."
        raise ValueError(msg)
    msg = (
        f"`activation` must be a string (one of {list(NAMES)}) or a deepeft.activations.Activation, "
        f"got {activation!r} of type {type(activation).__name__}."
    )
    raise TypeError(msg)
