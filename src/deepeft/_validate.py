"""Argument checking shared by the public API.

Every public entry point validates its arguments here, so that bad input fails
early with a message that names the parameter, echoes what was received and
says what is allowed -- never with a traceback from deep inside NumPy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "check_choice",
    "check_correlator",
    "check_index_sequence",
    "check_inputs",
    "check_layer",
    "check_positive_int",
    "check_seed",
    "per_layer",
]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value):
        msg = f"`{name}` must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)
    value = int(value)  # type: ignore[arg-type]
    if value < minimum:
        msg = f"`{name}` must be an integer >= {minimum}, got {value}."
        raise ValueError(msg)
    return value


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed`` (strings), else raise."""
    if not isinstance(value, str):
        msg = f"`{name}` must be one of {list(allowed)}, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)
    if value not in allowed:
        msg = f"`{name}` must be one of {list(allowed)}, got {value!r}."
        raise ValueError(msg)
    return value


def check_layer(layer: object, depth: int, *, allow_input: bool = True, name: str = "layer") -> int:
    """Validate a layer index. Layer 0 is the input, layers 1..depth are preactivations."""
    if not _is_int(layer):
        msg = f"`{name}` must be an integer in [{0 if allow_input else 1}, {depth}], got {layer!r}."
        raise TypeError(msg)
    layer = int(layer)  # type: ignore[arg-type]
    low = 0 if allow_input else 1
    if not low <= layer <= depth:
        extra = (
            " (layer 0 is the deterministic input, which has no ensemble statistics)"
            if layer == 0 and not allow_input
            else ""
        )
        msg = f"`{name}` must be an integer in [{low}, {depth}], got {layer}{extra}."
        raise ValueError(msg)
    return layer


def check_inputs(x: object, n0: int) -> np.ndarray:
    """Return inputs as a float64 array of shape (N_D, n0).

    A 1-d array of length ``n0`` is one input.
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"`x` must be a numeric array of shape (N_D, n0={n0}) or (n0,), got {type(x).__name__}."
        raise TypeError(msg) from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        msg = f"`x` must have shape (N_D, n0={n0}) or (n0,), got an array of shape {arr.shape}."
        raise ValueError(msg)
    if arr.shape[0] == 0:
        msg = "`x` must contain at least one input, got an empty array."
        raise ValueError(msg)
    if arr.shape[1] != n0:
        msg = (
            f"`x` must have input dimension n0={n0} (the first entry of `widths`), "
            f"got inputs of dimension {arr.shape[1]} (array shape {arr.shape})."
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = "`x` must be finite; it contains NaN or inf."
        raise ValueError(msg)
    return arr


def check_index_sequence(name: str, value: object, *, upper: int | None = None, what: str = "") -> tuple[int, ...]:
    """Return a tuple of non-negative ints, each < ``upper`` when given."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        msg = f"`{name}` must be a sequence of non-negative integers, got {value!r}."
        raise TypeError(msg)
    out = []
    for v in value:
        if isinstance(v, np.integer):
            v = int(v)
        if not _is_int(v):
            msg = f"`{name}` must be a sequence of non-negative integers, got {value!r}."
            raise TypeError(msg)
        if v < 0 or (upper is not None and v >= upper):
            rng = f"[0, {upper - 1}]" if upper is not None else ">= 0"
            msg = f"`{name}` entries must be in {rng}{what}, got {v} in {list(value)!r}."
            raise ValueError(msg)
        out.append(int(v))
    return tuple(out)


def check_seed(seed: object) -> int | np.random.SeedSequence:
    """Accept an int >= 0 or a :class:`numpy.random.SeedSequence`."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if _is_int(seed) and int(seed) >= 0:  # type: ignore[call-overload]
        return int(seed)  # type: ignore[call-overload]
    msg = (
        "`seed` must be a non-negative integer or a numpy.random.SeedSequence, "
        f"got {seed!r} of type {type(seed).__name__}."
    )
    raise TypeError(msg) if not _is_int(seed) else ValueError(msg)


def per_layer(name: str, value: object, depth: int, *, strictly_positive: bool) -> tuple[float, ...]:
    """Broadcast a scalar or validate a length-``depth`` sequence of finite reals."""
    bound = "> 0" if strictly_positive else ">= 0"
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool):
        values = [value] * depth
    elif isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(values) != depth:
            msg = (
                f"`{name}` must be a scalar or have one value per layer (length L={depth}), "
                f"got length {len(values)}: {value!r}."
            )
            raise ValueError(msg)
    else:
        msg = f"`{name}` must be a real number or a sequence of L={depth} real numbers, got {value!r}."
        raise TypeError(msg)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
            msg = f"`{name}` must contain real numbers, got {value!r}."
            raise TypeError(msg)
        v = float(v)
        if not math.isfinite(v) or v < 0 or (strictly_positive and v == 0):
            msg = f"`{name}` values must be finite and {bound}, got {value!r}."
            raise ValueError(msg)
        out.append(v)
    return tuple(out)


def check_correlator(
    neurons: object, inputs: object, *, layer: int, width: int, n_inputs: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validate the points of a correlator E[z_{neurons[0]; inputs[0]} ⋯] at ``layer``.

    ``neurons`` must be valid neuron indices of that layer (``< width``), ``inputs``
    valid input indices (``< n_inputs``), with equal, non-zero lengths.
    """
    neurons = check_index_sequence(
        "neurons", neurons, upper=width, what=f" (layer {layer} has n_{layer}={width} neurons)"
    )
    inputs = check_index_sequence("inputs", inputs, upper=n_inputs, what=f" (there are N_D={n_inputs} inputs)")
    if len(neurons) != len(inputs):
        msg = (
            "`neurons` and `inputs` must have the same length (one neuron and one input per point), "
            f"got {len(neurons)} and {len(inputs)}."
        )
        raise ValueError(msg)
    if not neurons:
        msg = "`neurons` and `inputs` must name at least one point, got empty sequences."
        raise ValueError(msg)
    return neurons, inputs
