"""The ensemble description: construction, normalisation and every bad-input class."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import deepeft
from deepeft import Network, activations


def test_scalar_parameters_broadcast_per_layer():
    net = Network([3, 5, 7], cw=1.5, cb=0.25)
    assert net.widths == (3, 5, 7)
    assert net.depth == 2
    assert net.n0 == 3
    assert net.cw == (1.5, 1.5)
    assert net.cb == (0.25, 0.25)
    assert net.activation.is_linear
    assert net.init == "gaussian"
    assert net.has_biases


def test_per_layer_parameters_and_numpy_types():
    net = Network(np.array([2, 4, 4, 1]), cw=np.array([1.0, 2.0, 0.5]), cb=[0, 0.1, 0])
    assert net.widths == (2, 4, 4, 1)
    assert net.cw == (1.0, 2.0, 0.5)
    assert net.cb == (0.0, 0.1, 0.0)
    assert all(isinstance(w, int) for w in net.widths)


def test_uniform_constructor():
    net = Network.uniform(8, 32, 10, cw=2.0, activation="relu")
    assert net.widths == (8,) + (32,) * 10
    assert net.activation.name == "relu"


def test_network_is_frozen_and_hashable_by_value():
    a = Network([2, 3, 3], cw=1.2)
    b = Network([2, 3, 3], cw=[1.2, 1.2])
    assert a == b
    with pytest.raises(AttributeError):
        a.widths = (1, 2)  # type: ignore[misc]


def test_input_metric():
    net = Network([2, 3])
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    np.testing.assert_allclose(net.input_metric(x), x @ x.T / 2)
    np.testing.assert_allclose(net.input_metric([3.0, 4.0]), [[12.5]])


def test_activation_names_and_objects():
    assert Network([1, 2], activation=activations.leaky_relu(0.1)).activation.slopes == (1.0, 0.1)
    for name in activations.NAMES:
        act = Network([1, 2], activation=name).activation
        z = np.linspace(-2, 2, 5)
        assert np.all(np.isfinite(act(z)))


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"widths": [3]}, ValueError, "`widths` must have at least two"),
        ({"widths": []}, ValueError, "`widths` must have at least two"),
        ({"widths": [3, 0, 2]}, ValueError, "`widths` must contain positive integers"),
        ({"widths": [3, -1]}, ValueError, "`widths` must contain positive integers"),
        ({"widths": [3, 2.5]}, TypeError, "`widths` must contain positive integers"),
        ({"widths": [3, True]}, TypeError, "`widths` must contain positive integers"),
        ({"widths": "3,4"}, TypeError, "`widths` must be a sequence"),
        ({"widths": 5}, TypeError, "`widths` must be a sequence"),
        ({"widths": [2, 3], "cw": -1.0}, ValueError, "`cw` values must be finite and > 0"),
        ({"widths": [2, 3], "cw": 0.0}, ValueError, "`cw` values must be finite and > 0"),
        ({"widths": [2, 3], "cw": math.nan}, ValueError, "`cw` values must be finite"),
        ({"widths": [2, 3], "cw": math.inf}, ValueError, "`cw` values must be finite"),
        ({"widths": [2, 3], "cb": -0.1}, ValueError, "`cb` values must be finite and >= 0"),
        ({"widths": [2, 3], "cb": math.nan}, ValueError, "`cb` values must be finite"),
        ({"widths": [2, 3, 3], "cw": [1.0]}, ValueError, r"one value per layer \(length L=2\)"),
        ({"widths": [2, 3, 3], "cb": [0.0, 0.1, 0.2]}, ValueError, r"one value per layer \(length L=2\)"),
        ({"widths": [2, 3], "cw": "1"}, TypeError, "`cw` must be a real number"),
        ({"widths": [2, 3], "activation": "relux"}, ValueError, "`activation` must be one of"),
        ({"widths": [2, 3], "activation": 3}, TypeError, "`activation` must be a string"),
        ({"widths": [2, 3], "init": "uniform"}, ValueError, "`init` must be one of \\['gaussian', 'orthogonal'\\]"),
        ({"widths": [2, 3], "init": None}, TypeError, "`init` must be one of"),
    ],
)
def test_bad_network_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        Network(**kwargs)


@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (np.ones(3), re.escape("input dimension n0=2")),
        (np.ones((2, 3)), re.escape("input dimension n0=2")),
        (np.ones((1, 1, 2)), "must have shape"),
        (np.array([1.0, np.nan]), "must be finite"),
        (np.array([[1.0, np.inf]]), "must be finite"),
        (np.ones((0, 2)), "at least one input"),
    ],
)
def test_bad_inputs(x, pattern):
    net = Network([2, 3])
    with pytest.raises(ValueError, match=pattern):
        net.check_inputs(x)


def test_non_numeric_inputs():
    with pytest.raises(TypeError, match="`x` must be a numeric array"):
        Network([2, 3]).check_inputs([["a", "b"]])


def test_uniform_bad_arguments():
    with pytest.raises(ValueError, match="`depth` must be an integer >= 1"):
        Network.uniform(2, 3, 0)
    with pytest.raises(TypeError, match="`width` must be an integer"):
        Network.uniform(2, "3", 2)


def test_layer_errors_mention_the_input_layer_only_for_layer_zero():
    th = deepeft.theory(Network([2, 3, 3]))
    with pytest.raises(ValueError, match="layer 0 is the deterministic input"):
        th.moment(0, [0, 0], [0, 0])
    with pytest.raises(ValueError, match=r"got 5\.$") as info:
        th.moment(5, [0, 0], [0, 0])
    assert "deterministic input" not in str(info.value)
    with pytest.raises(ValueError) as info:
        th.kernel(-1)
    assert "deterministic input" not in str(info.value)


def test_theory_rejects_non_network():
    with pytest.raises(TypeError, match="`net` must be a deepeft.Network"):
        deepeft.theory([2, 3])  # type: ignore[arg-type]
