"""Anchoring model predictions in a measurement of the circuit at hand.

A simulator's time per gate and amplitude depends on how its gate fusion groups a circuit's gates and on
whether the state fits in the processor's caches: circuits of one width and gate count differ severalfold,
and in a circuit whose gates barely fuse (a GHZ chain) every gate is a pass over the whole state. Before
predicting a circuit, Q-Dreamer therefore times a *probe* of it on one of the pilot's
own workers, as a task bound to that pilot, with the device the pilot's tasks get (the submitting host
never builds a pilot's device): the circuit itself when the model says it is quick, or else the widest
slice of it (the gates acting only on its first qubits: the same pattern) that the model says takes at most
``PROBE_BUDGET_S``, and never narrower than ``OUT_OF_CACHE_WIDTH`` qubits when the circuit is wider, so
that the probe runs in the regime the circuit will. Quick circuits are timed in a batch, as fragments run
them, so that the call's own overhead is shared.

Only the state-sized part of the model (gates times amplitudes, and noisy trajectories) is scaled by the
probe: the ratio of the probe's measured to modelled state-sized time. Fixed and per-shot costs keep
their calibrated values. A probe that cannot run in time (the pilot is busy or down) leaves the model as
calibrated for that pilot in this plan, and nothing is kept.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.q_dreamer.model.models import CircuitFeatures, PilotModel, SimulatorModel

PROBE_BUDGET_S = 0.15
"""Most seconds the model may predict for a probe."""
OUT_OF_CACHE_WIDTH = 20
"""Probes of circuits at least this wide are at least this wide (a 16 MB state, beyond the caches)."""
BATCH_S = 0.02
"""Quick probes are repeated in one call until the model predicts about this long."""
PROBE_SHOTS = 1024
"""Most shots a probe takes: the state-sized part it measures stops growing with shots once every
mid-circuit outcome has been seen (a cut subexperiment has one or two mid-circuit measurements)."""
LIMITS = (0.2, 5.0)
"""A probe corrects the model by at most these factors."""
PROBE_TIMEOUT_S = 30.0
"""Longest a plan waits for one probe's task (queueing on a busy pilot included)."""
STATE_SHARE = 0.1
"""A circuit is probed only when the state-sized part is at least this share of its modelled time:
below it, even a probe's largest correction changes the prediction little (a 13-qubit cut fragment's
gates are a few percent of its time; shots and mid-circuit branching the rest), or when it has more than
``OUTCOME_SPACE`` possible outcomes."""
OUTCOME_SPACE = 64
"""Possible outcomes beyond which only a probe tells how many distinct ones a circuit gives."""
MIN_PROBED_S = 0.05
"""A circuit the model puts under this many seconds is not probed: a probe task costs about as much as
the circuit, and the fragment tasks running it refine the model online."""

logger = logging.getLogger(__name__)


def time_probe(qpy: Any, repeat: int, shots: int, repeats: int, *, device: Any) -> tuple[float, int]:
    """Worker side of a probe: the median of ``repeats`` timings of ``repeat`` copies of the probe (the
    one circuit ``qpy`` holds, a :class:`~parsl_quantum.circuits.normalize.QpyCircuits`) run in one
    call on the pilot's ``device``, per copy (the statistic calibration keeps), and the number of
    distinct outcomes the probe gave."""
    import statistics

    (probe,) = qpy.unpack()
    timings = []
    counts: list[dict[str, int]] = [{}]
    for _ in range(max(1, repeats)):
        begin = time.perf_counter()
        counts = device.sample([probe] * repeat, shots=shots)
        timings.append((time.perf_counter() - begin) / repeat)
    return statistics.median(timings), len(counts[0])


def slice_circuit(circuit: Any, width: int) -> Any:
    """The gates of ``circuit`` acting only on its first ``width`` qubits, measured at the end."""
    from qiskit import QuantumCircuit

    out = QuantumCircuit(width, name=f"{circuit.name}_probe{width}")
    for inst in circuit.data:
        if inst.name in ("measure", "barrier", "reset", "delay"):
            continue
        qubits = [circuit.find_bit(q).index for q in inst.qubits]
        if max(qubits) < width and not inst.clbits:
            out.append(inst.operation, qubits)
    out.measure_all()
    return out


