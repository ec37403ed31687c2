"""The ``parsl-quantum`` command: demos, mini-apps, the planner, calibration and run reports.

Every argument is checked before a pilot starts or calibration begins: numbers, files, backends and run
directories first (before any heavy import, so a mistake costs a fraction of a second), then what needs a
parser (a circuit file, a profile, a ``--config``). A bad one ends the command with status 2 and a message
that names it, as argparse reports its own errors.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import runpy
import sys
from collections.abc import Sequence
from typing import Any

from parsl_quantum.report.wording import plural


class ArgumentCheckError(ValueError):
    """An argument that failed a check made before any work started.

    Parameters
    ----------
    argument
        The argument's ``dest`` (``"precision"``, ``"circuit"``...), as argparse names it.
    message
        What is wrong with it.
    """

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


def devices_demo(backends: Sequence[str], qubits: int = 5, shots: int = 2000) -> None:
    """Sample a GHZ circuit on each backend, side by side, and print what each device is."""
    from qiskit import QuantumCircuit

    from parsl_quantum.devices import get_device

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
    parser = argparse.ArgumentParser(prog="parsl-quantum", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the main demo: a parameter sweep late-bound over a CPU simulator pilot and a QPU "
        "emulator pilot, then write the run's report",
    )
    demo.add_argument(
        "--tasks",
        type=int,
        default=32,
        help="circuits in the parameter sweep (default 32); 4 tasks that need a noiseless device and "
        "one warm-up task per worker run besides them",
    )
    devices = sub.add_parser(
        "devices",
        help="sample a GHZ circuit on each backend and print each device's kind, width and fidelity",
    )
    devices.add_argument(
        "backends",
        nargs="*",
        default=["aer", "lightning.qubit", "fake_torino"],
        help="backend names (default: aer lightning.qubit fake_torino)",
    )
    devices.add_argument("--qubits", type=int, default=5, help="width of the GHZ circuit (default 5)")
    devices.add_argument("--shots", type=int, default=2000, help="shots on each backend (default 2000)")
    plan = sub.add_parser("plan", help="Q-Dreamer's plan for a circuit (OpenQASM file) and its alternatives")
    plan.add_argument("circuit", help="an OpenQASM 2 or 3 file")
    plan.add_argument("--config", help=CONFIG_HELP + "; default: local CPU simulator pilot (--workers)")
    plan.add_argument(
        "--observable", action="append", help="Pauli string (repeatable); default Z on every qubit"
    )
    group = plan.add_mutually_exclusive_group()
    group.add_argument(
        "--shots",
        type=int,
        help="target: the standard error of running the circuit whole with this many shots per "
        "measurement basis; a cut plan spends as many shots as reach it (default 4096)",
    )
    group.add_argument(
        "--precision", type=float, help="instead of --shots: the standard error each value must reach"
    )
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
        "calibrate",
        help="time micro-benchmarks on the pilots of a configuration and write Q-Dreamer's fitted models",
    )
    calibrate.add_argument(
        "--config",
        help=CONFIG_HELP
        + "; default: the embedded local configuration (CPU simulator and QPU emulator pilots)",
    )
    calibrate.add_argument("-o", "--output", required=True, help="the profile to write (JSON)")
    report = sub.add_parser(
        "report", help="charts and one self-contained HTML page of what happened in a run"
    )
    report.add_argument("run_dir", help="a Parsl run directory (runinfo/000) or its parent (newest run)")
    report.add_argument(
        "-o", "--output", default="report", help="directory for the PNGs and report.html (default: ./report)"
    )
    args = parser.parse_args(argv)
    command = sub.choices[args.command]  # the command's own parser, whose usage an error shows
    try:
        check_arguments(args)
        return run_command(args)
    except ArgumentCheckError as exc:  # raised only before any work starts
        command.error(f"argument {argument_name(command, exc.argument)}: {exc}")


def run_command(args: argparse.Namespace) -> int:
    """Run the checked command ``args.command``; its exit status."""
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


def argument_name(parser: argparse.ArgumentParser, dest: str) -> str:
    """An argument as argparse names it in errors: ``--precision``, ``-o/--output``, ``circuit``."""
    for action in parser._actions:
        if action.dest == dest:
            return "/".join(action.option_strings) or action.metavar or dest
    return dest


POSITIVE = {"demo": ("tasks",), "devices": ("qubits", "shots"), "plan": ("shots", "precision", "workers")}
"""The numeric arguments of each command, all of which must be positive and finite."""


def check_arguments(args: argparse.Namespace) -> None:
    """The checks that need no parser and no heavy import: numbers, files, directories, names.

    Raises
    ------
    ArgumentCheckError
        Naming the first argument that fails.
    """
    for dest in POSITIVE.get(args.command, ()):
        value = getattr(args, dest)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ArgumentCheckError(dest, f"must be a positive finite number, not {value:g}")
    if args.command == "plan":
        require_file("circuit", args.circuit)
        if args.profile is not None:
            require_file("profile", args.profile)
        if args.save_profile is not None:
            require_writable("save_profile", args.save_profile)
        for observable in args.observable or ():
            if not re.fullmatch(r"[IXYZ]+", observable):
                raise ArgumentCheckError(
                    "observable", f"'{observable}' is not a Pauli string (letters I, X, Y and Z, one a qubit)"
                )
    if args.command == "calibrate":
        require_writable("output", args.output)
    if args.command in ("plan", "calibrate") and args.config is not None:
        split_config_spec(args.config)
    if args.command == "report":
        from parsl_quantum.report import RunNotFoundError
        from parsl_quantum.report.run import find_run_dir

        try:
            find_run_dir(args.run_dir)
        except RunNotFoundError as exc:
            raise ArgumentCheckError("run_dir", str(exc)) from exc
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise ArgumentCheckError("output", f"{args.output} is a file, not a directory")
    if args.command == "run" and not os.path.exists(args.workflow) and mini_app_of(args.workflow) is None:
        raise ArgumentCheckError(
            "workflow", f"'{args.workflow}' is neither a file nor a mini-app ({', '.join(mini_apps())})"
        )
    if args.command == "devices":
        from parsl_quantum.devices import UnknownBackendError, backend_kind

        for backend in args.backends:
            try:
                backend_kind(backend)
            except UnknownBackendError as exc:
                raise ArgumentCheckError("backends", str(exc)) from exc


def require_file(dest: str, path: str) -> None:
    """Raise :class:`ArgumentCheckError` unless ``path`` is a file."""
    if not os.path.isfile(path):
        raise ArgumentCheckError(dest, f"no file {path}")


def require_writable(dest: str, path: str) -> None:
    """Raise :class:`ArgumentCheckError` unless ``path`` could be written as a file: its directory exists
    and it is not a directory itself."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ArgumentCheckError(dest, f"cannot write {path}: no directory {directory}")
    if os.path.isdir(path):
        raise ArgumentCheckError(dest, f"cannot write {path}: it is a directory")


