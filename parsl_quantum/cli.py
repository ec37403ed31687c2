"""The ``parsl-quantum`` command: demos, mini-apps and the cutting planner from the shell."""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence


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
    plan.add_argument("--workers", type=int, default=2, help="CPU simulator workers")
    plan.add_argument("--run", action="store_true", help="also run the chosen plan and print the values")
    run = sub.add_parser("run", help="run a mini-app (see --help for the list) or a workflow script")
    run.add_argument("workflow", help="a mini-app name (e.g. qaoa_maxcut) or a path to a script")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the workflow")
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
    config = local_config(pilots=local_pilots(cpu_workers=args.workers, qpu=None), classical_workers=0)
    executor = config.executors[0]
    dreamer = QDreamer(Profile.load(args.profile) if args.profile else None)
    dfk = parsl.load(config)
    try:
        executor.wait_for_pilots()
        if dreamer.profile is None:
            print("calibrating the local pilots (under a minute)...", file=sys.stderr)
            dreamer.calibrate(executor)
        if args.save_profile:
            dreamer.profile.save(args.save_profile)
        try:
            plan = dreamer.plan(circuit, observables, executor, precision=args.precision, shots=args.shots)
        except PlanningError as exc:
            print(str(exc), file=sys.stderr)
            return 1
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
    """Run a mini-app by name (``qaoa_maxcut``: its ``main``) or any workflow script by path."""
    import importlib.util
    import os

    name = os.path.basename(workflow).removesuffix(".py")
    if (
        not os.path.exists(workflow)
        and importlib.util.find_spec(f"parsl_quantum.workflows.{name}") is not None
    ):
        from parsl_quantum.workflows.common import run

        run(f"parsl_quantum.workflows.{name}", list(args))
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
