"""Anchoring model predictions in a measurement of the circuit at hand.

A simulator's time depends on how its gate fusion groups a circuit's gates, which a count of gates does
not capture: at 20 qubits, circuits with the same gate count were measured here at 1.3 to 4.3 ns per
gate and amplitude. Before predicting a circuit, Q-Dreamer therefore times a *probe* of it on this host,
with the pilot's device options: the circuit itself when it is narrow (a cut subexperiment), or its
first ``PROBE_WIDTH`` qubits (the gates acting only on them: the same pattern) when it is wide. The
model's prediction is scaled by measured over modelled time of the probe, a ratio in which the speed of
this host and of the pilot's cancels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.q_dreamer.models import CircuitFeatures, PilotModel

PROBE_WIDTH = 16
"""Widest probe: a 16-qubit statevector times in milliseconds."""
LIMITS = (0.2, 5.0)
"""A probe corrects the model by at most these factors (a probe of a few milliseconds is noisy)."""


def slice_circuit(circuit: Any, width: int) -> Any:
    """The gates of ``circuit`` acting only on its first ``width`` qubits, measured at the end."""
    from qiskit import QuantumCircuit

    out = QuantumCircuit(width, name=f"{circuit.name}_probe{width}")
    for inst in circuit.data:
        if inst.operation.name in ("measure", "barrier", "reset", "delay"):
            continue
        qubits = [circuit.find_bit(q).index for q in inst.qubits]
        if max(qubits) < width and not inst.clbits:
            out.append(inst.operation, qubits)
    out.measure_all()
    return out


@dataclass
class Prober:
    """Times probes on this host with each pilot's device options and keeps the correction factors.

    Parameters
    ----------
    options
        Per pilot name, the device options its workers use.
    repeats
        Timings per probe (the fastest is kept).
    """

    options: dict[str, dict[str, Any]]
    repeats: int = 2
    spent_s: float = 0.0
    _devices: dict[str, Any] = field(default_factory=dict)

    def _device(self, pilot: PilotModel) -> Any | None:
        if pilot.kind == "qpu" or pilot.qpu is not None:
            return None  # emulators are calibrated on their own small circuits; QPUs are not simulated
        if pilot.name not in self._devices:
            from parsl_quantum.providers import get_device

            try:
                self._devices[pilot.name] = get_device(pilot.backend, **self.options.get(pilot.name, {}))
            except Exception:  # e.g. a GPU backend described from a host without GPUs
                self._devices[pilot.name] = None
        return self._devices[pilot.name]

    def factor(self, pilot: PilotModel, circuit: Any, shots: int) -> float:
        """Measured over modelled seconds of a probe of ``circuit`` (1 where nothing can be measured)."""
        device = self._device(pilot)
        if device is None or pilot.simulator is None:
            return 1.0
        probe = circuit if circuit.num_qubits <= PROBE_WIDTH else slice_circuit(circuit, PROBE_WIDTH)
        start = time.perf_counter()
        best = float("inf")
        for _ in range(self.repeats):
            begin = time.perf_counter()
            device.sample(probe, shots=shots)
            best = min(best, time.perf_counter() - begin)
        self.spent_s += time.perf_counter() - start
        modelled = pilot.simulator.seconds(CircuitFeatures.of(probe), shots)
        low, high = LIMITS
        return min(max(best / max(modelled, 1e-6), low), high)