CONFIG_HELP = (
    "module:function (or path/to/file.py:function) returning a Parsl Config with a QuantumPilotExecutor"
)


class ConfigError(ArgumentCheckError):
    """A ``--config`` that names no function, or whose function returns no quantum pilot executor."""

    def __init__(self, message: str) -> None:
        super().__init__("config", message)


def split_config_spec(spec: str) -> tuple[str, str, bool]:
    """``(module or file, function, whether it is a file)`` of a ``--config`` value, without importing.

    Raises
    ------
    ConfigError
        If ``spec`` is not ``module:function`` or ``path/to/file.py:function``, or the file is missing.
    """
    module_name, _, function = spec.rpartition(":")
    if not module_name or not function:
        raise ConfigError(f"expected module:function or path/to/file.py:function, not '{spec}'")
    is_file = module_name.endswith(".py") or os.sep in module_name
    if is_file and not os.path.isfile(module_name):
        raise ConfigError(f"no file {module_name}")
    return module_name, function, is_file


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

    from parsl.config import Config

    module_name, function, is_file = split_config_spec(spec)
    try:
        if is_file:
            loader_spec = importlib.util.spec_from_file_location("parsl_quantum_user_config", module_name)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigError(f"cannot load {module_name} as a module")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # as ``python -m`` does: the user's modules where they stand
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name}: {exc}") from exc
    make = getattr(module, function, None)
    if not callable(make):
        raise ConfigError(f"{module_name} has no function {function}")
    config = make()
    if not isinstance(config, Config):
        raise ConfigError(f"{function}() returned {type(config).__name__}, not a Config")
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
    raise ConfigError(f"the Config of {spec} has no QuantumPilotExecutor among its executors")


