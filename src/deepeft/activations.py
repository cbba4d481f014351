"""Activation functions σ and their Gaussian expectations.

An :class:`Activation` carries the function itself (used by the Monte Carlo
samplers) and what the theory needs to know about it: its derivative, the
family it belongs to and, through its methods, the Gaussian expectations
``⟨σσ⟩_K``, ``⟨σ'σ'⟩_K`` and ``⟨σσσσ⟩_K`` that drive the layer recursions of
Roberts & Yaida (arXiv:2106.10165, chs. 4–5; ``THEORY.md`` §3).

Use a string name wherever an activation is accepted (``"linear"``,
``"relu"``, ``"tanh"``, …; see :data:`NAMES`; ``"leaky_relu(0.2)"`` sets the
slope), an object from the factories here, e.g.
``deepeft.activations.leaky_relu(0.1)``, or any elementwise NumPy callable via
:func:`custom`.

How expectations are computed (details in :mod:`deepeft.gaussian`):

* **closed forms** for the positively homogeneous family σ = a₊z₊ + a₋z₋
  (linear, ReLU, leaky ReLU: arc-cosine kernels and Gaussian orthant
  moments), for ``erf`` (Williams' arcsine kernel and orthant probabilities),
  for ``sin`` (Fourier) and for the four-point function of GELU (orthant
  moments). Four-variable orthant probabilities reduce to one smooth 1-d
  integral (Plackett), evaluated to ~1e-15.
* **quadrature** for everything else (tanh, SiLU, softplus, GELU's two-point
  functions, user callables): tensor Gauss–Hermite / trapezoid rules along the
  principal axes of K, with per-axis orders calibrated once per activation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = [
    "FAMILIES",
    "NAMES",
    "Activation",
    "custom",
    "erf",
    "gelu",
    "get",
    "leaky_relu",
    "linear",
    "piecewise_linear",
    "relu",
    "silu",
    "sin",
    "softplus",
    "tanh",
]

ArrayFn = Callable[[np.ndarray], np.ndarray]

#: Families with closed-form Gaussian expectations; everything else is "generic".
FAMILIES: tuple[str, ...] = ("homogeneous", "erf", "sin", "gelu", "generic")

_CLOSED_FORMS = (None, "erf", "sin", "gelu")


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
        σ', applied elementwise; ``None`` if unknown (a five-point finite
        difference of ``fn`` is used then).
    slopes : (float, float) or None
        ``(a_plus, a_minus)`` when σ(z) = a₊ max(z, 0) + a₋ min(z, 0) (positively
        homogeneous of degree one); ``None`` otherwise.
    closed_form : {"erf", "sin", "gelu"} or None
        Marks ``fn`` as exactly erf, sin or GELU (z Φ(z)) so that closed-form
        expectations are used (for GELU: the four-point function, through
        Φ(z) = P(g < z) and Gaussian orthant moments). Leave ``None`` for
        anything else.

    Examples
    --------
    >>> import numpy as np
    >>> from deepeft import activations
    >>> act = activations.get("relu")
    >>> float(act.two_point(np.array([[2.0]]))[0, 0])  # <relu(z)^2> = K/2
    1.0
    """

    name: str
    fn: ArrayFn = field(repr=False, compare=False)
    derivative: ArrayFn | None = field(default=None, repr=False, compare=False)
    slopes: tuple[float, float] | None = None
    closed_form: str | None = None

    def __post_init__(self) -> None:
        if self.closed_form not in _CLOSED_FORMS:
            msg = f"`closed_form` must be None, 'erf', 'sin' or 'gelu', got {self.closed_form!r}."
            raise ValueError(msg)

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

    @property
    def family(self) -> str:
        """``"homogeneous"``, ``"erf"``, ``"sin"``, ``"gelu"`` (closed forms) or ``"generic"`` (quadrature)."""
        if self.slopes is not None:
            return "homogeneous"
        return self.closed_form or "generic"

    @property
    def has_closed_forms(self) -> bool:
        """True when every Gaussian expectation deepeft needs is (semi-)analytic.

        (GELU has closed forms for its four-point function only.)
        """
        return self.family in ("homogeneous", "erf", "sin")

    def prime(self, z: np.ndarray) -> np.ndarray:
        """σ'(z): the given derivative, else a five-point central difference."""
        z = np.asarray(z, dtype=float)
        if self.derivative is not None:
            return np.asarray(self.derivative(z), dtype=float)
        return _numerical_derivative(self.fn, z)

    # ------------------------------------------------- Gaussian expectations
    def two_point(self, K: object) -> np.ndarray:
        """``⟨σ(z_α) σ(z_β)⟩`` for ``z ~ N(0, K)``: an (N, N) array.

        ``K`` is an (N, N) positive semi-definite matrix (a scalar is one input).
        """
        from . import gaussian

        return gaussian.two_point(self, K)

    def derivative_two_point(self, K: object) -> np.ndarray:
        """``⟨σ'(z_α) σ'(z_β)⟩`` for ``z ~ N(0, K)``: an (N, N) array."""
        from . import gaussian

        return gaussian.derivative_two_point(self, K)

    def four_point(self, K: object, indices: object) -> np.ndarray:
        """``⟨σ_a σ_b σ_c σ_d⟩_K`` for each row ``(a, b, c, d)`` of ``indices``."""
        from . import gaussian

        return gaussian.four_point(self, K, indices)

    def power_mean(self, K: object, p: int) -> np.ndarray:
        """``⟨σ(z)^p⟩`` for one input, ``z ~ N(0, K)``, elementwise over an array of K."""
        from . import gaussian

        return gaussian.power_mean(self, K, p)

    def __str__(self) -> str:
        return self.name


