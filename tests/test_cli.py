"""The ``parsl-quantum`` console script run as a user runs it: subprocesses of ``.venv/bin/parsl-quantum``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from parsl_quantum.providers import get_device
from parsl_quantum.q_dreamer import Profile

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "parsl-quantum"

USER_CONFIG = '''
from parsl.config import Config

from parsl_quantum.configs import local_config
from parsl_quantum.providers import PilotDescription


def narrow():
    """One simulator pilot of 3 qubits: a 5-qubit circuit must be cut for it."""
    options = {"max_parallel_threads": 1}
    pilot = PilotDescription(name="narrow", kind="cpu", backend="aer", qubits=3, options=options)
    return local_config(pilots=[pilot], classical_workers=0, run_dir="runinfo_user")


def classical_only():
    return Config(executors=[])


NOT_A_FUNCTION = 3
'''

CIRCUIT = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[5];
ry(0.7) q[0];
cx q[0],q[1];
ry(0.4) q[1];
cx q[1],q[2];
ry(-0.9) q[2];
cx q[2],q[3];
ry(1.1) q[3];
cx q[3],q[4];
ry(0.3) q[4];
"""


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``parsl-quantum ARGS`` in ``cwd``; its output as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_console_script_is_installed():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK), SCRIPT


def test_run_help_lists_every_mini_app(tmp_path):
    done = cli("run", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    apps = sorted(p.stem for p in (ROOT / "parsl_quantum" / "workflows").glob("*.py"))
    apps = [a for a in apps if a not in ("__init__", "common")]
    assert len(apps) >= 7
    section = done.stdout.split("mini-apps:\n", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^  (\w+) {2,}\S", section, flags=re.M)
    assert listed == apps, done.stdout
    assert "common" not in listed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_here:config", "cannot import no_such_module_here"),
        ("userconf:missing", "has no function missing"),
        ("userconf:NOT_A_FUNCTION", "has no function NOT_A_FUNCTION"),
        ("userconf.py:classical_only", "no QuantumPilotExecutor"),
        ("userconf", "expected module:function"),
    ],
)
def test_a_bad_config_is_refused_with_the_reason(tmp_path, spec, message):
    (tmp_path / "userconf.py").write_text(USER_CONFIG)
    done = cli("calibrate", "--config", spec, "-o", "profile.json", cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "profile.json").exists()


def test_calibrate_writes_a_profile_of_the_default_pilots(tmp_path):
    done = cli("calibrate", "-o", "profile.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    profile = Profile.load(str(tmp_path / "profile.json"))
    assert set(profile.pilots) == {"cpu", "qpu"}  # the embedded local configuration
    assert profile.pilots["cpu"].kind == "cpu" and profile.pilots["qpu"].kind == "qpu"
    assert profile.pilots["cpu"].backend == "aer" and profile.pilots["qpu"].backend == "fake_torino"
    assert all(profile.samples[name] for name in ("cpu", "qpu"))
    assert "profile written to profile.json" in done.stdout


def test_plan_against_the_users_own_pilots(tmp_path):
    (tmp_path / "userconf.py").write_text(USER_CONFIG)
    (tmp_path / "circuit.qasm").write_text(CIRCUIT)
    done = cli(
        "plan",
        "circuit.qasm",
        "--config",
        "userconf:narrow",
        "--save-profile",
        "narrow.json",
        "--run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    profile = Profile.load(str(tmp_path / "narrow.json"))
    assert set(profile.pilots) == {"narrow"}  # calibrated against the user's pilot, not the default ones
    chosen = next(line for line in done.stdout.splitlines() if line.lstrip().startswith("*"))
    assert "cut to" in chosen and "whole" not in done.stdout  # 5 qubits cannot run whole on 3
    value, stderr = map(float, re.search(r"<ZZZZZ> = (\S+) \+- (\S+)", done.stdout).groups())
    exact = get_device("aer").estimate(CIRCUIT, "ZZZZZ")
    assert abs(value - exact) < 5 * stderr, (value, stderr, exact)
    assert (tmp_path / "runinfo_user").is_dir()  # the user's configuration ran


def report_paths(output: str) -> dict[str, Path]:
    """The files a report printed: ``name -> path`` (``page`` is the HTML)."""
    return {m[0]: Path(m[1]) for m in re.findall(r"^  (\w+) +(/\S+\.(?:png|html))$", output, flags=re.M)}


def test_demo_ends_with_its_report_and_report_rewrites_it(tmp_path):
    done = cli("demo", "--tasks", "8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    tail = done.stdout[done.stdout.index("report of") :]
    paths = report_paths(tail)
    assert set(paths) == {"gantt", "utilisation", "queue_waits", "page"}, tail
    run_dir = next((tmp_path / "runinfo").iterdir())
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 10_000 and path.is_relative_to(run_dir)
    page = paths["page"].read_text()
    assert page.count('src="data:image/png;base64,') == 3 and "No Q-Dreamer plan ran" in page
    assert f"open {paths['page']}" in tail

    again = cli("report", "runinfo", "-o", "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rewritten = report_paths(again.stdout)
    assert {k: p.name for k, p in rewritten.items()} == {k: p.name for k, p in paths.items()}
    assert all(p.parent == tmp_path / "again" for p in rewritten.values())
    assert f"report of {run_dir}" in again.stdout

    missing = cli("report", str(tmp_path / "again"), "-o", "none", cwd=tmp_path)
    assert missing.returncode == 2 and "tasks.sqlite" in missing.stderr
    assert not (tmp_path / "none").exists()
