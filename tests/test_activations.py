"""Activations: names, factories, user callables and their Gaussian-expectation methods."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import special

from deepeft import activations as A


def test_names_and_factories_round_trip():
    for name in A.NAMES:
        act = A.get(name)
        assert isinstance(act, A.Activation)
        z = np.linspace(-3, 3, 7)
        assert act(z).shape == z.shape
    assert A.get("swish").name == "silu"
    assert A.get(" ReLU ").name == "relu"
    assert A.get("leaky_relu").slopes == (1.0, 0.01)
    leaky = A.leaky_relu(0.2)
    assert A.get(leaky.name) == leaky  # "leaky_relu(0.2)" parses back
    assert A.get("leaky_relu( 0.5 )").slopes == (1.0, 0.5)
    obj = A.tanh()
    assert A.get(obj) is obj


def test_families_and_flags():
    assert A.linear().is_linear
    assert A.linear().family == "homogeneous"
    assert A.relu().is_homogeneous
    assert not A.relu().is_linear
    assert A.erf().family == "erf"
    assert A.sin().family == "sin"
    assert A.tanh().family == "generic"
    assert not A.tanh().has_closed_forms
    assert A.gelu().family == "gelu"
    assert not A.gelu().has_closed_forms  # closed form for the four-point function only
    assert A.piecewise_linear(1, 0).slopes == A.relu().slopes
    absval = A.piecewise_linear(1.0, -1.0)
    np.testing.assert_allclose(absval(np.array([-2.0, 3.0])), [2.0, 3.0])


def test_leaky_relu_zero_is_relu_in_values_and_expectations():
    z = np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(A.leaky_relu(0.0)(z), A.relu()(z))
    K = np.array([[1.0, 0.3], [0.3, 2.0]])
    np.testing.assert_allclose(A.leaky_relu(0.0).two_point(K), A.relu().two_point(K), rtol=1e-15)


def test_derivatives_match_finite_differences():
    z = np.linspace(-4, 4, 41)
    for name in ("tanh", "erf", "sin", "gelu", "silu", "softplus"):
        act = A.get(name)
        fd = A._numerical_derivative(act.fn, z)
        np.testing.assert_allclose(act.prime(z), fd, rtol=1e-9, atol=1e-11, err_msg=name)


def test_gelu_is_the_exact_gelu():
    z = np.linspace(-30, 30, 2001)
    np.testing.assert_allclose(A.gelu()(z), z * special.ndtr(z), rtol=1e-14, atol=1e-16)


def test_custom_wraps_callables_with_numerical_derivative():
    act = A.custom(np.tanh, name="mytanh")
    assert act.name == "mytanh"
    assert act.family == "generic"
    assert act.derivative is None
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(act.prime(z), 1 / np.cosh(z) ** 2, rtol=1e-10, atol=1e-12)
    assert A.get(np.sin).name == "sin"  # a plain callable becomes custom(...)
    assert A.get(np.sin).family == "generic"  # the theory cannot know it is sin


def test_custom_rejects_bad_callables():
    with pytest.raises(TypeError, match=re.escape("`fn` must be a callable")):
        A.custom(3.0)
    with pytest.raises(ValueError, match="returned a non-finite value"):
        A.custom(lambda z: 1.0 / z, name="inv")
    with pytest.raises(ValueError, match="returned a non-finite value"):
        A.custom(np.tanh, derivative=lambda z: np.log(z), name="badder")
    with pytest.raises(TypeError, match="must act elementwise"):
        A.custom(lambda z: np.sum(z), name="sum")
    with pytest.raises(TypeError, match="failed on a float array"):
        A.custom(lambda z: z.nonexistent, name="broken")
    with pytest.raises(TypeError, match=re.escape("`derivative` must be a callable")):
        A.custom(np.tanh, derivative=1.0)


def test_get_rejects_unknown_names_and_types():
    with pytest.raises(ValueError, match=re.escape("`activation` must be one of")):
        A.get("sigmoidal")
    with pytest.raises(ValueError, match=re.escape("`activation` must be one of")):
        A.get("leaky_relu(abc)")
    with pytest.raises(TypeError, match=re.escape("`activation` must be a string")):
        A.get(3)
    with pytest.raises(ValueError, match="closed_form"):
        A.Activation("x", np.tanh, closed_form="tanh")
    with pytest.raises(ValueError, match=re.escape("`a` (leaky ReLU slope) must be finite")):
        A.leaky_relu(float("nan"))
    with pytest.raises(ValueError, match="must not both be 0"):
        A.piecewise_linear(0, 0)


def test_expectation_methods():
    relu = A.relu()
    assert float(relu.two_point(2.0)[0, 0]) == pytest.approx(1.0, rel=1e-15)
    assert float(relu.derivative_two_point(np.eye(2))[0, 1]) == pytest.approx(0.25, rel=1e-15)
    assert float(relu.power_mean(2.0, 4)) == pytest.approx(1.5 * 4.0, rel=1e-15)  # 3K²/2
    K = np.array([[1.0, 0.2], [0.2, 1.5]])
    v = A.tanh().four_point(K, [[0, 0, 1, 1], [0, 1, 0, 1]])
    assert v[0] == pytest.approx(v[1], rel=1e-15)
