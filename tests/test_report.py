"""The run report on a real run: a DataFlowKernel with a simulator pilot and a QPU emulator pilot, a few dozen
tasks (one failing, one unschedulable), a Q-Dreamer plan run whole and cut; then the charts, the HTML page
and the page rendered by headless Chromium."""

from __future__ import annotations

import base64
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import parsl
import pytest
from parsl.config import Config

from parsl_quantum.devices import get_device
from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import QDreamer
from parsl_quantum.report import RunNotFoundError, load_run, write_report
from parsl_quantum.report.figure import OUTCOME_COLOURS, PILOT_COLOURS, ROLE_COLOURS
from parsl_quantum.report.roles import OVERHEAD_ROLES
from parsl_quantum.report.summary import summarise
from tests import refs
from tests.apt import install, install_lock
from tests.executor_helpers import broken, ghz_counts, nap, spec

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def su2(n: int, seed: int = 3):
    return refs.su2(n, seed)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real run: 24 GHZ tasks and 6 naps over a simulator and a QPU emulator pilot, one task that raises,
    one that no pilot can serve; and Q-Dreamer's plan of a 6-qubit circuit cut for the 4-qubit simulator
    pilot of a second executor (which it calibrates first)."""
    base = tmp_path_factory.mktemp("report")
    threads = {"max_parallel_threads": 1}
    pilots = [
        PilotDescription(name="cpu", kind="cpu", backend="aer", workers=2, options=threads),
        PilotDescription(name="qpu", kind="qpu", backend="fake_manila", workers=1),
    ]
    qex = QuantumPilotExecutor(label="quantum", pilots=pilots, policy="earliest_finish")
    planner = QuantumPilotExecutor(
        label="planner",
        pilots=[PilotDescription(name="sim", kind="cpu", backend="aer", qubits=4, options=threads)],
    )
    dfk = parsl.load(Config(executors=[qex, planner], run_dir=str(base / "runinfo")))
    circuit, observable = su2(6), "ZZZZZZ"
    timings = {}
    try:
        timings["pilots up"] = qex.wait_for_pilots() + planner.wait_for_pilots()
        begin = time.time()
        futures = [ghz_counts(3, 4000, **spec(qubits=3)) for _ in range(24)]
        futures += [nap(0.2, **spec(qubits=1)) for _ in range(6)]
        failing = broken(7, **spec(qubits=1))
        unschedulable = ghz_counts(3, 100, **spec(qubits=500))
        results = [f.result() for f in futures]
        with pytest.raises(ZeroDivisionError):
            failing.result()
        with pytest.raises(Exception, match="cannot run"):
            unschedulable.result()
        timings["tasks"] = time.time() - begin
        dreamer = QDreamer(max_cuts=1)
        begin = time.time()
        dreamer.calibrate(planner)
        timings["calibration"] = time.time() - begin
        begin = time.time()
        plan = dreamer.plan(circuit, [observable], planner, shots=4000)
        timings["planning"] = time.time() - begin
        begin = time.time()
        reconstruction = plan.submit_reconstruction().result()
        measured = time.time() - begin
        timings["plan's run"] = measured
        ran = [(plan, measured, [r for r in planner.metrics() if r.submit >= begin], reconstruction)]
    finally:
        begin = time.time()
        dfk.cleanup()
        parsl.clear()
        timings["clean-up"] = time.time() - begin
    print("seconds:", timings)
    run_dir = Path(dfk.run_dir)
    exact = get_device("aer").estimate(circuit, observable)
    report = write_report(base / "runinfo", base / "report")
    return SimpleNamespace(
        base=base,
        run_dir=run_dir,
        report=report,
        results=results,
        ran=ran,
        exact=float(exact),
    )


def pixels(path: Path) -> np.ndarray:
    """The PNG's RGB pixels as integers 0..255."""
    from matplotlib.image import imread

    image = imread(path)
    return np.round(image[..., :3] * 255).astype(int)


