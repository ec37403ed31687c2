"""lightning.gpu against lightning.qubit on the same circuits, from 20 to 30 qubits (``make gpu-check``).

The circuit is a layered hardware-efficient ansatz (each layer ``RY`` and ``RZ`` on every qubit at seeded
angles, then a CNOT ladder), and the task is the exact expectation value of an Ising-like Hamiltonian
(``sum ZZ`` on neighbours plus ``sum X``: ``2n - 1`` terms) in its state: a forward pass, as one VQE energy
evaluation. Both backends run through this project's device adapter
(:class:`~parsl_quantum.devices.lightning.LightningDevice`) with the same options (double precision), so
the conversion of the Qiskit circuit counts on both sides; both run in the same process, width by width.
Every width is timed ``--repeats`` times per backend on a fresh device and the median is reported (the
median sets aside the first call, which also creates the device's state); the two backends' values must
agree to 1e-8, or the benchmark fails instead of reporting a speed of a wrong answer.

A backend skips a width, saying why, when it would not fit (:func:`skip_reason`): when ``STATE_COPIES``
state vectors of that width exceed its memory (the GPU's for lightning.gpu, this job's for
lightning.qubit), when its time predicted from the widest width it ran (doubling per qubit) is over
``--limit-s`` (60 s), or when its repeats would end past ``--budget-s`` (240 s) since the start.
Where both ran, ``speedup_gpu_over_qubit`` is lightning.qubit's median over lightning.gpu's.

Without a usable lightning.gpu it prints why and returns 2 (the process exits 2) without writing a file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

import numpy as np

from benchmarks.common import median, timed, write_result

BACKENDS = ("lightning.qubit", "lightning.gpu")
WIDTHS = (20, 22, 24, 26, 28, 30)
LAYERS = 2
STATE_COPIES = 3
"""State vectors a width is given room for: the state, the copy an expectation value may work on, and
room for the simulator's buffers."""
BYTES_PER_AMPLITUDE = 16  # complex128, both backends
NO_GPU_STATUS = 2


def state_bytes(qubits: int) -> int:
    """Bytes of one double-precision state vector of ``qubits`` qubits."""
    return BYTES_PER_AMPLITUDE * 2**qubits


def predicted_s(qubits: int, measured: dict[int, float]) -> float | None:
    """Seconds one run of ``qubits`` qubits should take, scaled from the widest measured width by
    ``2**(qubits - widest)`` (a state-vector simulation's cost doubles per qubit); ``None`` before any."""
    if not measured:
        return None
    widest = max(measured)
    return measured[widest] * 2.0 ** (qubits - widest)


def skip_reason(
    qubits: int,
    memory_bytes: int,
    measured: dict[int, float],
    repeats: int,
    limit_s: float,
    elapsed_s: float = 0.0,
    budget_s: float = float("inf"),
) -> str | None:
    """Why a backend should not run ``qubits`` qubits, or ``None`` when it should.

    Parameters
    ----------
    qubits
        The width.
    memory_bytes
        The memory the backend's state lives in (the GPU's, or this job's).
    measured
        Median seconds of the widths this backend already ran, by width.
    repeats
        Runs a width takes.
    limit_s
        The longest one run may be predicted to take.
    elapsed_s, budget_s
        Seconds the benchmark has run, and how long it may run in all.
    """
    need = STATE_COPIES * state_bytes(qubits)
    if need > memory_bytes:
        return (
            f"{STATE_COPIES} state vectors of {qubits} qubits need {need / 2**30:g} GiB, "
            f"more than the {memory_bytes / 2**30:.1f} GiB there"
        )
    guess = predicted_s(qubits, measured)
    if guess is not None and guess > limit_s:
        return f"predicted {guess:.1f} s a run, over the {limit_s:g} s limit"
    if guess is not None and elapsed_s + repeats * guess > budget_s:
        return f"{repeats} runs of a predicted {guess:.1f} s would end past the {budget_s:g} s budget"
    return None


