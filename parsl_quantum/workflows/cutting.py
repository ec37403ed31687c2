"""An efficient_su2 circuit run as cut fragments on small simulators (motif: circuit_cutting).

The circuit (linear entanglement) is cut with qiskit-addon-cutting into subcircuits of at most
``--subcircuit`` qubits; its subexperiments run as quantum tasks on the CPU pilots, and the
reconstruction runs as a classical task downstream of them. Checked: each reconstructed expectation
value lies within 5 standard errors of the exact value (statevector simulation of the whole circuit).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from parsl_quantum.configs import local_config, local_pilots
from parsl_quantum.motifs.circuit_cutting import circuit_cutting
from parsl_quantum.workflows.common import Clock, at_most, loaded, script, verdict

MAX_Z = 5.0  # every reconstructed value within this many of its standard errors of exact
MAX_STDERR = 0.05  # and those standard errors small enough for the check to mean something


def su2_circuit(n: int, reps: int, seed: int):
    from qiskit.circuit.library import efficient_su2

    qc = efficient_su2(n, entanglement="linear", reps=reps)
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def observables(n: int) -> list:
    """Single-qubit and two-qubit correlators across the cut, and their sum."""
    from qiskit.quantum_info import SparsePauliOp

    return [
        SparsePauliOp.from_sparse_list([("Z", [0], 1.0)], n),
        SparsePauliOp.from_sparse_list([("ZZ", [n // 2 - 1, n // 2], 1.0)], n),
        SparsePauliOp.from_sparse_list([("Z", [q], 1.0 / n) for q in range(n)], n),
    ]


def make_problem(subcircuit: int, shots: int):
    @circuit_cutting(
        executors=["quantum"],
        subcircuit_size=subcircuit,
        shots=shots,
        classical_executors=["classical"],
        kinds=["cpu"],
    )
    def su2_problem(n, reps, seed):
        return su2_circuit(n, reps, seed), observables(n)

    return su2_problem


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, default=8)
    parser.add_argument("--subcircuit", type=int, default=4)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument(
        "--shots",
        type=int,
        default=2000,
        help="target: the standard error of the whole circuit at SHOTS shots per basis (the cut spends about "
        "kappa^2 times as many; default 2000)",
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="16 qubits cut into 8-qubit pieces")
    args = parser.parse_args(argv)
    if args.large:
        args.qubits, args.subcircuit = 16, 8
    from parsl_quantum.devices import get_device

    problem = make_problem(args.subcircuit, args.shots)
    config = local_config(pilots=local_pilots(qpu=None))  # its fragments need CPU simulators only
    with loaded(config):
        clock = Clock()
        since = time.time()
        result = problem.run(args.qubits, args.reps, args.seed).result()
        breakdown = clock.breakdown(config.executors[0], since)
    with clock.classical():
        exact = get_device("aer").estimate(
            su2_circuit(args.qubits, args.reps, args.seed), observables(args.qubits)
        )
    z = np.abs(result.values - exact) / result.stderr
    print(
        f"efficient_su2({args.qubits}, linear, reps={args.reps}) cut into <= {args.subcircuit}-qubit pieces"
    )
    print(f"{'observable':>12} {'exact':>9} {'cut':>9} {'stderr':>8} {'|z|':>6}")
    for name, e, v, s, zi in zip(
        ["Z0", "ZZ mid", "mean Z"], exact, result.values, result.stderr, z, strict=True
    ):
        print(f"{name:>12} {e:9.4f} {v:9.4f} {s:8.4f} {zi:6.2f}")
    print(f"shots spent: {result.shots}")
    print(breakdown)
    figures = {
        "values": result.values.tolist(),
        "exact": exact.tolist(),
        "stderr": result.stderr.tolist(),
        "z": z.tolist(),
    }
    return verdict(
        figures,
        at_most("cutting: worst |z| vs exact", float(np.max(z)), MAX_Z, "sigma"),
        at_most("cutting: largest standard error", float(np.max(result.stderr)), MAX_STDERR),
    )


if __name__ == "__main__":
    script("parsl_quantum.workflows.cutting")
