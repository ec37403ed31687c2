"""The ``parsl-quantum`` command: demos, mini-apps, the planner, calibration and run reports."""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from typing import Any


def devices_demo(backends: Sequence[str], qubits: int = 5, shots: int = 2000) -> None:
    """Sample a GHZ circuit on each backend, side by side, and print what each device is."""
    from qiskit import QuantumCircuit

    from parsl_quantum.providers import get_device

    ghz = QuantumCircuit(qubits, name=f"ghz{qubits}")
    ghz.h(0)
    for i in range(qubits - 1):
        ghz.cx(i, i + 1)
    ghz.measure_all()
    print(
        f"GHZ state on {qubits} qubits, {shots} shots: ideally half |{'0' * qubits}>, half |{'1' * qubits}>\n"
    )
    print(
        f"{'backend':16} {'kind':5} {'qubits':>6} {'fidelity':>8}  {'P(0..0)':>8} {'P(1..1)':>8} {'other':>6}"
    )
    for name in backends:
        try:
            device = get_device(name)
            counts = device.sample(ghz, shots=shots)
        except Exception as exc:
            print(f"{name:16} unavailable: {exc}")
            continue
        zeros = counts.get("0" * qubits, 0) / shots
        ones = counts.get("1" * qubits, 0) / shots
        print(
            f"{name:16} {device.kind:5} {device.num_qubits:>6} {device.fidelity:>8.4f}  "
            f"{zeros:>8.3f} {ones:>8.3f} {1 - zeros - ones:>6.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``parsl-quantum`` console script."""
    parser = argparse.ArgumentParser(prog="parsl-quantum", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main demo: a hybrid workflow over simulator and QPU pilots")
    demo.add_argument("--tasks", type=int, default=32, help="circuits in the parameter sweep")
    devices = sub.add_parser("devices", help="a GHZ circuit on each backend, side by side")
    devices.add_argument("backends", nargs="*", default=["aer", "lightning.qubit", "fake_torino"])
    devices.add_argument("--qubits", type=int, default=5)
    devices.add_argument("--shots", type=int, default=2000)
    plan = sub.add_parser("plan", help="Q-Dreamer's plan for a circuit (OpenQASM file) and its alternatives")
    plan.add_argument("circuit", help="an OpenQASM 2 or 3 file")
    plan.add_argument("--config", help=CONFIG_HELP + "; default: local CPU simulator pilot (--workers)")
    plan.add_argument(
        "--observable", action="append", help="Pauli string (repeatable); default Z on every qubit"
    )
    group = plan.add_mutually_exclusive_group()
    group.add_argument(
        "--shots", type=int, help="shots per basis (whole) or per subsystem (cut); default 4096"
    )
    group.add_argument("--precision", type=float, help="standard error to reach instead")
    plan.add_argument("--profile", help="a calibration profile (JSON); calibrated now when absent")
    plan.add_argument("--save-profile", help="write the calibration used to this file")
    plan.add_argument("--workers", type=int, default=2, help="CPU simulator workers (without --config)")
    plan.add_argument("--run", action="store_true", help="also run the chosen plan and print the values")
    run = sub.add_parser(
        "run",
        help="run a mini-app (see --help for the list) or a workflow script",
        description="Run a mini-app by name, or a workflow script by path.\n\nmini-apps:\n"
        + "\n".join(f"  {name:20} {summary}" for name, summary in mini_app_summaries()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("workflow", help="a mini-app name (e.g. qaoa_maxcut) or a path to a script")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the workflow")
    calibrate = sub.add_parser(
        "calibrate", help="calibrate Q-Dreamer's models against the pilots of a configuration"
    )
    calibrate.add_argument("--config", help=CONFIG_HELP + "; default: the embedded local configuration")
    calibrate.add_argument("-o", "--output", required=True, help="the profile to write (JSON)")
    report = sub.add_parser(
        "report", help="charts and one self-contained HTML page of what happened in a run"
    )
    report.add_argument("run_dir", help="a Parsl run directory (runinfo/000) or its parent (newest run)")
    report.add_argument(
        "-o", "--output", default="report", help="directory for the PNGs and report.html (default: ./report)"
    )
    args = parser.parse_args(argv)
    if args.command == "devices":
        devices_demo(args.backends, args.qubits, args.shots)
    elif args.command == "demo":
        from parsl_quantum.demo import run_demo

        run_demo(tasks=args.tasks)
    elif args.command == "run":
        return run_workflow(args.workflow, args.args)
    elif args.command == "plan":
        return plan_circuit(args)
    elif args.command == "calibrate":
        return calibrate_pilots(args.config, args.output)
    elif args.command == "report":
        return write_report(args.run_dir, args.output)
    return 0


CONFIG_HELP = (
    "module:function (or path/to/file.py:function) returning a Parsl Config with a QuantumPilotExecutor"
)


class ConfigError(ValueError):
    """A ``--config`` that names no function, or whose function returns no quantum pilot executor."""


def load_config(spec: str) -> Any:
    """Call the function named by ``spec`` (``module:function`` or ``file.py:function``) for a Config.

    A module is imported from ``sys.path`` and the current directory, a file from its path.

    Raises
    ------
    ConfigError
        If ``spec`` is malformed, the module or function cannot be found, or it returns no ``Config``.
    """
    import importlib
    import importlib.util
    import os

    from parsl.config import Config

    module_name, _, function = spec.rpartition(":")
    if not module_name or not function:
        raise ConfigError(f"--config '{spec}': expected module:function or path/to/file.py:function")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            loader_spec = importlib.util.spec_from_file_location("parsl_quantum_user_config", module_name)
            if loader_spec is None or loader_spec.loader is None or not os.path.exists(module_name):
                raise ConfigError(f"--config '{spec}': no file {module_name}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # as ``python -m`` does: the user's modules where they stand
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--config '{spec}': cannot import {module_name}: {exc}") from exc
    make = getattr(module, function, None)
    if not callable(make):
        raise ConfigError(f"--config '{spec}': {module_name} has no function {function}")
    config = make()
    if not isinstance(config, Config):
        raise ConfigError(f"--config '{spec}': {function}() returned {type(config).__name__}, not a Config")
    quantum_executor(config, spec)
    return config


def quantum_executor(config: Any, spec: str = "the configuration") -> Any:
    """The first :class:`QuantumPilotExecutor` of ``config``.

    Raises
    ------
    ConfigError
        If it has none.
    """
    from parsl_quantum.executors import QuantumPilotExecutor

    for executor in config.executors:
        if isinstance(executor, QuantumPilotExecutor):
            return executor
    raise ConfigError(f"{spec}: the Config has no QuantumPilotExecutor among its executors")


def calibrate_pilots(config_spec: str | None, output: str) -> int:
    """Calibrate Q-Dreamer against the pilots of a configuration and write the profile to ``output``."""
    from parsl_quantum.configs import local_config
    from parsl_quantum.q_dreamer import QDreamer
    from parsl_quantum.workflows.common import loaded

    try:
        config = load_config(config_spec) if config_spec else local_config(classical_workers=0)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    executor = quantum_executor(config)
    with loaded(config):
        executor.wait_for_pilots()
        names = ", ".join(d.name for d in executor.pilot_descriptions)
        print(
            f"calibrating pilots {names} of executor '{executor.label}' (about a minute)...", file=sys.stderr
        )
        profile = QDreamer().calibrate(executor)
    profile.save(output)
    for name, model in sorted(profile.pilots.items()):
        samples = len(profile.samples.get(name, []))
        print(f"  pilot {name}: {model.kind}, up to {model.max_qubits} qubits, {samples} samples")
    print(f"profile written to {output}")
    return 0


def write_report(run_dir: str, output: str) -> int:
    """Write the report of the run at ``run_dir`` into ``output`` and print its files."""
    from parsl_quantum.report import ReportDependencyError, RunNotFoundError
    from parsl_quantum.report import write_report as write

    try:
        report = write(run_dir, output)
    except (RunNotFoundError, ReportDependencyError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(report)
    return 0


def plan_circuit(args: argparse.Namespace) -> int:
    """Print Q-Dreamer's plan for a circuit file, calibrating the local pilots if no profile is given."""
    import time

    import parsl

    from parsl_quantum.configs import local_config, local_pilots
    from parsl_quantum.providers.circuits import CircuitParseError, to_circuit
    from parsl_quantum.q_dreamer import PlanningError, Profile, QDreamer

    try:
        with open(args.circuit) as f:
            circuit = to_circuit(f.read())
    except (OSError, CircuitParseError) as exc:
        print(f"cannot read circuit {args.circuit}: {exc}", file=sys.stderr)
        return 2
    observables = args.observable or ["Z" * circuit.num_qubits]
    try:
        config = (
            load_config(args.config)
            if args.config
            else local_config(pilots=local_pilots(cpu_workers=args.workers, qpu=None), classical_workers=0)
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    executor = quantum_executor(config)
    dreamer = QDreamer(Profile.load(args.profile) if args.profile else None)
    dfk = parsl.load(config)
    try:
        executor.wait_for_pilots()
        if dreamer.profile is None:
            print(f"calibrating the pilots of '{executor.label}' (under a minute)...", file=sys.stderr)
            dreamer.calibrate(executor)
        if args.save_profile:
            dreamer.profile.save(args.save_profile)
        try:
            plan = dreamer.plan(circuit, observables, executor, precision=args.precision, shots=args.shots)
        except PlanningError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except ValueError as exc:  # a precision or shots that cannot be a target
            print(f"parsl-quantum plan: {exc}", file=sys.stderr)
            return 2
        print(
            f"circuit {circuit.name}: {circuit.num_qubits} qubits, {len(observables)} observable(s); "
            f"{len(plan.alternatives) + 1} configurations weighed in {plan.planning_s:.2f} s"
        )
        print(plan.table())
        if args.run:
            start = time.perf_counter()
            result = plan.submit_reconstruction().result()
            print(
                f"ran {plan.label} in {time.perf_counter() - start:.2f} s "
                f"(predicted {plan.predicted_makespan_s:.2f} s)"
            )
            for obs, value, err in zip(observables, result.values, result.stderr, strict=True):
                print(f"  <{obs}> = {value:.5f} +- {err:.5f}")
    finally:
        dfk.cleanup()
        parsl.clear()
    return 0


def run_workflow(workflow: str, args: Sequence[str]) -> int:
    """Run a mini-app by name (``qaoa_maxcut``: its ``main``; 1 when its verdict is FAIL) or any workflow
    script by path."""
    import importlib.util
    import os

    name = os.path.basename(workflow).removesuffix(".py")
    if (
        not os.path.exists(workflow)
        and importlib.util.find_spec(f"parsl_quantum.workflows.{name}") is not None
    ):
        from parsl_quantum.workflows.common import exit_code, run

        return exit_code(run(f"parsl_quantum.workflows.{name}", list(args)))
    if not os.path.exists(workflow):
        known = ", ".join(mini_apps())
        print(f"no workflow '{workflow}': not a file, and not a mini-app ({known})", file=sys.stderr)
        return 2
    sys.argv = [workflow, *args]
    runpy.run_path(workflow, run_name="__main__")
    return 0


def mini_apps() -> list[str]:
    """Names of the mini-apps in ``parsl_quantum/workflows/``."""
    import pkgutil

    import parsl_quantum.workflows as workflows

    return sorted(m.name for m in pkgutil.iter_modules(workflows.__path__) if m.name != "common")


def mini_app_summaries() -> list[tuple[str, str]]:
    """Each mini-app's name and the first line of its docstring, read without importing it."""
    import ast
    import importlib.util

    summaries = []
    for name in mini_apps():
        spec = importlib.util.find_spec(f"parsl_quantum.workflows.{name}")
        try:
            with open(spec.origin) as f:  # type: ignore[union-attr]
                doc = ast.get_docstring(ast.parse(f.read())) or ""
        except (OSError, SyntaxError, AttributeError, TypeError):
            doc = ""
        summaries.append((name, doc.strip().splitlines()[0] if doc.strip() else ""))
    return summaries


if __name__ == "__main__":
    sys.exit(main())
