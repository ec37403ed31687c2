r"""Performance models: what a circuit, a pilot and the reconstruction cost, as pure functions over
dataclasses.

Simulator time
    For a statevector of :math:`n` qubits, :math:`G` gates, :math:`s` shots and :math:`B` branches,

    .. math:: t = c_0 + c_1\, G\, 2^n B + c_2\, s + c_3\, s\, G\, 2^n + c_4\, s\, [m > 0] + c_5\, s\, M.

    :math:`c_1` is the cost of one gate on one amplitude; a circuit that measures a qubit and acts on it
    again is simulated once per distinct mid-circuit outcome (Aer's shot branching, Lightning's tree
    traversal), so :math:`B = \min(s, 2^m)` for :math:`m` mid-circuit measurements. :math:`c_2` is the
    cost of a sample and :math:`c_5` that of each of its :math:`M` measured bits (a cut fragment reads one
    or two, a whole circuit every qubit); :math:`c_4` the extra cost of a shot in branching mode (for cut
    subexperiments it dominates).
    :math:`c_3` is the cost of per-shot trajectories of noisy emulators. The coefficients are fitted per
    pilot by :mod:`~parsl_quantum.q_dreamer.model.calibrate`. A device that defers up to ``max_deferred``
    mid-circuit measurements onto ancillas (noiseless Aer does, see
    :meth:`~parsl_quantum.devices.aer.AerDevice.deferred_ancillas`) runs such a circuit as one of
    :math:`n + m` qubits measured at the end: no branches. A device that draws the counts of a circuit
    measured only at the end from its measured qubits' marginal (``samples_marginals``; noiseless Aer
    does, see :mod:`~parsl_quantum.devices.marginal_sampling`) pays the per-shot terms per distinct
    outcome instead: :math:`s` becomes :math:`\min(s, 2^M)` (:meth:`SimulatorModel.sampled`). A device
    that truncates (Aer does by default) simulates only the backward light cone of the measurements:
    there :math:`n` and :math:`G` are the cone's qubits and gates (:meth:`CircuitFeatures.simulated`).

Simulator memory
    :math:`16 \cdot 2^n` bytes for a double-precision statevector: whether a width fits a pilot.

QPU time
    Queue wait, then per circuit :math:`s\,(t_{rep} + t_{circuit})` with the circuit's duration from its
    two-qubit depth, single-qubit depth and readout times (the backend's calibration data).

Estimation
    A task that runs a circuit whole turns its counts into expectation values on its worker:
    :math:`e_0 + e_1\, O\, T` per measurement basis, for :math:`O` distinct outcomes and :math:`T`
    Pauli terms measured in that basis (:meth:`ReconstructionModel.estimation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CircuitFeatures:
    """What the models need to know of a circuit.

    Attributes
    ----------
    qubits, gates, two_qubit_gates, measurements, mid_measurements
        Width; gates (measurements, resets and barriers excluded); two-qubit gates; measurements; and
        measurements whose qubit's later state reaches a later measurement (see :meth:`of`).
    cone_qubits, cone_gates
        The qubits and gates in the backward light cone of the measurements, where it is narrower than
        the circuit (``None``: the whole circuit). A simulator that truncates (Aer's
        ``enable_truncation``, on by default) simulates only these.
    """

    qubits: int
    gates: int
    two_qubit_gates: int
    measurements: int
    mid_measurements: int
    cone_qubits: int | None = None
    cone_gates: int | None = None

    @classmethod
    def of(cls, circuit: Any) -> CircuitFeatures:
        """The features of a Qiskit circuit.

        A measurement is mid-circuit when what happens to its qubit afterwards can reach a later
        measurement (or a classically controlled block follows): then the simulator must branch on its
        outcome. One followed only by gates whose effect no later measurement sees is as cheap as a final
        one, which is the case of the measurement a gate cut adds near the end of a fragment.
        """
        ops = circuit.count_ops()
        not_gates = {"measure", "reset", "barrier", "delay"}
        live: set[int] = set()  # qubits whose state reaches a later measurement
        cone: set[int] = set()  # qubits some measurement depends on through the gates (resets kept)
        cone_gates = 0
        controlled = False  # a classically controlled block comes later
        mid = 0
        two_qubit = 0
        index = {q: i for i, q in enumerate(circuit.qubits)}  # find_bit's index, without a call per bit
        for inst in reversed(circuit.data):
            name = inst.name
            if name in ("barrier", "delay"):
                continue
            qubits = [index[q] for q in inst.qubits]
            if name == "measure":
                mid += sum(1 for q in qubits if q in live or controlled)
                live.update(qubits)
                cone.update(qubits)
                continue
            if name == "reset":
                live.difference_update(qubits)
                continue
            if len(qubits) == 2:
                two_qubit += 1
            if inst.is_control_flow():
                controlled = True
                live.update(qubits)
            elif live.intersection(qubits):
                live.update(qubits)
            if controlled or cone.intersection(qubits):
                cone.update(qubits)
                cone_gates += 1
        gates = sum(v for k, v in ops.items() if k not in not_gates)
        measurements = int(ops.get("measure", 0))
        if not measurements or (len(cone) >= circuit.num_qubits and cone_gates >= gates):
            return cls(circuit.num_qubits, gates, two_qubit, measurements, mid)
        return cls(circuit.num_qubits, gates, two_qubit, measurements, mid, len(cone), cone_gates)

    def deferred(self, ancillas: int) -> CircuitFeatures:
        """The features of this circuit with its mid-circuit measurements deferred onto ``ancillas``
        ancillas (a ``CX`` onto each): wider, measured only at the end."""
        if not ancillas:
            return self
        return CircuitFeatures(
            self.qubits + ancillas,
            self.gates + ancillas,
            self.two_qubit_gates + ancillas,
            self.measurements,
            0,
            None if self.cone_qubits is None else self.cone_qubits + ancillas,
            None if self.cone_gates is None else self.cone_gates + ancillas,
        )

    def simulated(self, truncates: bool) -> tuple[int, int]:
        """``(qubits, gates)`` a simulator runs: the light cone's if it ``truncates``, else all."""
        if truncates and self.cone_qubits is not None and self.cone_gates is not None:
            return self.cone_qubits, self.cone_gates
        return self.qubits, self.gates

    def branches(self, shots: int) -> int:
        """Distinct simulations the circuit needs: one per mid-circuit outcome, at most one per shot."""
        return min(max(shots, 1), 2 ** min(self.mid_measurements, 30))