def calibrate_pilots(config_spec: str | None, output: str) -> int:
    """Calibrate Q-Dreamer against the pilots of a configuration and write the profile to ``output``."""
    from parsl_quantum.configs import local_config
    from parsl_quantum.q_dreamer import QDreamer
    from parsl_quantum.workflows.common import loaded

    config = load_config(config_spec) if config_spec else local_config(classical_workers=0)
    executor = quantum_executor(config)
    with loaded(config):
        executor.wait_for_pilots()
        names = [d.name for d in executor.pilot_descriptions]
        pilots = f"{'pilot' if len(names) == 1 else 'pilots'} {', '.join(names)}"
        print(f"calibrating {pilots} of executor '{executor.label}' (about a minute)...", file=sys.stderr)
        profile = QDreamer().calibrate(executor)
    profile.save(output)
    for name, model in sorted(profile.pilots.items()):
        samples = plural(len(profile.samples.get(name, [])), "sample")
        print(f"  pilot {name}: {model.kind}, up to {plural(model.max_qubits, 'qubit')}, {samples}")
    print(f"profile written to {output}")
    return 0


def write_report(run_dir: str, output: str) -> int:
    """Write the report of the run at ``run_dir`` into ``output`` and print its files."""
    from parsl_quantum.report import ReportDependencyError
    from parsl_quantum.report import write_report as write

    try:
        report = write(run_dir, output)
    except ReportDependencyError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(report)
    return 0


def plan_circuit(args: argparse.Namespace) -> int:
    """Print Q-Dreamer's plan for a circuit file, calibrating the local pilots if no profile is given."""
    import time

    import parsl

    from parsl_quantum.configs import local_config, local_pilots
    from parsl_quantum.q_dreamer import PlanningError, QDreamer

    circuit = read_circuit(args.circuit)
    observables = args.observable or ["Z" * circuit.num_qubits]
    for observable in observables:
        if len(observable) != circuit.num_qubits:
            raise ArgumentCheckError(
                "observable",
                f"'{observable}' has {plural(len(observable), 'letter')}; "
                f"the circuit has {plural(circuit.num_qubits, 'qubit')}",
            )
    dreamer = QDreamer(read_profile(args.profile) if args.profile else None)
    config = (
        load_config(args.config)
        if args.config
        else local_config(pilots=local_pilots(cpu_workers=args.workers, qpu=None), classical_workers=0)
    )
    executor = quantum_executor(config)
    dfk = parsl.load(config)  # every argument has been checked: the pilots start
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
        except ValueError as exc:  # a target the planner refuses, which the checks above let through
            print(f"parsl-quantum plan: error: {exc}", file=sys.stderr)
            return 2
        print(
            f"circuit {circuit.name}: {plural(circuit.num_qubits, 'qubit')}, "
            f"{plural(len(observables), 'observable')}; "
            f"{plural(len(plan.alternatives) + 1, 'configuration')} weighed in {plan.planning_s:.2f} s"
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


def read_circuit(path: str) -> Any:
    """The circuit of an OpenQASM file, named after the file (``ghz.qasm``: ``ghz``).

    Raises
    ------
    ArgumentCheckError
        If the file cannot be read or does not parse.
    """
    from pathlib import Path

    from parsl_quantum.circuits.normalize import to_circuit
    from parsl_quantum.devices import DeviceInputError

    try:
        with open(path) as f:
            circuit = to_circuit(f.read())
    except (OSError, UnicodeDecodeError, DeviceInputError) as exc:
        raise ArgumentCheckError("circuit", f"cannot read a circuit from {path}: {exc}") from exc
    circuit.name = Path(path).stem
    return circuit


def read_profile(path: str) -> Any:
    """The calibration profile saved at ``path``.

    Raises
    ------
    ArgumentCheckError
        If it cannot be read or is not a profile of this version.
    """
    from parsl_quantum.q_dreamer import Profile

    try:
        return Profile.load(path)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArgumentCheckError("profile", f"cannot read a calibration profile from {path}: {exc}") from exc


def run_workflow(workflow: str, args: Sequence[str]) -> int:
    """Run a mini-app by name (``qaoa_maxcut``: its ``main``; 1 when its verdict is FAIL) or any workflow
    script by path (a file of that name comes first)."""
    name = mini_app_of(workflow)
    if not os.path.exists(workflow) and name is not None:
        from parsl_quantum.workflows.common import exit_code, run

        return exit_code(run(f"parsl_quantum.workflows.{name}", list(args)))
    sys.argv = [workflow, *args]
    runpy.run_path(workflow, run_name="__main__")
    return 0


def mini_app_of(workflow: str) -> str | None:
    """The mini-app that ``workflow`` names (``qaoa_maxcut`` or ``qaoa_maxcut.py``), or ``None``."""
    name = os.path.basename(workflow).removesuffix(".py")
    return name if name in mini_apps() else None


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
