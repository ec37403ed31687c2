"""The cut-search memo: the cut with the fewest cuts and the narrowest pieces, per width, found once.

Gate cuts are enumerated first (milliseconds); the addon's search for gate and wire cuts runs only where
they cannot reach a width and its predicted cost is less than the cut could save. Searches are kept across
widths (a cut found for width ``w`` whose widest piece is ``v`` is the answer for every width from ``v``
to ``w``) and across plans.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from parsl_quantum.q_dreamer.planning.decompose import (
    CutStructure,
    CuttingError,
    find_gate_cuts,
    find_structure,
)

SEARCH_EFFORT = 200
"""Backjumps allowed to the addon's cut search per width, far below the library's default of 10,000:
enough for linear circuits to reach their fewest cuts, while a search at a width the circuit cannot be
split to gives up early."""

SEARCH_SECONDS_PER_GATE = 0.02
"""What one width of the addon's cut search costs per two-qubit gate of the circuit, about. The search runs
only where gate cuts alone cannot reach a width and the gain it could bring is larger than this predicted
cost."""


GATE_CUT_SECONDS_PER_ELEMENT = 3.5e-7
"""What trying one set of cut qubit pairs costs per qubit and per joined pair of the circuit, about (a
union-find over its interaction graph): enumerating gate cuts of ``c`` cuts tries every set of up to ``c``
of the pairs."""


class CutSearch:
    """Cut searches of one circuit structure and its observables, kept across widths and plans.

    Parameters
    ----------
    circuit, observables
        The circuit (final measurements stripped) and its observables.
    seed
        Seed of the search.
    found
        Searches made before, by width (``None``: no cut found there); filled as it goes.
    """

    def __init__(
        self, circuit: Any, observables: Sequence[Any], seed: int, found: dict[int, CutStructure | None]
    ) -> None:
        self.circuit = circuit
        self.observables = observables
        self.seed = seed
        self.found = found
        self.seconds = 0.0
        self.gate_cuts: dict[int, CutStructure | None] = {}
        two_qubit = [inst.qubits for inst in circuit.data if len(inst.qubits) == 2]
        self.two_qubit_gates = len(two_qubit)
        self.pairs = len({frozenset(qubits) for qubits in two_qubit})

    def gate_cut_seconds(self, cuts: int) -> float:
        """Predicted seconds of enumerating the gate cuts of at most ``cuts`` cuts (0 once done): every
        set of up to ``cuts`` of the circuit's joined qubit pairs is tried."""
        if cuts in self.gate_cuts:
            return 0.0
        sets = sum(math.comb(self.pairs, r) for r in range(cuts + 1))
        return GATE_CUT_SECONDS_PER_ELEMENT * (self.circuit.num_qubits + self.pairs) * sets

    def at(self, size: int) -> CutStructure | None:
        """The cut for subcircuits of at most ``size`` qubits (searched once)."""
        if size not in self.found:
            start = time.perf_counter()
            try:
                structure: CutStructure | None = find_structure(
                    self.circuit, self.observables, size, seed=self.seed, max_backjumps=SEARCH_EFFORT
                )
            except CuttingError:
                structure = None
            self.seconds += time.perf_counter() - start
            self.found[size] = structure
            if structure is not None and structure.minimum_reached:
                # fewest cuts for `size`, within every narrower width down to its widest piece
                for narrower in range(structure.widest, size):
                    self.found.setdefault(narrower, structure)
        return self.found[size]

    def narrowest(self, cuts: int, upper: int, budget: float = math.inf) -> CutStructure | None:
        """The cut with at most ``cuts`` cuts and the narrowest pieces, at widths up to ``upper``.

        Gate cuts are enumerated first (:func:`~parsl_quantum.q_dreamer.planning.decompose.find_gate_cuts`),
        if their predicted cost (:meth:`gate_cut_seconds`) is within ``budget`` (seconds the cut could still
        save; else nothing is searched). Only if they cannot reach a width up to ``upper`` does the addon's
        search for gate and wire cuts run, and only if its predicted cost is within ``budget`` too. A
        connected circuit cut into pieces of width ``w`` needs at least ``ceil(n / w) - 1``
        cuts, so ``c`` cuts cannot give pieces narrower than ``ceil(n / (c + 1))``: that width is tried
        first, and if the search needs more cuts there, the narrowest width that ``c`` cuts reach is found
        by bisection above it.
        """
        if cuts not in self.gate_cuts:
            if self.gate_cut_seconds(cuts) > budget:
                return None
            start = time.perf_counter()
            self.gate_cuts[cuts] = find_gate_cuts(
                self.circuit, self.observables, cuts, self.circuit.num_qubits - 1
            )
            self.seconds += time.perf_counter() - start
        by_gates = self.gate_cuts[cuts]
        if by_gates is not None and by_gates.widest <= upper:
            return by_gates
        low = max(2, math.ceil(self.circuit.num_qubits / (cuts + 1)))
        if low > upper:
            return None
        calls = 1 + math.ceil(math.log2(max(upper - low, 1) + 1))
        if SEARCH_SECONDS_PER_GATE * self.two_qubit_gates * calls > budget:
            return None
        found = self.at(low)
        if found is not None and found.num_cuts <= cuts:
            return found
        lo, hi, found = low + 1, upper, None
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = self.at(mid)
            if candidate is not None and candidate.num_cuts <= cuts:
                found, hi = candidate, mid - 1
            else:
                lo = mid + 1
        return found
