"""Exact deep-linear theory against dense Monte Carlo, through ``deepeft.compare``.

Statistical tests follow STYLE.md B10: one fixed seed per module (never re-tuned),
agreement measured in units of the estimator's own standard error, and negative
controls that must fail at the same run size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import deepeft
from deepeft import Network
from deepeft.comparison import Comparison, Record, default_patterns

SEED = 20261123
# Jackknife standard errors over 32 batches make z Student-t with 31 dof:
# P(|t| > 5) ~ 2e-5 per check, ~1e-3 over the few dozen checks of this module.
Z_CRIT = 5.0


@pytest.fixture(scope="module")
def two_input_run():
    """Biases, per-layer C_W and widths, two inputs: the general exact case."""
    net = Network([3, 6, 5, 7], cw=[1.2, 0.9, 1.1], cb=[0.1, 0.0, 0.2])
    x = np.array([[1.0, -0.5, 0.3], [0.2, 0.9, -0.7]])
    th = deepeft.theory(net, x)
    est = deepeft.sample(net, x, networks=20_000, seed=SEED, method="dense", order=4)
    return th, est


def test_exact_theory_agrees_with_dense_monte_carlo(two_input_run):
    th, est = two_input_run
    comp = deepeft.compare(th, est)
    assert isinstance(comp, Comparison)
    n_kernel = 3 * 3  # 3 entries a<=b, 3 layers
    assert sum(r.quantity == "kernel" for r in comp) == n_kernel
    assert sum(r.quantity == "cumulant" for r in comp) == 6 * 3
    worst = max(comp, key=lambda r: abs(r.z))
    assert comp.max_abs_z <= Z_CRIT, f"{worst.label} at layer {worst.layer}: z={worst.z:.2f} (seed={SEED})"


def test_negative_control_gaussian_value_of_the_connected_four_point_is_rejected(two_input_run):
    # At infinite width the connected 4-pt function vanishes; at these widths it does not,
    # and the same run must tell the difference.
    _, est = two_input_run
    c = est.cumulant(3, (0, 0, 1, 1), (0, 0, 0, 0))
    assert abs(c.mean / c.stderr) > Z_CRIT


def test_negative_control_wrong_weight_variance_is_rejected(two_input_run):
    th, est = two_input_run
    wrong = deepeft.theory(Network([3, 6, 5, 7], cw=[1.2, 0.9, 1.1 * 1.1], cb=[0.1, 0.0, 0.2]), th.x)
    k = est.kernel(3)
    z = (k.mean[0, 0] - wrong.kernel(3)[0, 0]) / k.stderr[0, 0]
    assert abs(z) > Z_CRIT


def test_single_input_six_point_against_closed_form():
    net = Network.uniform(1, 6, 4)
    th = deepeft.theory(net)
    est = deepeft.sample(net, networks=20_000, seed=SEED, method="dense", order=6)
    comp = deepeft.compare(th, est, layers=[2, 4])
    assert any(r.quantity == "cumulant" and len(r.neurons) == 6 for r in comp)
    assert comp.max_abs_z <= Z_CRIT, str(comp)


def test_records_and_rendering(two_input_run):
    th, est = two_input_run
    comp = deepeft.compare(th, est, layers=[2], patterns=[("kernel", (0, 0), (0, 1)),
                                                          ("moment", (0, 0, 1, 1), (0, 1, 0, 1))])
    assert len(comp) == 2
    rec = comp[0]
    assert isinstance(rec, Record)
    assert rec.label == "E[z_i;0 z_i;1]"
    assert comp[1].label == "E[z_i;0 z_i;1 z_j;0 z_j;1]"
    d = comp.to_dicts()[1]
    assert d["neurons"] == [0, 0, 1, 1]
    assert d["quantity"] == "moment"
    assert math.isclose(d["theory"], th.moment(2, (0, 0, 1, 1), (0, 1, 0, 1)))
    text = str(comp)
    assert "E[z_i;0 z_i;1]" in text

    from rich.console import Console

    con = Console(record=True, width=140)
    con.print(comp)
    rendered = con.export_text()
    assert "Monte Carlo" in rendered
    assert "E[z_i;0 z_i;1]" in rendered  # labels survive rich markup


def test_default_patterns_count():
    pats = default_patterns(2, 4)
    assert sum(q == "kernel" for q, _, _ in pats) == 3
    assert sum(q == "cumulant" for q, _, _ in pats) == 6
    assert len(default_patterns(1, 6)) == 1 + 1 + 1 + 2


def test_compare_rejects_mismatched_inputs(two_input_run):
    th, est = two_input_run
    other = deepeft.theory(th.network, th.x[:1])
    with pytest.raises(ValueError, match="different inputs"):
        deepeft.compare(other, est)
    with pytest.raises(ValueError, match="different networks"):
        deepeft.compare(deepeft.theory(Network([3, 6, 5, 8]), th.x), est)
    with pytest.raises(ValueError, match="`layers` must be among the sampled layers"):
        deepeft.compare(th, est, layers=[7])
    with pytest.raises(ValueError, match="pattern quantity"):
        deepeft.compare(th, est, patterns=[("vertex", (0, 0), (0, 0))])
    with pytest.raises(TypeError, match="`theory` must be the result of deepeft.theory"):
        deepeft.compare("a", est)
    with pytest.raises(TypeError, match="`estimates` must be the result of deepeft.sample"):
        deepeft.compare(th, {"kernel": 1})


def test_undefined_standard_error_gives_nan_z_not_inf():
    # one network: no spread, so no standard error; z must say "undefined", not "infinitely off"
    net = Network([2, 3, 3])
    comp = deepeft.compare(deepeft.theory(net), deepeft.sample(net, networks=1, method="dense"))
    assert all(math.isnan(r.z) or abs(r.z) < 1e12 for r in comp)
    assert not math.isinf(comp.max_abs_z)