def has_colour(image: np.ndarray, colour: str, tolerance: int = 12, at_least: int = 4) -> bool:
    """Whether ``image`` has at least ``at_least`` pixels within ``tolerance`` of the hex ``colour``."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=-1) <= tolerance).sum()) >= at_least


def distinct_colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, 3), axis=0))


def test_the_run_itself_was_right(finished_run):
    for _name, counts in finished_run.results[:24]:
        assert set(counts) <= {f"{i:03b}" for i in range(8)} and sum(counts.values()) == 4000
    for plan, _, _, reconstruction in finished_run.ran:
        value, stderr = float(reconstruction.values[0]), float(reconstruction.stderr[0])
        assert abs(value - finished_run.exact) < 5 * stderr + 1e-9, (plan.label, value, finished_run.exact)


def test_loading_finds_the_run_and_every_task(finished_run):
    run = load_run(finished_run.base / "runinfo")  # the parent: its only run
    assert run.run_dir == finished_run.run_dir
    outcomes = [t.outcome for t in run.tasks]
    assert outcomes.count("error") == 1 and outcomes.count("unschedulable") == 1
    assert outcomes.count("success") >= 31  # 30 tasks, the plans' tasks and Q-Dreamer's probes
    assert set(outcomes) <= {"success", "error", "unschedulable"}
    assert run.pilots == ["planner/sim", "quantum/cpu", "quantum/qpu"]  # two executors: named by both
    error = next(t for t in run.tasks if t.outcome == "error")
    assert "divides by zero" in error.error and error.pilot in ("cpu", "qpu")
    unschedulable = next(t for t in run.tasks if t.outcome == "unschedulable")
    assert unschedulable.pilot is None and not unschedulable.ran and "500" in unschedulable.error
    ran = [t for t in run.tasks if t.ran]
    assert all(t.submit <= t.bind <= t.start <= t.end <= t.done for t in ran)
    assert {t.backend for t in ran} == {"aer", "fake_manila"}
    columns = {
        r[1]
        for r in sqlite3.connect(finished_run.run_dir / "quantum" / "tasks.sqlite").execute(
            "PRAGMA table_info(tasks)"
        )
    }
    if "worker" in columns:  # the executor names the worker process
        assert all(re.fullmatch(r".+:\d+", t.worker) for t in ran)
        assert len({t.worker for t in ran if (t.executor, t.pilot) == ("quantum", "cpu")}) == 2
    else:
        assert all(t.worker and ":" not in t.worker for t in ran)  # the host
    assert len(run.plan_runs) == 1 and run.skipped_lines == 0


def test_older_task_files_without_the_new_columns_load(finished_run, tmp_path):
    """A ``tasks.sqlite`` of an older version (no parsl_task_id, worker, block): the worker is its host."""
    old_columns = (
        "task_id, name, submit, qubits, shots, priority, pilot, backend, kind, bind, start, end, done, "
        "attempts, outcome, host, error"
    )
    (tmp_path / "000" / "quantum").mkdir(parents=True)
    with sqlite3.connect(finished_run.run_dir / "quantum" / "tasks.sqlite") as new:
        rows = new.execute(f"SELECT {old_columns} FROM tasks").fetchall()
    with sqlite3.connect(tmp_path / "000" / "quantum" / "tasks.sqlite") as old:
        old.execute(f"CREATE TABLE tasks ({old_columns})")
        old.executemany(f"INSERT INTO tasks VALUES ({', '.join('?' * 17)})", rows)
    run = load_run(tmp_path)
    assert len(run.tasks) == len(rows) and run.run_dir == tmp_path / "000"
    assert all(t.parsl_task_id is None and t.block is None for t in run.tasks)
    assert all(
        t.worker == row[15]
        for t, row in zip(sorted(run.tasks, key=lambda t: t.task_id), sorted(rows), strict=True)
    )
    assert not run.plan_runs  # no plans.jsonl here
    report = write_report(tmp_path, tmp_path / "out")
    assert set(report.images) == {"gantt", "utilisation", "queue_waits"}
    page = report.html.read_text()
    assert "No Q-Dreamer plan ran in this run" in page and 'id="predictions"' not in page


def test_the_newest_run_is_reported_and_an_empty_directory_is_an_error(finished_run, tmp_path):
    shutil.copytree(finished_run.run_dir, tmp_path / "000")
    shutil.copytree(finished_run.run_dir, tmp_path / "001")
    later = time.time() + 60
    os.utime(tmp_path / "001" / "quantum" / "tasks.sqlite", (later, later))
    assert load_run(tmp_path).run_dir == tmp_path / "001"
    assert load_run(tmp_path / "000").run_dir == tmp_path / "000"
    with pytest.raises(RunNotFoundError, match="tasks.sqlite"):
        load_run(tmp_path / "000" / "quantum")


def test_every_chart_is_drawn_and_none_is_blank(finished_run):
    images = finished_run.report.images
    assert set(images) == {"gantt", "utilisation", "queue_waits", "predictions"}
    for name, path in images.items():
        image = pixels(path)
        assert image.shape[0] > 200 and image.shape[1] > 600, name
        assert image.std() > 20, (name, image.std())
        assert distinct_colours(image) > 50, name
    gantt = pixels(images["gantt"])
    assert has_colour(gantt, OUTCOME_COLOURS["success"], at_least=200)
    assert has_colour(gantt, OUTCOME_COLOURS["error"])  # the failing task's bar
    utilisation = pixels(images["utilisation"])
    assert all(has_colour(utilisation, PILOT_COLOURS[i]) for i in range(3))
    assert has_colour(pixels(images["predictions"]), PILOT_COLOURS[0])  # the cut plan's task points


def test_predictions_pair_each_plan_with_its_measurement(finished_run):
    run = finished_run.report.run
    assert (finished_run.run_dir / "q_dreamer" / "plans.jsonl").is_file()  # Q-Dreamer's own record
    assert [p["plan_id"] for p in run.plans] == [finished_run.ran[0][0].plan_id]
    for plan_run, (plan, measured, records, _) in zip(run.plan_runs, finished_run.ran, strict=True):
        assert plan_run.plan_id == plan.plan_id and plan_run.plan["qubits"] == 6
        assert plan_run.predicted_makespan_s == pytest.approx(plan.predicted_makespan_s)
        assert 0 < plan_run.measured_makespan_s <= measured + 0.5
        assert plan.cut and plan_run.plan["chosen"]["label"] == plan.label  # too wide for the pilot: cut
        # every fragment task the plan predicted (one per worker of the one-worker pilot, unless two
        # finish sooner), each recorded
        assert len(plan_run.tasks) == len(plan._prediction.expected) >= 1
        # Each of the plan's tasks, as the executor recorded it on the planner's pilot.
        by_id = {r.task_id: r for r in records}
        for task in plan_run.tasks:
            record = by_id[task["executor_task_id"]]
            assert record.pilot == "sim" and task["measured_s"] == pytest.approx(record.run_time)
            assert task["predicted_s"] > 0
    page = finished_run.report.html.read_text()
    assert "measured / predicted" in page and finished_run.ran[0][0].label in page


def test_the_overhead_names_are_the_functions_that_run_it():
    """The report knows calibration, probe and warm-up tasks by the names the executor records: their
    functions' names, as Q-Dreamer and the demo define them."""
    from parsl_quantum.demo import warm_up
    from parsl_quantum.q_dreamer.model.calibrate import noop, time_circuits, worker_host
    from parsl_quantum.q_dreamer.model.probe import time_probe

    functions = {"calibration": [noop, worker_host, time_circuits], "probe": [time_probe]}
    functions["warm-up"] = [warm_up.func]
    assert OVERHEAD_ROLES == {f.__name__: role for role, fs in functions.items() for f in fs}