@dataclass
class SimulatorModel:
    """Time and memory of a simulator backend on one worker.

    Attributes
    ----------
    c0, c1, c2, c3, c4, c5
        Coefficients of the time model (seconds; see the module documentation).
    bytes_per_amplitude
        Memory of one amplitude (16 for double-precision statevectors).
    memory_bytes
        Memory a worker may use for the state.
    max_deferred
        Most mid-circuit measurements the device defers onto ancillas rather than branching on them (0:
        it always branches); see :meth:`as_run`.
    samples_marginals
        Whether the device draws the counts of a circuit measured only at the end from its measured
        qubits' marginal (see :meth:`sampled`).
    truncates
        Whether the device simulates only the light cone of the measurements (Aer's truncation): the
        state-sized terms then count :attr:`CircuitFeatures.cone_qubits` and ``cone_gates``.
    """

    c0: float = 0.01
    c1: float = 1e-9
    c2: float = 1e-6
    c3: float = 0.0
    c4: float = 0.0
    c5: float = 0.0
    bytes_per_amplitude: int = 16
    memory_bytes: float = 8e9
    max_deferred: int = 0
    samples_marginals: bool = False
    truncates: bool = False

    def as_run(self, features: CircuitFeatures, shots: int) -> CircuitFeatures:
        """The features of the circuit the device runs for ``features``: with its mid-circuit
        measurements deferred onto ancillas when the device does that for ``shots`` shots."""
        m = features.mid_measurements
        if not 0 < m <= self.max_deferred or 2**m > shots or not self.fits(features.qubits + m):
            return features
        return features.deferred(m)

    def sampled(self, features: CircuitFeatures, shots: int) -> int:
        """The shots the per-shot terms are paid for, for a circuit the device runs with ``features``
        (see :meth:`as_run`): ``shots``, or the distinct outcomes of its measured qubits where the device
        draws counts from their marginal (measured only at the end, no more outcomes than shots)."""
        return sampled_shots(features, shots, self.samples_marginals)

    def seconds(self, features: CircuitFeatures, shots: int) -> float:
        """Predicted seconds to sample ``shots`` shots of a circuit with ``features``."""
        features = self.as_run(features, shots)
        t = time_terms(features, shots, self.samples_marginals, self.truncates)
        return self.c0 + self.c1 * t[1] + self.c2 * t[2] + self.c3 * t[3] + self.c4 * t[4] + self.c5 * t[5]

    def state_seconds(self, features: CircuitFeatures, shots: int) -> float:
        """The part of :meth:`seconds` that grows with the state: gates times amplitudes, trajectories."""
        features = self.as_run(features, shots)
        terms = time_terms(features, shots, self.samples_marginals, self.truncates)
        return self.c1 * terms[1] + self.c3 * terms[3]

    def memory(self, qubits: int) -> float:
        """Bytes of the state of ``qubits`` qubits."""
        return self.bytes_per_amplitude * 2.0**qubits

    def fits(self, qubits: int) -> bool:
        """Whether a state of ``qubits`` qubits fits in a worker's memory."""
        return self.memory(qubits) <= self.memory_bytes


