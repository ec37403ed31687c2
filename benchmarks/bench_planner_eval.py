"""Q-Dreamer's planner on circuits it was not tuned on: the evaluation set.

The planner's constants (and the model's form) were chosen while looking at ``bench_planner``'s twelve
circuits (efficient_su2, QAOA, GHZ): its figures are the *tuning* set's. This benchmark runs the same
evaluation (:func:`benchmarks.bench_planner.evaluate`: the choice planned cold, every close configuration
run, planning counted) on twelve circuits of six other families from MQT Bench at 16 to 26 qubits
(W state, graph state, Bernstein-Vazirani, VQE with real amplitudes, a quantum neural network, an
entangled QFT), at the target-independent level, observable ``Z...Z``, at the precision of running whole
with 4,096 shots. Nothing in the model is fitted to them: calibration times its own benchmark circuits,
and what planning measures of a circuit (its probes) is part of its planning time.

Its result, ``benchmarks/results/planner_evaluation.json``, reports the evaluation set's figures against
the targets, beside the tuning set's from ``planner_accuracy.json`` as last measured. Without MQT Bench
(the ``bench`` extra: ``pip install -e '.[bench]'``) it says so and writes nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks.bench_planner import arguments, figures, plot, run_set
from benchmarks.common import RESULTS, write_result

FAMILIES = {
    "wstate": (16, 22),
    "graphstate": (18, 24),
    "bv": (20, 26),
    "vqe_real_amp": (16, 22),
    "qnn": (18, 24),
    "qftentangled": (16, 20),
}
"""MQT Bench families and widths: none is a family of the tuning set."""


def mqt_circuit(family: str, qubits: int) -> tuple[Any, list[str]]:
    """MQT Bench's ``family`` circuit of ``qubits`` qubits (target-independent level) and ``Z...Z``."""
    from mqt.bench import BenchmarkLevel, get_benchmark

    circuit = get_benchmark(family, BenchmarkLevel.INDEP, qubits)
    circuit.name = f"{family}_{qubits}"
    return circuit, ["Z" * circuit.num_qubits]


CIRCUITS = [
    (family, lambda family=family, n=n: mqt_circuit(family, n))
    for family, widths in FAMILIES.items()
    for n in widths
]


def tuning_figures() -> dict[str, Any] | None:
    """The tuning set's figures as ``planner_accuracy.json`` last recorded them (without its rows)."""
    path = os.path.join(RESULTS, "planner_accuracy.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if k not in ("rows", "benchmark")}


def main(argv: list[str] | None = None) -> dict:
    try:
        import mqt.bench  # noqa: F401
    except ImportError:
        print("bench_planner_eval skipped: MQT Bench is not installed (pip install -e '.[bench]')")
        return {}
    args = arguments(argv, len(CIRCUITS), "planner_evaluation_profile.json")
    rows, calibration_s, _ = run_set(CIRCUITS[: args.circuits], args)
    plot(
        rows,
        os.path.join(RESULTS, "planner_evaluation.png"),
        "Q-Dreamer, evaluation set: 12 MQT Bench circuits, 2 workers",
    )
    return write_result(
        "planner_evaluation",
        {
            "set": "evaluation: MQT Bench families the planner was never tuned on",
            "workers": args.workers,
            "precision": f"running whole with {args.shots} shots per basis",
            "calibration_s": round(calibration_s, 1),
            **figures(rows),
            "tuning": tuning_figures(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