def test_the_headline_counts_the_users_tasks_apart_from_calibration(finished_run):
    """Q-Dreamer calibrated the planner's pilot with tasks of its own: the report labels them, draws them
    in their own colour and counts only the user's tasks in its headline and pilot table."""
    run = finished_run.report.run
    calibration = [t for t in run.tasks if t.name in ("noop", "worker_host", "time_circuits")]
    assert len(calibration) >= 3 and all(t.role == "calibration" for t in calibration)
    plan_tasks = {t["executor_task_id"] for p in run.plan_runs for t in p.tasks}
    planner = [t for t in run.user_tasks if t.executor == "planner"]
    assert {t.task_id for t in planner} == plan_tasks and plan_tasks  # the plan's fragments are the user's
    assert len(run.user_tasks) == 32 + len(planner)  # 24 GHZ, 6 naps, the failing and unschedulable tasks
    assert {t.role for t in run.overhead_tasks} <= {"calibration", "probe"}

    summary = summarise(run.tasks)
    assert summary.tasks == len(run.user_tasks) and summary.unsuccessful == 2
    assert summary.overhead["calibration"] == len(calibration)
    ran = [t for t in run.user_tasks if t.ran]
    assert summary.median_run_s == pytest.approx(float(np.median([t.run_time for t in ran])))
    noops = [t.run_time for t in calibration if t.name == "noop"]
    # the user's work, not the calibration's no-ops: against their typical run time (one no-op held up by
    # the busy host took a fifth of a quick GHZ task's median in one CI run)
    assert summary.median_run_s > 10 * float(np.median(noops))
    first = min(t.submit for t in run.user_tasks)
    assert summary.wall_s == pytest.approx(max(t.done for t in run.user_tasks) - first)

    page = finished_run.report.html.read_text()
    headline = dict(re.findall(r"<tr><td class=text>([^<]+)</td><td class=value>([^<]+)</td>", page))
    assert headline["user tasks"] == str(summary.tasks)
    assert headline["not counted above"].startswith(f"{len(calibration)} calibration tasks")
    rows = {cells[0]: cells for cells in table_rows(page, "pilot")}
    assert rows["planner/sim"][2] == str(len(planner))  # user tasks
    assert rows["planner/sim"][8] == str(len(run.overhead_tasks))  # overhead tasks
    overhead = table_rows(page, "role")
    assert [r[:4] for r in overhead] == [
        ["calibration", "noop, time_circuits, worker_host", "planner/sim", str(len(calibration))]
    ]
    assert has_colour(pixels(finished_run.report.images["gantt"]), ROLE_COLOURS["calibration"], at_least=50)
    assert "summed over" in page and "task-s" not in page