@dataclass
class Prober:
    """Times probes on each pilot's own workers, only where the profile lacks data: for circuit
    structures that ``measured`` (a profile's kept measurements) has no probe of yet. It keeps there the
    correction factors and the number of distinct outcomes each probed circuit gave.

    Parameters
    ----------
    executor
        The executor whose pilots are probed: anything with Parsl's ``submit(func, resource_specification,
        *args)`` that binds ``{"pilot": name}`` to that pilot and gives a function declaring ``device`` the
        pilot's device (a :class:`~parsl_quantum.executors.QuantumPilotExecutor`).
    measured
        Measurements kept from earlier plans, by key (see :attr:`Profile.measured`); filled as it goes.
    repeats
        Timings per probe (their median is kept).
    timeout_s
        Longest wait for one probe. A pilot whose probe timed out or failed is not probed again in this
        plan; its model stays as calibrated.
    """

    executor: Any
    measured: dict[str, list[float]] = field(default_factory=dict)
    repeats: int = 3
    timeout_s: float = PROBE_TIMEOUT_S
    unprobed: dict[str, str] = field(default_factory=dict)
    _structures: dict[int, tuple[Any, str]] = field(default_factory=dict)
    _started: dict[str, tuple[Any, Any, float, float]] = field(default_factory=dict)

    def _structure(self, circuit: Any) -> str:
        """The circuit's :func:`~parsl_quantum.q_dreamer.planning.template.fingerprint` (computed once)."""
        from parsl_quantum.q_dreamer.planning.template import fingerprint

        known = self._structures.get(id(circuit))
        if known is None or known[0] is not circuit:
            known = (circuit, fingerprint(circuit))
            self._structures[id(circuit)] = known
        return known[1]

    def _launch(self, pilot: PilotModel, probe: Any, repeat: int, shots: int, repeats: int) -> Any:
        """Submit ``probe``'s timing to one of ``pilot``'s workers: its future, or ``None`` (the pilot left
        unprobed in this plan) when it cannot be submitted."""
        if pilot.name in self.unprobed:
            return None
        from parsl_quantum.circuits.normalize import QpyCircuits

        spec = {"pilot": pilot.name, "qubits": probe.num_qubits}
        try:
            return self.executor.submit(time_probe, spec, QpyCircuits([probe]), repeat, shots, repeats)
        except Exception as exc:
            self._unprobed(pilot, probe, f"{type(exc).__name__}: {exc}")
            return None

    def _collect(self, pilot: PilotModel, probe: Any, future: Any) -> tuple[float, int] | None:
        """A probe's timing, or ``None`` (and the pilot left unprobed in this plan) when it failed or did
        not finish within ``timeout_s``."""
        if future is None:
            return None
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            self._unprobed(pilot, probe, f"no result within {self.timeout_s:g} s")
        except Exception as exc:  # the pilot cannot run it: the model stays as calibrated
            self._unprobed(pilot, probe, f"{type(exc).__name__}: {exc}")
        return None

    def _unprobed(self, pilot: PilotModel, probe: Any, reason: str) -> None:
        self.unprobed[pilot.name] = reason
        logger.warning(
            "probe of %s on pilot %s failed (%s); using its calibrated model", probe.name, pilot.name, reason
        )

    @staticmethod
    def _simulated(pilot: PilotModel) -> bool:
        """Whether ``pilot`` runs a simulator a probe can correct (not a QPU, nor an emulator calibrated
        on its own small circuits)."""
        return pilot.simulator is not None and pilot.kind != "qpu" and pilot.qpu is None

    def needs_probe(self, pilot: PilotModel, circuit: Any, shots: int) -> bool:
        """Whether a probe of ``circuit`` could tell the model something that matters for a run of
        ``shots`` shots: its state-sized part is a fair share of the run's time, or it has many possible
        outcomes."""
        if not self._simulated(pilot):
            return False
        model = pilot.simulator
        assert model is not None
        features = CircuitFeatures.of(circuit)
        if model.seconds(features, shots) < MIN_PROBED_S:
            return False
        if 2.0**features.measurements > OUTCOME_SPACE:
            return True
        return model.state_seconds(features, shots) >= STATE_SHARE * model.seconds(features, shots)

    def prefetch(self, requests: list[tuple[PilotModel, Any, int]]) -> None:
        """Start the probes of ``(pilot, circuit, shots)`` that :meth:`factor` will ask for, all at once,
        so that they run side by side on the pilots' workers."""
        for pilot, circuit, shots in requests:
            key = self._key(pilot, circuit, shots)
            if key in self.measured or key in self._started or not self.needs_probe(pilot, circuit, shots):
                continue
            self._started[key] = self._start(pilot, circuit, shots)

    def _key(self, pilot: PilotModel, circuit: Any, shots: int) -> str:
        structure = self._structure(circuit)
        return f"probe|{pilot.name}|{pilot.backend}|{structure}|{min(shots, PROBE_SHOTS)}"

    def _start(self, pilot: PilotModel, circuit: Any, shots: int) -> tuple[Any, Any, float, float]:
        """Launch a probe of ``circuit``: ``(probe, future, modelled, modelled_state)``."""
        model = pilot.simulator
        assert model is not None
        shots = min(shots, PROBE_SHOTS)
        probe = probe_circuit(circuit, model, shots)
        features = CircuitFeatures.of(probe)
        modelled_state = model.state_seconds(features, shots)
        modelled = model.seconds(features, shots)
        if modelled_state <= 0:
            return probe, None, modelled, modelled_state
        repeat = max(1, min(50, math.ceil(BATCH_S / max(modelled, 1e-6))))
        # quick probes are noisy and cheap to repeat; a longer one is timed once
        repeats = self.repeats if modelled * repeat <= 2 * BATCH_S else 1
        return probe, self._launch(pilot, probe, repeat, shots, repeats), modelled, modelled_state

    def outcomes_of(self, circuit: Any, shots: int) -> int | None:
        """Distinct outcomes a probe of ``circuit`` (its structure) gave at ``shots`` shots (capped at
        ``PROBE_SHOTS``), if probed."""
        shots = min(shots, PROBE_SHOTS)
        kept = self.measured.get(f"outcomes|{self._structure(circuit)}|{shots}")
        return int(kept[0]) if kept else None

    def factor(self, pilot: PilotModel, circuit: Any, shots: int, default: float | None = None) -> float:
        """Measured over modelled state-sized seconds of a probe of ``circuit`` (1 where nothing can be
        measured, or where :meth:`needs_probe` says a probe could not matter); measured once per pilot,
        circuit structure and shots (capped at ``PROBE_SHOTS``: past a few thousand, the state-sized part
        no longer grows with shots). With a ``default``, nothing is probed: what was measured before, or
        else ``default``."""
        if not self._simulated(pilot):
            return 1.0
        key = self._key(pilot, circuit, shots)
        if key in self.measured:
            return self.measured[key][0]
        if default is not None:
            return default
        started = self._started.pop(key, None)
        if started is None:
            if not self.needs_probe(pilot, circuit, shots):
                return 1.0
            started = self._start(pilot, circuit, shots)
        probe, future, modelled, modelled_state = started
        if future is None:
            return 1.0
        timed = self._collect(pilot, probe, future)
        if timed is None:
            return 1.0
        best, outcomes = timed
        if probe is circuit or probe.num_qubits == circuit.num_qubits:
            self.measured[f"outcomes|{self._structure(circuit)}|{min(shots, PROBE_SHOTS)}"] = [outcomes]
        measured_state = best - (modelled - modelled_state)
        low, high = LIMITS
        factor = min(max(measured_state / modelled_state, low), high)
        self.measured[key] = [factor]
        return factor


def probe_circuit(circuit: Any, model: SimulatorModel, shots: int) -> Any:
    """The circuit itself if the model says it is quick, else its widest slice within the budget."""
    measured = circuit if circuit.count_ops().get("measure", 0) else _measured(circuit)
    if model.seconds(CircuitFeatures.of(measured), shots) <= PROBE_BUDGET_S:
        return measured
    floor = min(circuit.num_qubits, OUT_OF_CACHE_WIDTH)
    for width in range(circuit.num_qubits - 1, floor - 1, -1):
        sliced = slice_circuit(circuit, width)
        if model.seconds(CircuitFeatures.of(sliced), shots) <= PROBE_BUDGET_S or width == floor:
            return sliced
    return slice_circuit(circuit, floor)


def _measured(circuit: Any) -> Any:
    out = circuit.copy()
    out.measure_all()
    return out