# ----------------------------------------------------------------- helpers
def _numerical_derivative(fn: ArrayFn, z: np.ndarray) -> np.ndarray:
    """Five-point central difference, step ~1e-3 (truncation ~1e-12, rounding ~1e-13)."""
    z = np.asarray(z, dtype=float)
    h = 1e-3 * np.maximum(1.0, np.abs(z))

    def f(t: np.ndarray) -> np.ndarray:
        return np.asarray(fn(t), dtype=float)

    return (f(z - 2 * h) - 8 * f(z - h) + 8 * f(z + h) - f(z + 2 * h)) / (12 * h)


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=float)


def _ones(z: np.ndarray) -> np.ndarray:
    return np.ones_like(np.asarray(z, dtype=float))


def _tanh_prime(z: np.ndarray) -> np.ndarray:
    e = np.exp(-2.0 * np.abs(z))  # sech² z = 4e^{-2|z|} / (1 + e^{-2|z|})², no overflow at large |z|
    return 4.0 * e / (1.0 + e) ** 2


def _erf_prime(z: np.ndarray) -> np.ndarray:
    return 2.0 / math.sqrt(math.pi) * np.exp(-(np.asarray(z, dtype=float) ** 2))


_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _gelu(z: np.ndarray) -> np.ndarray:
    # Φ(z) = erfc(-z/√2)/2: same values as special.ndtr, about 1.6x faster
    return 0.5 * z * special.erfc(-_INV_SQRT2 * np.asarray(z, dtype=float))


