"""A Heisenberg chain's energy from one MPI task, the ranks splitting its terms (motif: distributed).

An open XXX Heisenberg chain in a longitudinal field (8 spins: 29 Pauli terms) and a fixed entangled
state (RY/CNOT layers with seeded angles). One MPI task on Parsl's MPIExecutor computes the energy:
each of 2 ranks builds its own Lightning simulator, takes every other Pauli term, computes their exact
expectation values, and ``allreduce`` sums them. The answer is checked against an exact single-process
reference (a Qiskit ``Statevector``), within 1e-8. ``--large``: 16 spins on 4 ranks.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from parsl.config import Config

from parsl_quantum.motifs.distributed import distributed, hamiltonian_energy, mpi_executor, term_indices
from parsl_quantum.motifs.time_breakdown import TimeBreakdown
from parsl_quantum.workflows.common import Clock, at_most, loaded, script, verdict

TOLERANCE = 1e-8


def heisenberg_chain(n: int, coupling: float = 1.0, field: float = 0.5):
    """Open XXX chain of n spins in a field: J * sum_i (XX + YY + ZZ)_{i,i+1} + h * sum_i Z_i."""
    from qiskit.quantum_info import SparsePauliOp

    terms = [(p, [i, i + 1], coupling) for p in ("XX", "YY", "ZZ") for i in range(n - 1)]
    terms += [("Z", [i], field) for i in range(n)]
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n)


def entangled_state(n: int, layers: int = 2, seed: int = 7):
    """RY rotations and a CNOT ladder, ``layers`` times, then a last RY layer, with seeded angles."""
    import numpy as np
    from qiskit import QuantumCircuit

    angles = iter(np.random.default_rng(seed).uniform(-np.pi, np.pi, n * (layers + 1)))
    qc = QuantumCircuit(n, name="entangled")
    for _ in range(layers):
        for q in range(n):
            qc.ry(next(angles), q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    for q in range(n):
        qc.ry(next(angles), q)
    return qc


def chain_energy(circuit: Any, hamiltonian: Any, *, comm: Any, device: Any) -> dict | None:
    """On every rank: the energy with the terms split over the ranks; rank 0 returns who did what.

    Returns
    -------
    dict or None
        On rank 0: ``energy``, ``terms`` (the term indices of each rank), ``rank_seconds`` (each rank's
        computation) and ``startup_seconds`` (each rank's start: interpreter, imports, device).
        ``None`` on the other ranks.
    """
    import psutil

    startup = time.time() - psutil.Process().create_time()
    begin = time.perf_counter()
    energy = hamiltonian_energy(circuit, hamiltonian, comm, device)
    seconds = time.perf_counter() - begin
    mine = list(term_indices(len(hamiltonian), comm.Get_rank(), comm.Get_size()))
    gathered = comm.gather((mine, seconds, startup), root=0)
    if comm.Get_rank() != 0:
        return None
    return {
        "energy": energy,
        "terms": [terms for terms, _, _ in gathered],
        "rank_seconds": [s for _, s, _ in gathered],
        "startup_seconds": [s for _, _, s in gathered],
    }


def wait_for_workers(executor: Any, timeout_s: float = 120.0) -> float:
    """Wait until the executor's block has connected; the seconds waited."""
    begin = time.perf_counter()
    while not executor.connected_managers():
        if time.perf_counter() - begin > timeout_s:
            raise TimeoutError(f"executor '{executor.label}': no worker connected within {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - begin


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="16 spins on 4 ranks")
    parser.add_argument("--qubits", type=int, default=None, help="spins (default 8, or 16 with --large)")
    parser.add_argument("--ranks", type=int, default=None, help="MPI ranks (default 2, or 4 with --large)")
    parser.add_argument("--backend", default="lightning.qubit", help="each rank's simulator")
    args = parser.parse_args(argv)
    qubits = args.qubits or (16 if args.large else 8)
    ranks = args.ranks or (4 if args.large else 2)

    clock = Clock()
    with clock.classical():
        hamiltonian = heisenberg_chain(qubits)
        circuit = entangled_state(qubits)
    app = distributed(chain_energy, executors=["mpi"], ranks=ranks, backend=args.backend)
    executor = mpi_executor("mpi")
    # The first scaling tick starts the block: a short period saves seconds of start-up.
    with loaded(Config(executors=[executor], run_dir="runinfo", strategy_period=0.5)):
        startup_s = wait_for_workers(executor)
        submitted = time.perf_counter()
        future = app(circuit, hamiltonian)
        with clock.classical():  # the reference, on this host, while the MPI task runs
            from qiskit.quantum_info import Statevector

            exact = float(Statevector(circuit).expectation_value(hamiltonian).real)
        result = future.result()
        mpi_task_s = time.perf_counter() - submitted
    breakdown = TimeBreakdown.from_records([], time.perf_counter() - clock.start, clock.classical_s)

    energy = result["energy"]
    print(
        f"Heisenberg chain, {qubits} spins, {len(hamiltonian)} Pauli terms, {ranks} MPI ranks, {args.backend}"
    )
    print(f"MPI energy:  {energy:.12f}")
    print(f"exact:       {exact:.12f}   difference: {energy - exact:+.1e} (tolerance {TOLERANCE:.0e})")
    for rank, (terms, seconds, startup) in enumerate(
        zip(result["terms"], result["rank_seconds"], result["startup_seconds"], strict=True)
    ):
        shown = ", ".join(map(str, terms[:8])) + (", ..." if len(terms) > 8 else "")
        print(
            f"  rank {rank}: {len(terms):3d} terms [{shown}]  {startup:5.2f} s to start, "
            f"{seconds:6.3f} s for its terms and the allreduce"
        )
    print(f"MPIExecutor start-up: {startup_s:.2f} s;  MPI task: {mpi_task_s:.2f} s from submission to result")
    print(breakdown)
    figures = {
        "energy": energy,
        "exact": exact,
        "ranks": ranks,
        "qubits": qubits,
        "num_terms": len(hamiltonian),
        "terms": result["terms"],
        "rank_seconds": result["rank_seconds"],
        "mpi_task_s": mpi_task_s,
        "executor_startup_s": startup_s,
        "wall_s": breakdown.wall,
    }
    return verdict(
        figures,
        at_most(
            "MPI energy difference from exact",
            abs(energy - exact),
            TOLERANCE,
            why="single-process Statevector reference",
        ),
    )


if __name__ == "__main__":
    script("parsl_quantum.workflows.mpi_energy")
