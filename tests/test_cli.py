"""The command line: JSON round trips, readable output, errors, and the tour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deepeft
from deepeft import Network
from deepeft.cli import main


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_theory_json_matches_python_api(capsys):
    out = run_json(capsys, ["theory", "--widths", "1,10,10,10,10,10", "--order", "6", "--json"])
    assert out["exact"] is True
    assert out["network"]["widths"] == [1, 10, 10, 10, 10, 10]
    layer5 = out["layers"][4]
    assert layer5["layer"] == 5
    # THEORY.md R1b and R1d: V^(5)/G^2 = 10.736 (leading 8), U^(5)/G^3 = 374.514176 (leading 176)
    assert layer5["vertex"][0][0][0][0] == pytest.approx(10.736, rel=1e-12)
    assert layer5["vertex_leading"][0][0][0][0] == pytest.approx(8.0, rel=1e-12)
    assert layer5["six_point_vertex"][0][0][0][0][0][0] == pytest.approx(374.514176, rel=1e-12)
    assert layer5["six_point_vertex_leading"][0][0][0][0][0][0] == pytest.approx(176.0, rel=1e-12)


def test_theory_with_inputs_file_and_per_layer_parameters(capsys, tmp_path):
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    path = tmp_path / "x.csv"
    np.savetxt(path, x, delimiter=",")
    out = run_json(capsys, ["theory", "--widths", "2,10,10,10", "--cb", "0.1", "--inputs", str(path), "--json"])
    th = deepeft.theory(Network([2, 10, 10, 10], cb=0.1), x)
    np.testing.assert_allclose(out["layers"][2]["kernel"], th.kernel(3), rtol=1e-14)
    v = np.array(out["layers"][2]["vertex"])
    # THEORY.md R7: exact V^(3) entries
    assert v[0, 0, 0, 0] == pytest.approx(1.844, rel=1e-10)
    assert v[0, 1, 0, 1] == pytest.approx(1.344, rel=1e-10)
    assert v[0, 0, 1, 1] == pytest.approx(0.924, rel=1e-10)
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    out2 = run_json(capsys, ["theory", "--widths", "2,10,10,10", "--cb", "0.1", "--inputs", str(npy), "--json"])
    assert out2["layers"] == out["layers"]


def test_theory_survives_overflow_with_scale_free_ratios(capsys):
    # G^(2000) = 1.5^2000 is beyond float64, but V/G² is finite: report it, never NaN
    out = run_json(capsys, ["theory", "--n0", "1", "--width", "10", "--depth", "2000", "--cw", "1.5",
                            "--layers", "2000", "--json"])
    row = out["layers"][0]
    assert row["kernel"] is None
    assert row["ratios"]["V/G2_leading"] == pytest.approx(2 * 1999, rel=1e-12)
    assert row["ratios"]["V/G2"] == pytest.approx(10 * ((1 + 2 / 10) ** 1999 - 1), rel=1e-9)


def test_theory_table_output(capsys):
    assert main(["theory", "--n0", "1", "--width", "10", "--depth", "5", "--order", "6"]) == 0
    text = capsys.readouterr().out
    assert "V/G² exact" in text
    assert "10.736" in text


def test_sample_json_is_reproducible(capsys):
    argv = ["sample", "--widths", "2,4,4", "--networks", "500", "--seed", "3", "--no-progress", "--json"]
    a = run_json(capsys, argv)
    b = run_json(capsys, argv)
    for d in (a, b):
        d.pop("elapsed", None)  # wall-clock time is the one thing a seed does not fix
    assert a == b
    c = run_json(capsys, [*argv[:-4], "--seed", "4", "--no-progress", "--json"])
    c.pop("elapsed", None)
    assert c["seed"] == 4
    assert c != a


def test_sample_json_carries_connected_functions(capsys):
    out = run_json(capsys, ["sample", "--widths", "1,5,5,5", "--networks", "2000", "--order", "6",
                            "--no-progress", "--json"])
    th = deepeft.theory(Network([1, 5, 5, 5]))
    c4 = out["connected"]["3"]["connected_4pt"]
    c6 = out["connected"]["3"]["connected_6pt"]
    assert abs(c4["mean"] - th.cumulant(3, [0, 0, 1, 1], [0] * 4)) < 5 * c4["stderr"]
    assert abs(c6["mean"] - th.cumulant(3, [0, 0, 1, 1, 2, 2], [0] * 6)) < 5 * c6["stderr"]
    assert out["connected"]["1"]["connected_4pt"]["mean"] == pytest.approx(0.0, abs=1e-12)


def test_sample_table_output(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps headers at the terminal width
    assert main(["sample", "--widths", "1,4,4", "--networks", "300", "--no-progress", "--order", "6"]) == 0
    text = capsys.readouterr().out
    assert "G_00" in text
    assert "κ[z_i z_i z_j z_j z_k z_k]" in text


def test_compare_json_and_exit_status(capsys):
    argv = ["compare", "--widths", "1,5,5,5", "--networks", "4000", "--seed", "1", "--no-progress", "--json"]
    out = run_json(capsys, argv)
    assert out["records"]
    assert out["max_abs_z"] < 5
    labels = {r["label"] for r in out["records"]}
    assert "κ[z_i;0 z_i;0 z_j;0 z_j;0]" in labels
    # --fail-above turns a disagreement into exit status 1
    assert main([*argv, "--fail-above", "0"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["theory", "--widths", "0,3"], "`widths`"),
        (["theory", "--widths", "2,3", "--cw", "-1"], "`cw`"),
        (["theory", "--widths", "2,3,3", "--cw", "1,1,1"], "one value per layer"),
        (["theory", "--widths", "2,3", "--n0", "2"], "either --widths or --n0"),
        (["theory", "--widths", "2,3", "--activation", "foo"], "`activation`"),
        (["theory", "--widths", "2,3", "--layers", "5"], "--layers"),
        (["sample", "--widths", "2,3", "--networks", "0"], "`networks`"),
        (["theory", "--widths", "3,3", "--inputs", "missing.npy"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_inputs_with_wrong_dimension(capsys, tmp_path):
    path = tmp_path / "x.csv"
    np.savetxt(path, np.ones((2, 3)), delimiter=",")
    assert main(["theory", "--widths", "2,3", "--inputs", str(path)]) == 2
    assert "n0=2" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for cmd in ("tour", "theory", "sample", "compare"):
        assert cmd in text


def test_tour_runs_and_writes_figures(capsys, tmp_path):
    out = run_json(capsys, ["tour", "--out", str(tmp_path), "--quick", "--json"])
    assert set(out["figures"]) >= {"a", "b", "c", "d", "e"}
    for path in out["figures"].values():
        data = Path(path).read_bytes()[:8]
        assert data.startswith(b"\x89PNG")
    b = out["numbers"]["b"]
    for entry in b.values():
        assert max(abs(z) for z in entry["z"]) < 5
    assert max(abs(z) for z in out["numbers"]["d"]["z"]) < 5
    assert max(abs(z) for z in out["numbers"]["e"]["relu_mc"]["z"]) < 5
    assert out["numbers"]["e"]["relu"]["v_over_k2_last"] == pytest.approx(5 * 99)
    c = out["numbers"]["c"]
    assert c["slope"] == pytest.approx(-2, abs=0.05)
    assert c["n2_conn6_at_largest"] == pytest.approx(c["limit"], rel=0.03)
    assert any("criticality" in line for line in out["narrative"])


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "deepeft.cli", "--version"], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.startswith("deepeft ")