def ansatz(qubits: int, layers: int = LAYERS, seed: int = 7) -> Any:
    """The layered hardware-efficient ansatz at angles drawn uniformly from [-pi, pi) with ``seed``."""
    from qiskit import QuantumCircuit

    angles = np.random.default_rng(seed).uniform(-np.pi, np.pi, (layers, 2, qubits))
    qc = QuantumCircuit(qubits, name=f"hea{qubits}x{layers}")
    for layer in range(layers):
        for q in range(qubits):
            qc.ry(angles[layer, 0, q], q)
            qc.rz(angles[layer, 1, q], q)
        for q in range(qubits - 1):
            qc.cx(q, q + 1)
    return qc


def hamiltonian(qubits: int) -> Any:
    """``sum_i Z_i Z_{i+1} + sum_i X_i`` as one ``SparsePauliOp``."""
    from qiskit.quantum_info import SparsePauliOp

    terms = [("ZZ", [q, q + 1], 1.0) for q in range(qubits - 1)] + [("X", [q], 1.0) for q in range(qubits)]
    return SparsePauliOp.from_sparse_list(terms, num_qubits=qubits)


def time_backend(backend: str, qubits: int, repeats: int) -> tuple[list[float], float]:
    """Seconds of each of ``repeats`` exact energy evaluations on a fresh device (freed on return, before
    the next width), and the energy."""
    from parsl_quantum.devices.lightning import LightningDevice

    device = LightningDevice(backend)
    circuit, observable = ansatz(qubits), hamiltonian(qubits)
    times, values = [], []
    for _ in range(repeats):
        seconds, value = timed(lambda: float(device.estimate(circuit, observable)))
        times.append(seconds)
        values.append(value)
    if max(values) - min(values) > 1e-10:
        raise RuntimeError(f"{backend} at {qubits} qubits gave different energies on repeats: {values}")
    return times, values[0]


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("pennylane", "pennylane-lightning", "pennylane-lightning-gpu"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def gpu_names() -> list[str]:
    """The GPUs' names as ``nvidia-smi`` lists them (empty when it cannot say): the card behind the times."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-s", type=float, default=60.0, help="longest predicted run (default 60)")
    parser.add_argument("--budget-s", type=float, default=240.0, help="whole benchmark (default 240)")
    args = parser.parse_args(argv)

    from parsl_quantum.devices.hardware import detect_gpus, job_memory_bytes
    from parsl_quantum.devices.lightning import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    if reason is not None:
        print(
            f"bench_gpu: lightning.gpu is unusable here, nothing measured or written: {reason}",
            file=sys.stderr,
        )
        return NO_GPU_STATUS
    gpu = detect_gpus()
    memory = {"lightning.qubit": job_memory_bytes(), "lightning.gpu": gpu.memory_bytes}
    measured: dict[str, dict[int, float]] = {backend: {} for backend in BACKENDS}
    rows = []
    begin = time.perf_counter()
    for qubits in args.widths:
        row: dict[str, Any] = {"qubits": qubits, "gates": ansatz(qubits).size(), "terms": 2 * qubits - 1}
        energies = {}
        for backend in BACKENDS:
            why = skip_reason(
                qubits,
                memory[backend],
                measured[backend],
                args.repeats,
                args.limit_s,
                elapsed_s=time.perf_counter() - begin,
                budget_s=args.budget_s,
            )
            if why is not None:
                row[backend] = {"skipped": why}
                continue
            times, energies[backend] = time_backend(backend, qubits, args.repeats)
            measured[backend][qubits] = median(times)
            row[backend] = {"median_s": round(median(times), 5), "times_s": [round(t, 5) for t in times]}
        if len(energies) == 2:
            difference = abs(energies["lightning.qubit"] - energies["lightning.gpu"])
            if difference > 1e-8:
                raise RuntimeError(f"{qubits} qubits: the backends disagree by {difference:.3g}: {energies}")
            row["energy"] = energies["lightning.gpu"]
            row["speedup_gpu_over_qubit"] = round(
                measured["lightning.qubit"][qubits] / measured["lightning.gpu"][qubits], 2
            )
        print(row, flush=True)
        rows.append(row)
    write_result(
        "gpu",
        {
            "task": "exact energy of a layered hardware-efficient ansatz (forward pass, complex128)",
            "layers": LAYERS,
            "repeats": args.repeats,
            "limit_s": args.limit_s,
            "budget_s": args.budget_s,
            "gpus": gpu_names(),
            "gpu_memory_bytes": gpu.memory_bytes,
            "job_memory_bytes": memory["lightning.qubit"],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "versions": versions(),
            "widths": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
