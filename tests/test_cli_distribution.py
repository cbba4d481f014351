"""``deepeft distribution``: JSON round trip, figure, Monte Carlo summary, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import deepeft
from deepeft import Network
from deepeft.cli import main


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_round_trip_matches_python_api(capsys):
    out = run_json(capsys, ["distribution", "--widths", "1,3,4,3", "--cw", "1.2", "--samples", "0",
                            "--no-plot", "--json"])
    d = deepeft.output_distribution(Network([1, 3, 4, 3], cw=1.2))
    assert out["kind"] == "coordinate"
    assert out["family"] == "meijer-g"
    assert out["network"]["widths"] == [1, 3, 4, 3]
    assert out["variance"] == pytest.approx(1.2**3, rel=1e-13)
    assert out["excess_kurtosis"] == pytest.approx(3 * (1 + 2 / 3) * (1 + 2 / 4) - 3, rel=1e-12)
    assert out["atom"] == 0.0
    for q, value in out["quantiles"].items():
        assert value == pytest.approx(float(d.ppf(float(q))), rel=1e-12, abs=1e-300)
    tails = out["tails"]["P(X > mean + 5 sd)"]
    assert tails["exact"] > 100 * tails["gaussian"]  # heavy tails of the finite-width law
    assert "monte_carlo" not in out
    assert "plot" not in out


def test_relu_json_with_monte_carlo(capsys):
    out = run_json(capsys, ["distribution", "--widths", "2,2,3,2", "--activation", "relu", "--cw", "2",
                            "--samples", "4000", "--seed", "5", "--no-plot", "--json"])
    atom = 1 - (1 - 2**-2) * (1 - 2**-3)
    assert out["atom"] == pytest.approx(atom, rel=1e-14)
    mc = out["monte_carlo"]
    assert mc["source"] == "network"
    assert mc["samples"] == 4000
    assert mc["seed"] == 5
    se = math.sqrt(atom * (1 - atom) / 4000)
    assert abs(mc["fraction_zero"] - atom) < 5 * se
    assert mc["ks_distance"] < 5 * mc["ks_distance_1_over_sqrt_n"]
    again = run_json(capsys, ["distribution", "--widths", "2,2,3,2", "--activation", "relu", "--cw", "2",
                              "--samples", "4000", "--seed", "5", "--no-plot", "--json"])
    assert again["monte_carlo"]["mean"] == mc["mean"]  # same seed, same sample


def test_plot_is_written(capsys, tmp_path):
    path = tmp_path / "law.png"
    out = run_json(capsys, ["distribution", "--widths", "1,3,3,3", "--samples", "3000", "--plot", str(path),
                            "--json"])
    assert out["plot"] == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000


@pytest.mark.parametrize("kind", ["norm_squared", "log_norm_squared", "log_coordinate_squared"])
def test_other_kinds_and_exact_sampler(capsys, tmp_path, kind):
    out = run_json(capsys, ["distribution", "--widths", "2,3,4,3", "--kind", kind, "--samples", "2000",
                            "--mc", "law", "--plot", str(tmp_path / f"{kind}.png"), "--json"])
    d = deepeft.output_distribution(Network([2, 3, 4, 3]), kind=kind)
    assert out["kind"] == kind
    assert out["mean"] == pytest.approx(float(d.mean()), rel=1e-12)
    assert out["monte_carlo"]["source"] == "law"
    assert (tmp_path / f"{kind}.png").exists()


def test_orthogonal_table_output(capsys):
    assert main(["distribution", "--widths", "4,4,4", "--init", "orthogonal", "--samples", "500",
                 "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "sphere-beta" in text
    assert "excess kurtosis" in text
    assert "Monte Carlo" in text


def test_inputs_file(capsys, tmp_path):
    x = np.array([[0.5, -1.5]])
    path = tmp_path / "x.csv"
    np.savetxt(path, x, delimiter=",")
    out = run_json(capsys, ["distribution", "--widths", "2,3,3", "--inputs", str(path), "--samples", "0",
                            "--no-plot", "--json"])
    assert out["variance"] == pytest.approx((x @ x.T).item() / 2, rel=1e-13)
    assert out["x"] == [0.5, -1.5]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--widths", "1,3,3", "--activation", "tanh", "--no-plot"], "deepeft.sample"),
        (["--widths", "1,3,3", "--cb", "0.1", "--no-plot"], "nonzero in layer"),
        (["--widths", "2,3,3", "--init", "orthogonal", "--no-plot"], "not all equal"),
        (["--widths", "1,3,3", "--plot", "out.pdf"], "--plot"),
        (["--widths", "1,3,3", "--samples", "-1", "--no-plot"], "--samples"),
        (["--widths", "3,3,3", "--init", "orthogonal", "--kind", "norm_squared", "--no-plot"], "exactly"),
    ],
)
def test_errors(capsys, argv, message):
    assert main(["distribution", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepeft distribution: error:")
    assert message in err


def test_several_inputs_rejected(capsys, tmp_path):
    path = tmp_path / "x.csv"
    np.savetxt(path, np.eye(2), delimiter=",")
    assert main(["distribution", "--widths", "2,3,3", "--inputs", str(path), "--no-plot"]) == 2
    assert "single input" in capsys.readouterr().err
