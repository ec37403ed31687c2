"""Calibration: short micro-benchmarks on each pilot, and the model coefficients fitted to them.

On every pilot of an executor, as ordinary tasks pinned to it:

- batches of no-op tasks (one task, two and eight per worker) submitted at once through the real
  executor, timed from the submitting side: what a plan pays whatever its tasks do (the time to send a
  task, the time a task holds a slot beyond its work, the round trip of its result), and a dependent
  no-op task on the submitting host after a batch (the launch of the reconstruction task);
- one task that times sampling circuits of growing width, with and without mid-circuit measurements,
  at two shot counts, on the pilot's own device (so the fit sees the pilot's threads and memory).

The simulator model's coefficients are fitted with non-negative least squares on relative errors, so that
a 2 ms and a 2 s circuit weigh the same. The reconstruction model is timed on this host, and so is
turning counts into expectation values (what a task running a circuit whole does beyond sampling it).
The result is a :class:`Profile`, saved as JSON.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from parsl_quantum.q_dreamer.model.models import (
    CircuitFeatures,
    PilotModel,
    QPUModel,
    ReconstructionModel,
    SimulatorModel,
    time_terms,
)

PROFILE_VERSION = 7


@dataclass
class Profile:
    """Calibrated models of an executor's pilots and of reconstruction on this host.

    Attributes
    ----------
    pilots
        Per pilot name, its :class:`PilotModel`.
    reconstruction
        Cost of reconstruction on the submitting host.
    host, created
        Where and when it was calibrated.
    samples
        The raw measurements behind the fits, per pilot.
    measured
        What planning measured on this host and keeps (probe corrections and outcome counts, by a key
        naming the circuit's structure): a profile gives the same predictions every time, and nothing
        is measured twice.
    """

    pilots: dict[str, PilotModel]
    reconstruction: ReconstructionModel = field(default_factory=ReconstructionModel)
    host: str = field(default_factory=platform.node)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    measured: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The profile as JSON text."""
        return json.dumps(
            {
                "version": PROFILE_VERSION,
                "host": self.host,
                "created": self.created,
                "pilots": {k: v.to_dict() for k, v in self.pilots.items()},
                "reconstruction": asdict(self.reconstruction),
                "samples": self.samples,
                "measured": self.measured,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Profile:
        """A profile from JSON text written by :meth:`to_json`."""
        data = json.loads(text)
        if data.get("version") != PROFILE_VERSION:
            raise ValueError(
                f"profile version {data.get('version')} is not {PROFILE_VERSION}; calibrate again"
            )
        return cls(
            pilots={k: PilotModel.from_dict(v) for k, v in data["pilots"].items()},
            reconstruction=ReconstructionModel(**_renamed(data["reconstruction"])),
            host=data["host"],
            created=data["created"],
            samples=data.get("samples", {}),
            measured=data.get("measured", {}),
        )

    def save(self, path: str) -> None:
        """Write the profile to ``path`` (JSON)."""
        with open(path, "w") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str) -> Profile:
        """Read a profile written by :meth:`save`."""
        with open(path) as f:
            return cls.from_json(f.read())


def _renamed(fields: dict[str, Any]) -> dict[str, Any]:
    """Reconstruction fields of a profile, under their current names (``pack_per_circuit`` is now
    ``serialise_per_circuit``: "packing" means circuits side by side on a chip)."""
    fields = dict(fields)
    if "pack_per_circuit" in fields:
        fields["serialise_per_circuit"] = fields.pop("pack_per_circuit")
    return fields


def benchmark_circuit(qubits: int, layers: int, mid: int, measured: int | None = None) -> Any:
    """A hardware-efficient circuit (RY, RZ, CX chain per layer) measured at the end (its first
    ``measured`` qubits, or all), with ``mid`` mid-circuit measurements of qubit 0 (each followed by more
    gates on it)."""
    from qiskit import ClassicalRegister, QuantumCircuit

    qc = QuantumCircuit(qubits, name=f"calib_{qubits}_{layers}_{mid}_{measured}")
    rng = np.random.default_rng(qubits * 100 + layers * 10 + mid)
    if mid:
        qc.add_register(ClassicalRegister(mid, "mid"))
    for layer in range(layers):
        for q in range(qubits):
            qc.ry(float(rng.uniform(0, 3)), q)
            qc.rz(float(rng.uniform(0, 3)), q)
        for q in range(qubits - 1):
            qc.cx(q, q + 1)
        if layer < mid:
            qc.measure(0, qc.cregs[0][layer])
            qc.h(0)
    if measured is None or measured >= qubits:
        qc.measure_all()
    else:
        end = ClassicalRegister(measured, "end")
        qc.add_register(end)
        qc.measure(range(measured), end)
    return qc


PARALLEL_PROBE = (16, 4, 1, 4000)
"""The benchmark circuit ``(qubits, layers, mid, shots)`` timed alone and on every worker at once: a
16-qubit state (1 MiB, beyond the first caches) with mid-circuit branching, like a cut fragment."""


def time_circuits(specs: list[tuple[int, ...]], *, device: Any) -> list[dict[str, float]]:
    """Time ``device.sample`` on benchmark circuits ``(qubits, layers, mid, shots[, measured])`` (runs on a
    worker): the median of three timings of each, as the no-op tasks are timed. The model predicts what a
    task meets on the host as it is, not what it meets at its best moment."""
    out = []
    device.sample(benchmark_circuit(2, 1, 0), shots=10)  # warm the device up
    for spec in specs:
        qubits, layers, mid, shots = spec[:4]
        circuit = benchmark_circuit(qubits, layers, mid, *spec[4:])
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            device.sample(circuit, shots=shots)
            timings.append(time.perf_counter() - start)
        features = CircuitFeatures.of(circuit)
        out.append(
            {
                **asdict(features),
                "shots": shots,
                "seconds": float(np.median(timings)),
                "ancillas": _deferred_ancillas(device, circuit, shots),
                "max_deferred": int(getattr(device, "max_deferred", 0)),
                "samples_marginals": bool(getattr(device, "samples_marginals", False)),
                "truncates": bool(getattr(device, "truncates", False)),
            }
        )
    return out


def _deferred_ancillas(device: Any, circuit: Any, shots: int) -> int:
    """Ancillas the device adds to ``circuit`` to defer its mid-circuit measurements (0 for devices
    that branch on them)."""
    deferred = getattr(device, "deferred_ancillas", None)
    return int(deferred(circuit, shots)) if deferred is not None else 0


def noop(*results: Any, device: Any = None) -> None:
    """A task that does nothing (its time is all overhead): on a pilot, or on the submitting host after
    the tasks whose ``results`` it takes (as the reconstruction task does)."""


DISPATCH_BATCHES = (0, 2, 8)
"""No-op tasks per worker in each timed batch (0: a single task)."""


def time_dispatch(
    noop_app: Any, after_app: Any, spec: dict[str, Any], workers: int, repeats: int = 5
) -> tuple[float, float, float, float]:
    """``(latency, task_overhead, dispatch, launch)`` of a pilot, from batches of no-op tasks.

    A batch of ``k`` tasks over ``w`` workers is back after about ``latency + ceil(k / w) * overhead``
    (the model's schedule for tasks of no work, as long as sending a task is quicker than a slot's
    overhead): fitted by non-negative least squares to the median of ``repeats`` timings of each batch
    of :data:`DISPATCH_BATCHES` (what a plan meets on the host as it is; one slow timing moves no
    median). ``dispatch`` is the median time to send one task; ``launch`` how much longer the median
    batch of ``2 w`` tasks takes when followed by a task on the submitting host that depends on all of
    them."""
    from scipy.optimize import nnls

    workers = max(workers, 1)
    walls: dict[int, list[float]] = {}
    sends = []
    for per_worker in DISPATCH_BATCHES:
        k = max(1, per_worker * workers)
        for _ in range(repeats):
            start = time.perf_counter()
            futures = [noop_app(parsl_resource_specification=spec) for _ in range(k)]
            sends.append((time.perf_counter() - start) / k)
            for future in futures:
                future.result()
            walls.setdefault(k, []).append(time.perf_counter() - start)
    typical = {k: float(np.median(timings)) for k, timings in walls.items()}
    rows = np.array([[1.0, math.ceil(k / workers)] for k in typical])
    (latency, overhead), _ = nnls(rows, np.array(list(typical.values())))
    k = 2 * workers
    dependent = []
    for _ in range(repeats):
        start = time.perf_counter()
        after_app(*[noop_app(parsl_resource_specification=spec) for _ in range(k)]).result()
        dependent.append(time.perf_counter() - start)
    launch = max(0.0, float(np.median(dependent)) - typical[k])
    return float(latency), float(overhead), float(np.median(sends)), launch


ESTIMATION_SPECS = ((4, 1), (4, 8), (14, 1), (14, 8))
"""``(measured bits, Pauli terms)`` of the counts whose estimation is timed: few and many distinct
outcomes (16, and 4,096 in 4,096 shots), one and eight terms of one measurement basis."""


def time_estimation(rng: np.random.Generator, shots: int = 4096) -> list[dict[str, float]]:
    """Seconds :func:`~parsl_quantum.circuits.estimation.estimate_by_sampling` takes beyond its sampler (a
    stand-in that returns synthetic counts), per :data:`ESTIMATION_SPECS`: ``outcomes``, ``terms`` and
    ``seconds`` (the fastest of three of each)."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    from parsl_quantum.circuits.estimation import estimate_by_sampling

    out = []
    for bits, terms in ESTIMATION_SPECS:
        keys = rng.integers(0, 2**bits, shots)
        counts: dict[str, int] = {}
        for k in keys:
            label = f"{int(k):0{bits}b}"
            counts[label] = counts.get(label, 0) + 1
        distinct = [("Z", [i], 1.0) for i in range(bits)] + [
            ("ZZ", [i, (i + 1) % bits], 1.0) for i in range(bits)
        ]
        paulis = distinct[:terms] if terms > 1 else [("Z" * bits, list(range(bits)), 1.0)]
        observable = SparsePauliOp.from_sparse_list(paulis, bits)
        circuit = QuantumCircuit(bits)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            estimate_by_sampling(
                lambda circuits, n, counts=counts: [counts] * len(circuits), [circuit], [[observable]], shots
            )
            best = min(best, time.perf_counter() - start)
        out.append({"outcomes": len(counts), "terms": terms, "seconds": best})
    return out


def fit_estimation(samples: list[dict[str, float]]) -> tuple[float, float]:
    """``(per basis, per term and outcome)`` of
    :meth:`~parsl_quantum.q_dreamer.model.models.ReconstructionModel.estimation` fitted to
    :func:`time_estimation`'s samples (non-negative least squares)."""
    from scipy.optimize import nnls

    rows = np.array([[1.0, s["outcomes"] * s["terms"]] for s in samples])
    (per_basis, per_term_outcome), _ = nnls(rows, np.array([s["seconds"] for s in samples]))
    return float(per_basis), float(per_term_outcome)


def worker_host(*, device: Any) -> tuple[str, int, tuple[float, float, float, float] | None]:
    """The worker's host name, the cores it may use and, for a device whose circuits run as QPU jobs, the
    QPU's timing from its calibration data (one- and two-qubit gate, readout, repetition delay, in
    seconds); ``None`` for simulators and emulators."""
    import os
    import socket

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    qpu = None
    if getattr(device, "runs_qpu_jobs", False):
        timing = device.timing
        qpu = (timing.one_qubit_gate, timing.two_qubit_gate, timing.readout, timing.repetition_delay)
    return socket.gethostname(), cores, qpu


def simulator_specs(max_qubits: int, noisy: bool) -> list[tuple[int, ...]]:
    """Benchmark circuits ``(qubits, layers, mid, shots[, measured])`` for a simulator (or a noisy
    emulator). Shot-heavy circuits measuring one or two qubits separate the cost of a shot from the cost
    of each bit it reads out (a cut fragment reads one or two; a whole circuit every qubit)."""
    if noisy:
        widths = [w for w in (2, 3, 4, 5, 6) if w <= max_qubits]
        return [(w, 2, 0, shots) for w in widths for shots in (200, 1000)] + [(4, 2, 1, 1000)]
    widths = [w for w in (4, 8, 12, 16, 18, 20, 22) if w <= max_qubits]
    if len(widths) < 2:  # a narrow pilot: its own width and the next narrower ones
        widths = sorted({max(max_qubits - k, 1) for k in range(3)})
    specs = [(w, 2, 0, 1000) for w in widths] + [(w, 2, 0, 16000) for w in widths[1::2]]
    branching = [w for w in widths if 8 <= w <= 20] or widths[-1:]
    specs += [(w, 2, 1, shots) for w in branching for shots in (1000, 8000)]
    specs += [(w, 2, 2, 4000) for w in widths if w in (12, 16)] or [(widths[-1], 2, 2, 4000)]
    few = [w for w in widths if w in (12, 16)] or widths[-1:]
    specs += [(w, 2, 0, 16000, m) for w in few for m in (1, 2)]
    specs += [(w, 2, 1, 16000, 1) for w in few[:1]]
    return specs


def _features(sample: dict[str, float]) -> CircuitFeatures:
    keys = ("qubits", "gates", "two_qubit_gates", "measurements", "mid_measurements")
    cone = [sample.get(k) for k in ("cone_qubits", "cone_gates")]
    return CircuitFeatures(*(int(sample[k]) for k in keys), *(None if c is None else int(c) for c in cone))


def fit_simulator(
    samples: list[dict[str, float]], memory_bytes: float, bytes_per_amplitude: int = 16
) -> SimulatorModel:
    """Fit the simulator time model to timed samples (non-negative least squares, relative errors)."""
    from scipy.optimize import nnls

    rows, targets = [], []
    for s in samples:
        features = _features(s).deferred(int(s.get("ancillas", 0)))  # what the device ran
        marginal, truncates = bool(s.get("samples_marginals", False)), bool(s.get("truncates", False))
        row = np.array(time_terms(features, int(s["shots"]), marginal, truncates))
        weight = 1.0 / max(s["seconds"], 1e-4)
        rows.append(row * weight)
        targets.append(s["seconds"] * weight)
    coefficients, _ = nnls(np.array(rows), np.array(targets))
    c0, c1, c2, c3, c4, c5 = (float(c) for c in coefficients)
    return SimulatorModel(
        c0=c0,
        c1=c1,
        c2=c2,
        c3=c3,
        c4=c4,
        c5=c5,
        bytes_per_amplitude=bytes_per_amplitude,
        memory_bytes=memory_bytes,
        max_deferred=max((int(s.get("max_deferred", 0)) for s in samples), default=0),
        samples_marginals=any(bool(s.get("samples_marginals", False)) for s in samples),
        truncates=any(bool(s.get("truncates", False)) for s in samples),
    )


def relative_errors(model: SimulatorModel, samples: list[dict[str, float]]) -> list[float]:
    """Predicted over measured seconds, minus one, per sample."""
    out = []
    for s in samples:
        out.append(model.seconds(_features(s), int(s["shots"])) / s["seconds"] - 1)
    return out


def measure_reconstruction() -> ReconstructionModel:
    """Time outcome processing, reconstruction and packing of synthetic cut problems on this host, and fit
    their model.

    Estimation from counts (a whole run's part on its worker) is timed by :func:`time_estimation`.
    Processing (the workers' part) is timed on outcome counts of three shapes, which separate its cost
    per subexperiment, per distinct outcome and per shot. The reconstruction task is timed on five
    problems, which separate its fixed cost, its cost per subexperiment and per outcome class: one cut
    with few and with many outcomes and shots, two cuts (nine times the subexperiments), and an
    observable of eight Pauli terms (the fastest of three timings of each).
    """
    from qiskit.circuit.library import efficient_su2
    from qiskit.quantum_info import SparsePauliOp
    from scipy.optimize import nnls

    from parsl_quantum.circuits.normalize import QpyCircuits
    from parsl_quantum.q_dreamer.planning.decompose import decompose
    from parsl_quantum.q_dreamer.planning.reconstruct import (
        BATCHES,
        combine,
        outcome_groups,
        process_counts,
        synthetic_counts,
    )

    circuit = efficient_su2(9, entanglement="linear", reps=1)
    circuit = circuit.assign_parameters(np.random.default_rng(0).uniform(0, 3, circuit.num_parameters))
    rng = np.random.default_rng(1)
    host_rows, host_targets = [], []
    eight_terms = SparsePauliOp.from_sparse_list([("ZZ", [i, i + 1], 1.0) for i in range(8)], 9)
    one_cut, two_cuts = decompose(circuit, ["Z" * 9], 5), decompose(circuit, ["Z" * 9], 3)
    many_terms = decompose(circuit, [eight_terms], 5)
    cases = (
        (one_cut, 20, 100),
        (one_cut, 400, 4000),
        (one_cut, 20, 20000),
        (two_cuts, 20, 500),
        (many_terms, 100, 1000),
    )
    for problem, keys, shots in cases:
        counts, outcomes = synthetic_counts(problem, keys, rng, shots)
        groups = outcome_groups(problem.coefficients, problem.subobservables)
        processed = {
            label: [process_counts(c, g, BATCHES, rng) for c, g in zip(runs, groups[label], strict=True)]
            for label, runs in counts.items()
        }
        arguments = (problem.coefficients, problem.subobservables, problem.paulis, problem.observables)
        seconds = np.inf
        for _ in range(3):
            start = time.perf_counter()
            combine(processed, *arguments)
            seconds = min(seconds, time.perf_counter() - start)
        classes = sum(len(p.full) for runs in processed.values() for p in runs)
        host_rows.append([1.0, problem.num_subexperiments, classes * (1 + BATCHES)])
        host_targets.append(seconds)
    (fixed, per_circuit, per_class), _ = nnls(np.array(host_rows), np.array(host_targets))
    per_subexperiment, per_outcome, per_shot = time_processing(rng)
    per_basis, per_term_outcome = fit_estimation(time_estimation(rng))
    values_model = ReconstructionModel(
        fixed=float(fixed), per_circuit=float(per_circuit), per_class=float(per_class)
    )
    per_product, per_bit_string = time_distribution(rng, values_model)
    circuits = [qc for runs in two_cuts.subexperiments.values() for qc in runs]
    start = time.perf_counter()
    QpyCircuits(circuits)
    pack = (time.perf_counter() - start) / len(circuits)
    weigh = time_weighing(circuit)
    return ReconstructionModel(
        fixed=float(fixed),
        per_circuit=float(per_circuit),
        per_class=float(per_class),
        serialise_per_circuit=pack,
        process_per_circuit=float(per_subexperiment),
        process_per_outcome=float(per_outcome),
        process_per_shot=float(per_shot),
        estimate_per_basis=per_basis,
        estimate_per_term_outcome=per_term_outcome,
        per_product=per_product,
        per_bit_string=per_bit_string,
        weigh_per_instruction=weigh,
    )


def time_weighing(circuit: Any) -> float:
    """Seconds per generated instruction of weighing a cut candidate of ``circuit`` (two cuts): building
    its subexperiments, binding their angles and reading their features, as the planner does (the
    fastest of two timings)."""
    from qiskit.quantum_info import SparsePauliOp

    from parsl_quantum.q_dreamer.model.models import CircuitFeatures
    from parsl_quantum.q_dreamer.planning.decompose import cuttable
    from parsl_quantum.q_dreamer.planning.search import CutSearch
    from parsl_quantum.q_dreamer.planning.template import CutTemplate, parameter_values

    view = cuttable(circuit)
    search = CutSearch(view, [SparsePauliOp("Z" * view.num_qubits)], 1234, {})
    structure = search.narrowest(2, view.num_qubits - 1)
    if structure is None:
        return ReconstructionModel.weigh_per_instruction
    seconds = np.inf
    for _ in range(2):
        start = time.perf_counter()
        problem = CutTemplate.build(structure, view).bind(parameter_values(view))
        for runs in problem.subexperiments.values():
            for qc in runs:
                CircuitFeatures.of(qc)
        seconds = min(seconds, time.perf_counter() - start)
    generated = problem.num_subexperiments / len(structure.widths) * len(view.data)
    return float(seconds / generated)


def time_distribution(rng: np.random.Generator, values: ReconstructionModel) -> tuple[float, float]:
    """Seconds of a distribution's reconstruction
    (:func:`~parsl_quantum.q_dreamer.planning.reconstruct_distribution.combine_distribution`) per product
    of the subsystems' tallies and per bit string it holds, each per batch, beyond what ``values`` (the
    values' reconstruction model) predicts for its subexperiments and tallies: fitted to 9- and 12-qubit
    circuits cut once and twice (two and three pieces), on random tallies (the fastest of three timings
    of each)."""
    from qiskit.circuit.library import efficient_su2
    from scipy.optimize import nnls

    from parsl_quantum.q_dreamer.planning import reconstruct_distribution as rd
    from parsl_quantum.q_dreamer.planning.decompose import decompose
    from parsl_quantum.q_dreamer.planning.reconstruct import BATCHES, synthetic_counts

    rows, targets = [], []
    for n, width, keys, shots in (
        (9, 5, 400, 4000),
        (9, 3, 50, 500),
        (12, 6, 2000, 20000),
        (12, 4, 500, 5000),
    ):
        circuit = efficient_su2(n, entanglement="linear", reps=1)
        circuit = circuit.assign_parameters(rng.uniform(0, 3, circuit.num_parameters))
        measured = rd.measured_bits(circuit)
        problem = decompose(circuit, measured.observables(n), width)
        layout = rd.bit_layout(problem, measured)
        counts, _ = synthetic_counts(problem, keys, rng, shots)
        tallies = {
            label: [rd.process_outcomes(c, layout.positions[label], BATCHES, rng) for c in runs]
            for label, runs in counts.items()
        }
        best, result = np.inf, None
        for _ in range(3):
            start = time.perf_counter()
            result = rd.combine_distribution(tallies, problem.coefficients, n)
            best = min(best, time.perf_counter() - start)
        terms = len(problem.coefficients)
        products = sum(math.prod(len(runs[m].full) for runs in tallies.values()) for m in range(terms))
        distinct = sum(len(t.full) for runs in tallies.values() for t in runs)
        known = values.seconds(problem.num_subexperiments, distinct, BATCHES) - values.launch
        rows.append([products * (1 + BATCHES), len(result) * (1 + BATCHES)])
        targets.append(max(best - known, 0.0))
    (per_product, per_bit_string), _ = nnls(np.array(rows, dtype=float), np.array(targets))
    return float(per_product), float(per_bit_string)


def time_processing(rng: np.random.Generator) -> tuple[float, float, float]:
    """Seconds of :func:`~parsl_quantum.q_dreamer.planning.reconstruct.process_counts` per subexperiment, per
    distinct outcome and per shot, from counts of one outcome in 16 shots, 4,000 outcomes in 4,000 shots
    and 16 outcomes in 40,000 shots (the fastest of three timings of each)."""
    from scipy.optimize import nnls

    from parsl_quantum.q_dreamer.planning.reconstruct import BATCHES, OutcomeGroup, process_counts

    group = OutcomeGroup(12, (1, 3))
    rows, targets = [], []
    for outcomes, shots in ((1, 16), (4000, 4000), (16, 40000)):
        keys = rng.choice(2**14, outcomes, replace=False)
        share, extra = divmod(shots, outcomes)
        counts = {
            f"{int(k):014b}"[:2] + " " + f"{int(k):014b}"[2:]: share + (i < extra) for i, k in enumerate(keys)
        }
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            process_counts(counts, group, BATCHES, rng)
            best = min(best, time.perf_counter() - start)
        rows.append([1.0, outcomes, shots])
        targets.append(best)
    (per_subexperiment, per_outcome, per_shot), _ = nnls(np.array(rows), np.array(targets))
    return float(per_subexperiment), float(per_outcome), float(per_shot)


def calibrate_executor(executor: Any, repeats: int = 5, max_width: int = 22) -> Profile:
    """Run the micro-benchmarks on every active pilot of ``executor`` and fit a :class:`Profile`.

    Everything is measured by tasks on the pilots' own workers. A pilot whose circuits run as QPU jobs
    (an ``ibm_*`` backend, or a fake one in the runtime's local testing mode) spends no job on benchmarks:
    its model comes from the device's calibration data (gate, readout and repetition times) and the
    queue wait its session's jobs observed so far.

    Parameters
    ----------
    executor
        The :class:`QuantumPilotExecutor`.
    repeats
        Timings of each batch of no-op tasks (see :func:`time_dispatch`).
    max_width
        Widest benchmark circuit (22 qubits takes seconds per run; circuits wider than those timed are
        predicted by the fitted model and corrected by probes).
    """
    from parsl import python_app

    from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR

    executor.wait_for_pilots()
    timing_app = python_app(time_circuits, executors=[executor.label])
    noop_app = python_app(noop, executors=[executor.label])
    after_app = python_app(noop, executors=[INTERNAL_EXECUTOR])
    host_app = python_app(worker_host, executors=[executor.label])
    launches = []
    pilots: dict[str, PilotModel] = {}
    samples: dict[str, list[dict[str, float]]] = {}
    status = executor.pilots
    descriptions = {d.name: d for d in executor.pilot_descriptions}
    for name, pilot in status.items():
        if pilot.state not in ("active", "starting"):
            continue
        spec = {"pilot": name}
        noop_app(parsl_resource_specification=spec).result()  # the workers have started
        latency, overhead, dispatch, launch = time_dispatch(
            noop_app, after_app, spec, max(pilot.workers, 1), repeats
        )
        launches.append(launch)
        max_qubits = pilot.qubits or 20
        host, cores, qpu_timing = host_app(parsl_resource_specification=spec).result()
        model = PilotModel(
            name=name,
            kind=pilot.kind,
            backend=pilot.backend,
            workers=max(pilot.workers, 1),
            task_overhead=overhead,
            latency=latency,
            dispatch=dispatch,
            max_qubits=max_qubits,
            host=host,
            host_cores=cores,
        )
        if qpu_timing is not None:
            # a QPU reached through qiskit-ibm-runtime: no benchmark job is spent on it; its model comes
            # from the device's calibration data and the queue wait its session's jobs observed
            model.qpu = QPUModel(*qpu_timing, queue_wait=pilot.queue_wait_s or 0.0)
            samples[name] = []
            pilots[name] = model
            continue
        specs = simulator_specs(min(max_qubits, max_width), pilot.kind == "qpu")
        measured = timing_app(specs, parsl_resource_specification={**spec, "qubits": 2}).result()
        samples[name] = measured
        if max(pilot.workers, 1) > 1 and pilot.kind != "qpu":
            # the same circuit on every worker at once, against it alone: what sharing the host's cores,
            # caches and memory (and the submitting process, on a local pilot) costs each task
            probe = [(min(PARALLEL_PROBE[0], max_qubits),) + PARALLEL_PROBE[1:]]
            alone = timing_app(probe, parsl_resource_specification=spec).result()[0]["seconds"]
            together = [
                timing_app(probe, parsl_resource_specification=spec) for _ in range(max(pilot.workers, 1))
            ]
            shared = float(np.median([f.result()[0]["seconds"] for f in together]))
            model.parallel_slowdown = max(1.0, shared / alone) if alone > 0 else 1.0
        memory = _worker_memory(pilot.memory_bytes, descriptions[name].workers, max_qubits)
        model.simulator = fit_simulator(measured, memory)
        model.calibrated_qubits = max(int(s["qubits"]) for s in measured)
        pilots[name] = model
    reconstruction = measure_reconstruction()
    reconstruction.launch = float(np.median(launches)) if launches else 0.0
    return Profile(pilots=pilots, reconstruction=reconstruction, samples=samples)


def _worker_memory(job_memory: int | None, workers: int, max_qubits: int) -> float:
    """Memory one worker of a pilot may use for a state: the share per worker of what the pilot's workers
    reported their job may use (a 16-byte amplitude per basis state of its widest circuit if unknown)."""
    ceiling = 16 * 2.0**max_qubits
    if not job_memory:
        return float(ceiling)
    return float(min(job_memory / max(workers, 1), ceiling))