def sampled_shots(features: CircuitFeatures, shots: int, samples_marginals: bool) -> int:
    """The shots a device pays per-shot costs for (see :meth:`SimulatorModel.sampled`)."""
    if not samples_marginals or features.mid_measurements or features.measurements <= 0:
        return shots
    from parsl_quantum.devices.marginal_sampling import MAX_MEASURED

    if features.measurements > MAX_MEASURED or 2**features.measurements > shots:
        return shots
    return 2**features.measurements


def time_terms(
    features: CircuitFeatures, shots: int, samples_marginals: bool, truncates: bool = False
) -> tuple[float, ...]:
    """The terms the simulator time model's coefficients ``c0`` ... ``c5`` multiply, for a circuit run
    with ``features`` (see the module documentation) on a device that ``truncates`` or not."""
    qubits, gates = features.simulated(truncates)
    volume = max(gates, 1) * 2.0**qubits
    paid = sampled_shots(features, shots, samples_marginals)
    return (
        1.0,
        volume * features.branches(shots),
        float(paid),
        paid * volume,
        float(paid * (features.mid_measurements > 0)),
        float(paid * features.measurements),
    )


@dataclass
class QPUModel:
    """Time of a QPU from its calibration data.

    Attributes
    ----------
    one_qubit_gate, two_qubit_gate, readout, repetition_delay
        Median durations in seconds.
    queue_wait
        Expected seconds a job waits in the provider's queue.
    job_overhead
        Seconds of fixed cost per job (compilation, loading, result transfer).
    """

    one_qubit_gate: float
    two_qubit_gate: float
    readout: float
    repetition_delay: float
    queue_wait: float = 0.0
    job_overhead: float = 2.0

    def seconds(self, features: CircuitFeatures, shots: int) -> float:
        """Predicted seconds of one job: queue, overhead, and every shot's circuit and delay."""
        two_q = features.two_qubit_gates
        one_q = max(features.gates - two_q, 0)
        depth_estimate = (two_q * self.two_qubit_gate + one_q * self.one_qubit_gate) / max(features.qubits, 1)
        duration = depth_estimate + self.readout
        return self.queue_wait + self.job_overhead + shots * (self.repetition_delay + duration)