def _gelu_prime(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return 0.5 * special.erfc(-_INV_SQRT2 * z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _silu(z: np.ndarray) -> np.ndarray:
    return z * special.expit(z)


def _silu_prime(z: np.ndarray) -> np.ndarray:
    s = special.expit(z)
    return s * (1 + z * (1 - s))


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _homogeneous(name: str, a_plus: float, a_minus: float) -> Activation:
    ap, am = float(a_plus), float(a_minus)
    if ap == 1.0 and am == 1.0:
        return Activation(name, _identity, _ones, (1.0, 1.0))

    def fn(z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, ap * z, am * z)

    def der(z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, ap, am)

    return Activation(name, fn, der, (ap, am))


def _check_slope(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        msg = f"`{name}` must be a finite real number, got {value!r}."
        raise TypeError(msg) from exc
    if not math.isfinite(v):
        msg = f"`{name}` must be finite, got {value!r}."
        raise ValueError(msg)
    return v


# --------------------------------------------------------------- factories
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


def piecewise_linear(a_plus: float, a_minus: float, name: str | None = None) -> Activation:
    """σ(z) = a₊ max(z, 0) + a₋ min(z, 0): the general scale-invariant activation.

    ``piecewise_linear(1, 0)`` is ReLU, ``piecewise_linear(1, a)`` leaky ReLU,
    ``piecewise_linear(1, -1)`` is ``|z|``.
    """
    ap = _check_slope("a_plus", a_plus)
    am = _check_slope("a_minus", a_minus)
    if ap == 0.0 and am == 0.0:
        msg = "`a_plus` and `a_minus` must not both be 0 (σ ≡ 0 has no non-trivial statistics)."
        raise ValueError(msg)
    return _homogeneous(name or f"piecewise_linear({ap:g},{am:g})", ap, am)


def tanh() -> Activation:
    """σ(z) = tanh z."""
    return Activation("tanh", np.tanh, _tanh_prime)


def erf() -> Activation:
    """σ(z) = erf z."""
    return Activation("erf", special.erf, _erf_prime, closed_form="erf")


def sin() -> Activation:
    """σ(z) = sin z."""
    return Activation("sin", np.sin, np.cos, closed_form="sin")


def gelu() -> Activation:
    """σ(z) = z Φ(z) (exact GELU, Φ the standard normal CDF)."""
    return Activation("gelu", _gelu, _gelu_prime, closed_form="gelu")


def silu() -> Activation:
    """σ(z) = z / (1 + e^{-z}) (SiLU, also called swish)."""
    return Activation("silu", _silu, _silu_prime)


def softplus() -> Activation:
    """σ(z) = log(1 + e^z)."""
    return Activation("softplus", _softplus, special.expit)


#: Points at which a user callable is probed when it is wrapped by :func:`custom`.
_PROBE = np.concatenate([np.linspace(-12.0, 12.0, 97), [-40.0, -25.0, 25.0, 40.0]])


def custom(fn: ArrayFn, derivative: ArrayFn | None = None, name: str | None = None) -> Activation:
    """Wrap any elementwise NumPy callable as an :class:`Activation`.

    Parameters
    ----------
    fn : callable
        σ, mapping a float array to a float array of the same shape.
    derivative : callable, optional
        σ'. Without it a five-point central difference of ``fn`` is used
        (relative error ~1e-11 for smooth σ).
    name : str, optional
        Display name (default: ``fn.__name__``).

    Expectations of a custom activation are always computed by quadrature
    (the theory cannot know that ``fn`` is, say, ``np.tanh``); its accuracy is
    calibrated on ``fn`` itself, and an :class:`~deepeft.gaussian.AccuracyWarning`
    is raised when the target cannot be met (kinks, discontinuities).

    Raises
    ------
    TypeError
        If ``fn`` (or ``derivative``) is not callable or does not return an
        array of the input's shape.
    ValueError
        If ``fn`` returns NaN or inf on a probe grid in [-40, 40].
    """
    if not callable(fn):
        msg = f"`fn` must be a callable acting elementwise on NumPy arrays, got {fn!r}."
        raise TypeError(msg)
    if derivative is not None and not callable(derivative):
        msg = f"`derivative` must be a callable or None, got {derivative!r}."
        raise TypeError(msg)
    label = name if name is not None else getattr(fn, "__name__", "custom")
    if not isinstance(label, str) or not label:
        msg = f"`name` must be a non-empty string, got {name!r}."
        raise TypeError(msg)
    for what, f in (("fn", fn), ("derivative", derivative)):
        if f is None:
            continue
        try:
            with np.errstate(all="ignore"):  # non-finite values are reported below, not warned
                out = np.asarray(f(_PROBE.copy()), dtype=float)
        except Exception as exc:  # a user callable can raise anything
            msg = f"`{what}` of activation {label!r} failed on a float array: {exc!r}."
            raise TypeError(msg) from exc
        if out.shape != _PROBE.shape:
            msg = (
                f"`{what}` of activation {label!r} must act elementwise (same output shape as "
                f"its input), got shape {out.shape} for an input of shape {_PROBE.shape}."
            )
            raise TypeError(msg)
        if not np.all(np.isfinite(out)):
            bad = _PROBE[~np.isfinite(out)][0]
            msg = (
                f"`{what}` of activation {label!r} returned a non-finite value "
                f"(at z = {bad:g}); Gaussian expectations need σ finite on the real line."
            )
            raise ValueError(msg)
    return Activation(label, fn, derivative)


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

_LEAKY = re.compile(r"^leaky_relu\s*\(\s*([^()]+?)\s*\)$")


def get(activation: str | Activation | ArrayFn) -> Activation:
    """Return the :class:`Activation` for a name or pass an object through.

    ``"leaky_relu"`` means slope 0.01; ``"leaky_relu(0.2)"`` (the name of
    ``leaky_relu(0.2)``) or :func:`leaky_relu` set another slope. A plain
    callable is wrapped with :func:`custom`.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key in _FACTORIES:
            return _FACTORIES[key]()
        m = _LEAKY.match(key)
        if m:
            try:
                slope = float(m.group(1))
            except ValueError:
                slope = None
            if slope is not None:
                return leaky_relu(slope)
        msg = (
            f"`activation` must be one of {list(NAMES)} (or 'leaky_relu(a)'), a "
            f"deepeft.activations.Activation or a callable, got {activation!r}."
        )
        raise ValueError(msg)
    if callable(activation):
        return custom(activation)
    msg = (
        f"`activation` must be a string (one of {list(NAMES)}) or a deepeft.activations.Activation, "
        f"got {activation!r} of type {type(activation).__name__}."
    )
    raise TypeError(msg)
