"""The common case of a distributed app: a Hamiltonian's energy, its Pauli terms dealt out to the ranks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp


def term_indices(num_terms: int, rank: int, size: int) -> range:
    """The terms that ``rank`` of ``size`` ranks computes: every ``size``-th term from ``rank``.

    Round robin rather than contiguous blocks: Hamiltonians are often built type by type (all ``XX``
    terms, then ``YY``...), and dealing the terms out keeps the ranks' shares alike. The ranks' sets are
    disjoint and together cover ``range(num_terms)``.
    """
    return range(rank, num_terms, size)


def hamiltonian_energy(
    circuit: QuantumCircuit,
    hamiltonian: SparsePauliOp,
    comm: Any,
    device: Any,
    *,
    split: bool = True,
) -> float:
    """The exact energy ``<psi|H|psi>`` of the state ``circuit`` prepares, the terms split over the ranks.

    Every rank of ``comm`` must call it with the same arguments. Each computes the exact expectation value
    of its terms (:func:`term_indices`) with ``device.estimate(..., shots=None)`` and the ranks sum them
    with ``allreduce``; every rank returns the total.

    Parameters
    ----------
    circuit
        The state preparation (final measurements are ignored).
    hamiltonian
        The Hamiltonian, a ``SparsePauliOp`` (its coefficients should be real).
    comm
        An mpi4py communicator (the ``comm`` a :func:`distributed` function receives), or anything with
        ``Get_rank``, ``Get_size`` and ``allreduce``.
    device
        This rank's device (the ``device`` a :func:`distributed` function receives).
    split
        ``False`` computes every term on every rank, without communication: use it with
        ``distribute_state=True``, where the ranks simulate each term together.

    Returns
    -------
    float
        The energy, the same on every rank.
    """
    from qiskit.quantum_info import SparsePauliOp

    if not isinstance(hamiltonian, SparsePauliOp):
        raise TypeError(f"hamiltonian_energy needs a SparsePauliOp, got {type(hamiltonian).__name__}")
    if not split:
        return float(device.estimate(circuit, hamiltonian))
    indices = list(term_indices(len(hamiltonian), comm.Get_rank(), comm.Get_size()))
    local = float(device.estimate(circuit, hamiltonian[indices])) if indices else 0.0
    return float(comm.allreduce(local))
