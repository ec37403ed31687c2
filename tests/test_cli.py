"""The ``parsl-quantum`` console script run as a user runs it: subprocesses of ``.venv/bin/parsl-quantum``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsl_quantum.devices import get_device
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


def timed(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command`` in ``cwd``; its output and its wall-clock seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done, time.perf_counter() - start


BAD_ARGUMENTS = [
    (["demo", "--tasks", "0"], "--tasks"),
    (["devices", "--shots", "-5"], "--shots"),
    (["devices", "--qubits", "0"], "--qubits"),
    (["plan", "circuit.qasm", "--precision", "-1"], "--precision"),
    (["plan", "circuit.qasm", "--precision", "nan"], "--precision"),
    (["plan", "circuit.qasm", "--shots", "0"], "--shots"),
    (["plan", "circuit.qasm", "--workers", "0"], "--workers"),
    (["plan", "missing.qasm"], "circuit"),
    (["plan", "circuit.qasm", "--profile", "missing.json"], "--profile"),
    (["plan", "circuit.qasm", "--save-profile", "no/such/dir/profile.json"], "--save-profile"),
    (["plan", "circuit.qasm", "--observable", "ZZQZZ"], "--observable"),
    (["plan", "circuit.qasm", "--config", "missing.py:narrow"], "--config"),
    (["calibrate", "-o", "no/such/dir/profile.json"], "-o/--output"),
    (["calibrate", "--config", "userconf", "-o", "profile.json"], "--config"),
    (["report", "no_such_run"], "run_dir"),
    (["report", "runs", "-o", "circuit.qasm"], "-o/--output"),
    (["run", "no_such_app"], "workflow"),
]
"""Each command with arguments that fail the checks made before any heavy import, and the argument that
the error must name."""


@pytest.mark.timing
def test_bad_arguments_are_refused_within_a_second_naming_the_argument(tmp_path):
    """Every command checks its arguments first: status 2, argparse's message naming the argument, no pilot
    started (no run directory), and within 1 s of the process' own work (its wall time less a bare
    interpreter's start-up)."""
    (tmp_path / "circuit.qasm").write_text(CIRCUIT)
    (tmp_path / "userconf.py").write_text(USER_CONFIG)
    (tmp_path / "runs" / "000" / "quantum").mkdir(parents=True)
    (tmp_path / "runs" / "000" / "quantum" / "tasks.sqlite").touch()
    start_up = min(timed([sys.executable, "-c", "pass"], tmp_path)[1] for _ in range(3))
    timings, wrong = [], []
    for args, argument in BAD_ARGUMENTS:
        done, seconds = timed([str(SCRIPT), *args], tmp_path)
        timings.append(f"{seconds - start_up:6.3f} s  {' '.join(args)}")
        expected = f"parsl-quantum {args[0]}: error: argument {argument}: "
        if done.returncode != 2 or expected not in done.stderr or seconds - start_up > 1.0:
            wrong.append((args, done.returncode, round(seconds - start_up, 3), done.stderr[-500:]))
    print(f"start-up {start_up:.3f} s; beyond it:\n" + "\n".join(timings))
    assert not wrong, wrong
    assert not (tmp_path / "runinfo").exists() and not (tmp_path / "profile.json").exists()


@pytest.mark.parametrize(
    ("args", "argument", "message"),
    [
        (["plan", "garbage.qasm"], "circuit", "cannot read a circuit from garbage.qasm"),
        (["plan", "circuit.qasm", "--observable", "ZZ"], "--observable", "'ZZ' has 2 letters"),
        (["plan", "circuit.qasm", "--profile", "circuit.qasm"], "--profile", "cannot read a calibration"),
        (["plan", "circuit.qasm", "--config", "userconf:classical_only"], "--config", "no QuantumPilot"),
        (["devices", "aer", "no_such_backend"], "backends", "unknown backend 'no_such_backend'"),
    ],
)
def test_arguments_that_need_parsing_are_refused_before_any_pilot_starts(tmp_path, args, argument, message):
    (tmp_path / "circuit.qasm").write_text(CIRCUIT)
    (tmp_path / "garbage.qasm").write_text("OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n")
    (tmp_path / "userconf.py").write_text(USER_CONFIG)
    done, seconds = timed([str(SCRIPT), *args], tmp_path)
    print(f"{seconds:.2f} s: {' '.join(args)}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"parsl-quantum {args[0]}: error: argument {argument}: " in done.stderr and message in done.stderr
    assert not (tmp_path / "runinfo").exists() and not (tmp_path / "runinfo_user").exists()
    assert "calibrating" not in done.stderr and not done.stdout


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
    (tmp_path / "chain5.qasm").write_text(CIRCUIT)
    done = cli(
        "plan",
        "chain5.qasm",
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
    # The circuit is named after its file, in the output and in Q-Dreamer's record; counts read right.
    weighed = re.search(
        r"^circuit chain5: 5 qubits, 1 observable; (\d+) (configurations?) weighed", done.stdout, re.M
    )
    assert weighed, done.stdout
    assert weighed[2] == ("configuration" if weighed[1] == "1" else "configurations")
    plans = next((tmp_path / "runinfo_user").glob("*/q_dreamer/plans.jsonl")).read_text().splitlines()
    assert [json.loads(line)["circuit"] for line in plans if '"kind": "plan"' in line] == ["chain5"]


def report_paths(output: str) -> dict[str, Path]:
    """The files a report printed: ``name -> path`` (``page`` is the HTML)."""
    return {m[0]: Path(m[1]) for m in re.findall(r"^  (\w+) +(/\S+\.(?:png|html))$", output, flags=re.M)}


def test_demo_shows_late_binding_ends_with_its_report_and_report_rewrites_it(tmp_path):
    done = cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
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

    tail = done.stdout[done.stdout.index("report of") :]
    paths = report_paths(tail)
    assert set(paths) == {"gantt", "utilisation", "queue_waits", "page"}, tail
    run_dir = next((tmp_path / "runinfo").iterdir())
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 10_000 and path.is_relative_to(run_dir)
    page = paths["page"].read_text()
    assert page.count('src="data:image/png;base64,') == 3 and "No Q-Dreamer plan ran" in page
    assert f"open {paths['page']}" in tail
    # The demo's summary is the report's headline: the same figures, the warm-up set apart in both.
    printed = done.stdout.split("time breakdown of the user's tasks", 1)[1].split("\n\n", 1)[0]
    summary = dict(re.findall(r"^  (\S.*?\S) {2,}(\S.*?)  ", printed, flags=re.M))
    headline = dict(re.findall(r"<tr><td class=text>([^<]+)</td><td class=value>([^<]+)</td>", page))
    assert summary == headline and len(headline) == 6, (summary, headline)
    assert headline["user tasks"] == "36"  # 32 in the sweep, 4 that need a noiseless device
    assert headline["not counted above"] == "3 warm-up tasks"  # one per worker: cpu 2, qpu 1

    again = cli("report", "runinfo", "-o", "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rewritten = report_paths(again.stdout)
    assert {k: p.name for k, p in rewritten.items()} == {k: p.name for k, p in paths.items()}
    assert all(p.parent == tmp_path / "again" for p in rewritten.values())
    assert f"report of {run_dir}" in again.stdout

    missing = cli("report", str(tmp_path / "again"), "-o", "none", cwd=tmp_path)
    assert missing.returncode == 2 and "tasks.sqlite" in missing.stderr
    assert not (tmp_path / "none").exists()
