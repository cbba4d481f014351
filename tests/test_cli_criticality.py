"""``deepeft criticality``: JSON, tables, plots and errors."""

from __future__ import annotations

import json

import pytest

from deepeft.cli import main


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_critical_point_phase_diagram_and_depth_scaling(capsys):
    out = run_json(capsys, ["criticality", "--activation", "tanh", "--grid", "5", "--depth", "20",
                            "--depth-scaling", "--json"])
    crit = out["critical"]
    assert (crit["cb"], crit["cw"], crit["fixed_point"], crit["universality_class"]) == (0.0, 1.0, 0.0, "K*=0")
    assert crit["a1"] == pytest.approx(-2.0)
    pd = out["phase_diagram"]
    assert len(pd["cb"]) == 5
    assert len(pd["chi_perp"]) == 5
    assert len(pd["chi_perp"][0]) == 5
    ds = out["depth_scaling"]
    assert ds["layers"][:3] == [1, 2, 3]
    assert len(ds["v_over_k2"]) == 20
    assert ds["kernel"][9] * 10 * 2 == pytest.approx(1.1602, abs=1e-4)  # THEORY.md §3.4
    relu = run_json(capsys, ["criticality", "--activation", "relu", "--grid", "3", "--depth", "5",
                             "--depth-scaling", "--json"])
    assert relu["critical"]["cw"] == 2.0
    assert relu["critical"]["fixed_point"] is None
    assert relu["depth_scaling"]["v_over_k2"] == pytest.approx([0, 5, 10, 15, 20])


def test_table_output_and_plot(capsys, tmp_path):
    path = tmp_path / "crit.png"
    assert main(["criticality", "--activation", "leaky_relu(0.2)", "--grid", "4", "--depth", "10",
                 "--depth-scaling", "--width", "50", "--plot", str(path)]) == 0
    text = capsys.readouterr().out
    assert "critical initialisation of leaky_relu(0.2)" in text
    assert "universality class: scale-invariant" in text
    assert "V/(nK^2)" in text
    assert "n=50" in text
    assert path.exists()
    assert path.stat().st_size > 1000


def test_activation_without_critical_point(capsys):
    assert main(["criticality", "--activation", "softplus", "--grid", "3", "--depth", "5"]) == 0
    assert "no critical initialisation" in capsys.readouterr().out
    out = run_json(capsys, ["criticality", "--activation", "softplus", "--grid", "3", "--depth", "5", "--json"])
    assert out["critical"] is None
    assert "no critical initialisation" in out["message"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--activation", "sigmoidal"], "`activation` must be one of"),
        (["--grid", "1"], "--grid must be >= 2"),
        (["--depth", "0"], "--depth must be >= 1"),
        (["--cb", "1,0"], "--cb: expected MIN,MAX with MIN < MAX"),
        (["--cw=-1,2"], "--cb must be >= 0 and --cw > 0"),
        (["--width", "10"], "--width only applies with --depth-scaling"),
        (["--band", "0.5"], "--k0 must be > 0 and --band > 1"),
    ],
)
def test_errors(capsys, argv, message):
    assert main(["criticality", *argv]) == 2
    assert message in capsys.readouterr().err


def test_phase_map_shows_the_escape_direction(capsys):
    """C_b = 0, C_W = 0.1 (relu): K^(2) = 0.05 leaves the band downwards although the last
    in-band kernel (K^(1) = 1) is not below K0."""
    assert main(["criticality", "--activation", "relu", "--grid", "3", "--cw", "0.1,3.9", "--depth", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("C_b= 0.000 |"))
    assert row.split("| ")[1] == "v*^"
    out = run_json(capsys, ["criticality", "--activation", "relu", "--grid", "3", "--cw", "0.1,3.9",
                            "--depth", "30", "--json"])
    assert out["phase_diagram"]["escape_direction"][0] == [-1, 0, 1]
