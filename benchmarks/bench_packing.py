"""Packing subexperiments on a wide device: predicted QPU seconds of a cut 24-qubit circuit on
``fake_torino`` (133 qubits), its subexperiments run one circuit at a time and packed side by side.

Two 24-qubit circuits, each cut into two 12-qubit subsystems by Q-Dreamer's decomposition
(:func:`~parsl_quantum.q_dreamer.planning.decompose.decompose`):

- ``efficient_su2`` with linear entanglement and two repetitions (two gate cuts, 72 subexperiments);
- p=1 QAOA for MaxCut on the 24-node ring (two RZZ cuts, 72 subexperiments).

Shots: the cut's, for the standard error of running whole at 4,096 shots per basis (``kappa**2`` times
as many, spread over the subexperiments by :func:`~parsl_quantum.q_dreamer.precision.allocate_shots`).
QPU seconds come from the device's target alone (:mod:`parsl_quantum.q_dreamer.model.qpu_time`: each
circuit transpiled by the device, one shot lasting its critical path plus the repetition delay; packed,
``ceil(n / k)`` circuits per device call, each as long as its longest piece), for two groupings: every
subexperiment in one job per shots value, and the fragments a plan submits to one QPU worker (one,
unless splitting its work in two would finish sooner, each packed apart). Running whole (24 qubits fit
the device) is given beside them.

Predictions only: nothing runs on a QPU, and the fake backend's noise model has no crosstalk, so what
packing costs in fidelity on a real device is not measured here.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from benchmarks.common import timed, write_result
from parsl_quantum.devices import get_device
from parsl_quantum.q_dreamer.model.qpu_time import compare_packing
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.planning.rewrite import fragments
from parsl_quantum.q_dreamer.precision import allocate_shots

N = 24
WHOLE_SHOTS = 4096


def su2(n: int, seed: int = 1) -> Any:
    from qiskit.circuit.library import efficient_su2

    qc = efficient_su2(n, entanglement="linear", reps=2)
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def qaoa_ring(n: int, gamma: float = 0.4, beta: float = 0.3) -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name=f"qaoa_ring{n}")
    qc.h(range(n))
    for q in range(n):
        qc.rzz(2 * gamma, q, (q + 1) % n)
    qc.rx(2 * beta, range(n))
    return qc


def ring_observable(n: int) -> Any:
    """The MaxCut cost's ZZ terms on the ring's edges."""
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp.from_sparse_list([("ZZ", [q, (q + 1) % n], 1.0) for q in range(n)], n)


def cases() -> dict[str, tuple[Any, list[Any]]]:
    from qiskit.quantum_info import SparsePauliOp

    return {
        "efficient_su2_24": (su2(N), [SparsePauliOp("Z" * N)]),
        "qaoa_ring_24": (qaoa_ring(N), [ring_observable(N)]),
    }


def case(circuit: Any, observables: list[Any], device: Any) -> dict[str, Any]:
    from parsl_quantum.circuits.estimation import basis_circuit, group_paulis

    problem = decompose(circuit, observables, N // 2)
    total = int(math.ceil(problem.kappa**2 * WHOLE_SHOTS))
    allocation = allocate_shots(problem.coefficients, total)
    work = []
    for label, circuits in problem.subexperiments.items():
        per_index = len(circuits) // len(problem.coefficients)
        work.extend((label, i, qc, int(allocation[i // per_index])) for i, qc in enumerate(circuits))
    one_job = [[(qc, shots) for *_, qc, shots in work]]
    submitted = [[(qc, shots) for *_, qc, shots in group] for group in fragments(work, slots=1)]
    whole = [[(basis_circuit(circuit, g.basis), WHOLE_SHOTS) for g in group_paulis(observables)]]
    widths = sorted({qc.num_qubits for *_, qc, _ in work})
    out: dict[str, Any] = {
        "qubits": circuit.num_qubits,
        "cuts": problem.num_cuts,
        "kappa": problem.kappa,
        "subsystem_widths": widths,
        "subexperiments": len(work),
        "shots_total": sum(shots for *_, shots in work),
        "packing_factor": {str(w): device.packing_factor(w) for w in widths},
    }
    for name, batches in (("one_job", one_job), ("fragments_one_worker", submitted), ("whole", whole)):
        seconds, comparison = timed(lambda batches=batches: compare_packing(batches, device))
        out[name] = {
            "qpu_s_unpacked": round(comparison.unpacked.seconds, 4),
            "qpu_s_packed": round(comparison.packed.seconds, 4),
            "saving": round(comparison.saving, 3),
            "circuits_unpacked": comparison.unpacked.circuits,
            "circuits_packed": comparison.packed.circuits,
            "jobs": comparison.packed.jobs,
            "prediction_s": round(seconds, 3),
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="fake_torino")
    args = parser.parse_args(argv)
    device = get_device(args.backend)
    timing = device.timing
    payload = {
        "backend": args.backend,
        "device_qubits": int(device.qiskit_backend.num_qubits),
        "whole_shots_per_basis": WHOLE_SHOTS,
        "timing_s": {
            "one_qubit_gate": timing.one_qubit_gate,
            "two_qubit_gate": timing.two_qubit_gate,
            "readout": timing.readout,
            "repetition_delay": timing.repetition_delay,
        },
        "cases": {name: case(qc, obs, device) for name, (qc, obs) in cases().items()},
        "note": "predicted from the device's target; nothing ran on a QPU; crosstalk between packed "
        "regions is not modelled by the fake backend",
    }
    return write_result("packing", payload)


if __name__ == "__main__":
    main()
