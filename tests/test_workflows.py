"""Every mini-app's default run, with its answer checked as the issue asks; and the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from parsl_quantum.workflows import cutting, param_sweep, pipeline_mitigation, qaoa_maxcut, vqe

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def run_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # each run's runinfo/ goes to a fresh directory


def test_qaoa_maxcut_reaches_the_grid_search_ratio():
    result = qaoa_maxcut.main([])
    assert result["ratio"] >= result["grid_ratio"] - 0.03
    assert 0.6 < result["grid_ratio"] <= 1.0


def test_vqe_h2_within_chemical_tolerance_of_exact_diagonalisation():
    result = vqe.main([])
    assert abs(result["energy"] - result["exact"]) < 2e-2
    assert result["exact"] == pytest.approx(-1.857275, abs=1e-5)


def test_parameter_sweep_on_simulator_and_noisy_emulator():
    result = param_sweep.main([])
    assert result["worst_sim_sigma"] < 5
    assert result["qpu_correlation"] > 0.95
    assert 0.5 < result["qpu_damping"] < 1.0  # the noisy device follows the curve, damped
    assert result["cpu_devices"] == ["aer"] and result["qpu_devices"] == ["fake_torino"]


def test_mitigated_result_is_closer_to_exact_than_unmitigated():
    result = pipeline_mitigation.main([])
    for row in result["rows"]:
        assert row["mitigated"] < row["raw"], row


def test_cut_result_within_five_sigma_of_exact():
    result = cutting.main([])
    assert np.all(np.asarray(result["z"]) < 5)
    assert np.all(np.asarray(result["stderr"]) < 0.05)


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "parsl-quantum")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_demo_shows_late_binding_over_both_kinds_of_pilot():
    done = cli("demo")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "pilot cpu" in out and "pilot qpu" in out and "time breakdown" in out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert len(rows) == 32 + 4  # the sweep, and the tasks that need a noiseless device
    # earliest_finish sends sweep tasks to the slower emulator once the simulators' queue is longer
    assert {r[3] for r in rows} == {"cpu", "qpu"}
    needs_fidelity = [r for r in rows if r[2] == "fidelity"]
    assert len(needs_fidelity) == 4 and all(r[4] == "aer" for r in needs_fidelity)  # never on the QPU
    for r in rows:  # every answer near cos(theta): exact-ish on the simulator, noisy on the QPU
        assert abs(float(r[7]) - float(r[8])) < (0.1 if r[3] == "cpu" else 0.25)


def test_run_a_mini_app_by_name_and_reject_an_unknown_one():
    done = cli("run", "vqe")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exact:" in done.stdout
    missing = cli("run", "no_such_app")
    assert missing.returncode == 2 and "qaoa_maxcut" in missing.stderr


def test_devices_says_why_a_gpu_backend_is_unavailable():
    done = cli("devices", "aer", "aer_gpu", "--shots", "200")
    assert done.returncode == 0
    assert "aer " in done.stdout
    gpu_line = next(line for line in done.stdout.splitlines() if line.startswith("aer_gpu"))
    assert "unavailable" in gpu_line or "gpu" in gpu_line.split()[1]