def table_rows(page: str, first_header: str) -> list[list[str]]:
    """The body rows of the page's table whose first header is ``first_header``, as cell texts."""
    table = re.search(rf"<table><tr><th>{first_header}</th>.*?</table>", page, flags=re.S)[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("</tr>")[1:] if "<td" in row]


def test_the_page_is_self_contained(finished_run):
    report = finished_run.report
    page = report.html.read_text()
    sources = re.findall(r'<img id="(\w+)" alt="[^"]*" src="([^"]+)"', page)
    assert {name for name, _ in sources} == set(report.images)
    for name, source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]) == report.images[name].read_bytes()
    assert page.count("<img") == len(report.images)
    for external in ("http://", "https://", "<script", "<link", "url("):
        assert external not in page
    assert "divides by zero" in page and "unschedulable" in page  # the tasks that did not succeed


def chromium_binary() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM) if p), None)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium: Debian's ``chromium``, installed with apt-get when missing (as root)."""
    found = chromium_binary()
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        with install_lock():
            if chromium_binary() is None:
                install(["chromium"], timeout=900, recommends=True)  # its fonts
        found = chromium_binary()
    if found is None:
        message = "headless Chromium is missing and could not be installed (Debian package 'chromium')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_the_page_renders_in_headless_chromium(finished_run, chromium, tmp_path):
    shot = tmp_path / "page.png"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2600",
            f"--screenshot={shot}",
            finished_run.report.html.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = pixels(shot)
    assert image.shape[:2] == (2600, 1280)
    assert image.std() > 20 and distinct_colours(image) > 100
    # The charts' own colours on screen: the inlined PNGs were decoded and drawn, not only the text.
    assert has_colour(image, OUTCOME_COLOURS["success"], at_least=200)
    assert has_colour(image, PILOT_COLOURS[0], at_least=50)
    assert has_colour(image, ROLE_COLOURS["calibration"], at_least=50)  # the calibration, apart


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_importing_the_report_package_draws_in_no_plotting_library():
    done = python(
        "import sys, parsl_quantum.report\n"
        "heavy = [m for m in ('matplotlib', 'qiskit', 'pennylane', 'parsl') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    assert done.returncode == 0, done.stderr


def test_without_matplotlib_the_report_says_what_to_install(finished_run, tmp_path):
    # Python's documented way to make an import fail: a None entry in sys.modules.
    done = python(
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "from parsl_quantum.report import ReportDependencyError, write_report\n"
        "try:\n"
        f"    write_report({str(finished_run.run_dir)!r}, {str(tmp_path / 'out')!r})\n"
        "except ReportDependencyError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'parsl-quantum[report]'" in done.stdout
    assert not (tmp_path / "out").exists()