@dataclass
class PilotModel:
    """What one pilot costs: per task, and per circuit on its device.

    Attributes
    ----------
    name, kind, backend
        The pilot.
    workers
        Slots that run tasks at once.
    task_overhead
        Seconds a task holds a slot beyond its own work (its transfer and start on the worker).
    latency
        Seconds from a task's end on its slot until its result is back on the submitting host, plus the
        first dispatch's fixed cost (measured by calibration on a batch of no-op tasks).
    dispatch
        Seconds the submitting host spends sending each task (tasks leave one after another).
    simulator
        Time model of its device as run here (simulators and QPU emulators).
    qpu
        Time model of a real QPU (``ibm_`` backends).
    max_qubits
        Widest circuit its device runs.
    scale
        Correction learned online: observed over predicted task times.
    host, host_cores
        Where its workers run and the cores there (``""``/0 when unknown).
    calibrated_qubits
        Widest circuit its calibration timed (0: unknown).
    parallel_slowdown
        How much slower each task runs when all its workers run at once than alone (measured by
        calibration; 1 for a single worker).
    """

    name: str
    kind: str
    backend: str
    workers: int
    task_overhead: float = 0.005
    latency: float = 0.0
    dispatch: float = 0.0
    simulator: SimulatorModel | None = None
    qpu: QPUModel | None = None
    max_qubits: int = 30
    scale: float = 1.0
    host: str = ""
    host_cores: int = 0
    calibrated_qubits: int = 0
    parallel_slowdown: float = 1.0

    def circuit_seconds(self, features: CircuitFeatures, shots: int) -> float:
        """Predicted seconds to sample one circuit on this pilot's device."""
        if self.qpu is not None:
            base = self.qpu.seconds(features, shots)
        elif self.simulator is not None:
            base = self.simulator.seconds(features, shots)
        else:
            raise ValueError(f"pilot '{self.name}' has no model: calibrate it first")
        return self.scale * base

    def anchored_seconds(self, features: CircuitFeatures, shots: int, factor: float) -> float:
        """Predicted seconds with the state-sized part scaled by a probe's ``factor``."""
        if self.qpu is not None or self.simulator is None:
            return self.circuit_seconds(features, shots)
        state = self.simulator.state_seconds(features, shots)
        return self.scale * (self.simulator.seconds(features, shots) + (factor - 1.0) * state)

    def can_run(self, qubits: int) -> bool:
        """Whether this pilot's device takes a circuit of ``qubits`` qubits."""
        if qubits > self.max_qubits:
            return False
        return self.simulator is None or self.qpu is not None or self.simulator.fits(qubits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PilotModel:
        data = dict(data)
        if data.get("simulator") is not None:
            data["simulator"] = SimulatorModel(**data["simulator"])
        if data.get("qpu") is not None:
            data["qpu"] = QPUModel(**data["qpu"])
        return cls(**data)


@dataclass
class ReconstructionModel:
    """Seconds of the classical work around the quantum tasks.

    Each fragment task processes its own outcomes on its worker (merging them into classes of equal
    value, :func:`~parsl_quantum.q_dreamer.planning.reconstruct.process_counts`); the reconstruction task then
    combines every subexperiment's classes, in full and per standard-error batch, at once
    (:func:`~parsl_quantum.q_dreamer.planning.reconstruct.combine`).

    Attributes
    ----------
    fixed, per_circuit, per_class
        The reconstruction task: ``launch + fixed + per_circuit * N + per_class * C * (1 + B)`` for
        ``N`` subexperiments with ``C`` outcome classes in all and ``B`` standard-error batches.
    launch
        Seconds from the last fragment's result to the reconstruction task's own result: launching a
        Parsl task whose inputs are done, on the submitting host (measured by calibration).
    estimate_per_basis, estimate_per_term_outcome
        A task running a circuit whole turning its counts into expectation values: per measurement
        basis, and per distinct outcome and Pauli term of that basis (:meth:`estimation`).
    serialise_per_circuit
        Writing a subexperiment as QPY for its fragment task.
    process_per_circuit, process_per_outcome, process_per_shot
        Processing a subexperiment's outcomes on the worker: per subexperiment, per distinct outcome,
        and per shot (the random split into batches).
    per_product, per_bit_string
        A distribution's reconstruction task (:meth:`distribution_seconds`): per product of the
        subsystems' tallies and per bit string it holds, each per batch (and once for all shots).
    weigh_per_instruction
        Weighing a cut candidate on the planning host (generating its subexperiments, binding their
        angles, reading their features), per instruction of the subexperiments generated
        (:meth:`weighing`).
    """

    fixed: float = 0.001
    per_circuit: float = 1e-4
    per_class: float = 1e-6
    serialise_per_circuit: float = 3e-4
    process_per_outcome: float = 2e-6
    process_per_shot: float = 2e-8
    process_per_circuit: float = 1e-3
    launch: float = 0.0
    estimate_per_basis: float = 0.0
    estimate_per_term_outcome: float = 0.0
    per_product: float = 2e-9
    per_bit_string: float = 1e-8
    weigh_per_instruction: float = 6e-5

    def estimation(self, outcomes: float, terms: int) -> float:
        """Predicted seconds to turn the counts of one measurement basis, with ``outcomes`` distinct
        outcomes, into the expectations of its ``terms`` Pauli terms."""
        return self.estimate_per_basis + self.estimate_per_term_outcome * outcomes * terms

    def seconds(self, subexperiments: int, classes: float, batches: int) -> float:
        """Predicted seconds of the reconstruction task for ``subexperiments`` subexperiments with
        ``classes`` outcome classes in all (the same in full and in a batch, to first order) and
        ``batches`` standard-error batches."""
        work = self.fixed + self.per_circuit * subexperiments + self.per_class * classes * (1 + batches)
        return self.launch + work

    def distribution_seconds(
        self, subexperiments: int, tallies: float, products: float, bit_strings: float, batches: int
    ) -> float:
        """Predicted seconds of a distribution's reconstruction task: :meth:`seconds` over the
        subexperiments' ``tallies`` (their distinct bits), plus the products of the subsystems' tallies
        (``products``: over the QPD terms, the product of each subsystem's tallies) and the ``bit_strings``
        the distribution will hold (its output size), each computed for all shots and every batch."""
        output = (self.per_product * products + self.per_bit_string * bit_strings) * (1 + batches)
        return self.seconds(subexperiments, tallies, batches) + output

    def processing(self, outcomes: float, shots: int) -> float:
        """Predicted seconds a worker takes to process a subexperiment's ``outcomes`` distinct outcomes
        of ``shots`` shots."""
        return self.process_per_circuit + self.process_per_outcome * outcomes + self.process_per_shot * shots

    def weighing(self, subexperiments: int, subsystems: int, instructions: int) -> float:
        """Predicted seconds to weigh a cut candidate of ``subexperiments`` subexperiments over
        ``subsystems`` subsystems of a circuit of ``instructions`` instructions: each combination of the
        cuts' terms gives one subexperiment per subsystem, together about the whole circuit's
        instructions."""
        return self.weigh_per_instruction * subexperiments / max(subsystems, 1) * instructions

    def serialising(self, subexperiments: int) -> float:
        """Predicted seconds to write the subexperiments as QPY for their tasks."""
        return self.serialise_per_circuit * subexperiments
