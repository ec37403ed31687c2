"""A parameter sweep on the noisy QPU emulator and on the CPU simulators, side by side (motif: ensemble).

The circuit ``RY(theta)`` on qubit 0 followed by a CNOT chain prepares
``cos(theta/2)|0...0> + sin(theta/2)|1...1>``; on an odd number of qubits its parity ``<Z...Z>`` is
``cos(theta)``. The same sweep
runs twice at once, as two ensembles over the same executor: one restricted to QPU pilots, one to CPU
pilots. Checked: the simulator's values lie within 5 sigma of ``cos(theta)``; the QPU emulator's follow
the same curve (correlation above 0.95) but damped by noise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import ensemble
from parsl_quantum.workflows.common import Clock, at_least, at_most, loaded, script, verdict

SIGMAS = 5  # the simulator's values within this many standard errors of cos(theta)
MIN_CORRELATION = 0.95  # the noisy emulator follows the curve at least this closely


def parity_circuit(theta: float, n: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name="parity")
    qc.ry(theta, 0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return qc


@ensemble(executors=["quantum"], qubits=lambda theta, n, shots: n)
def parity(theta, n, shots, *, device):
    """Estimated parity at ``theta``, and which device gave it."""
    return device.estimate(parity_circuit(theta, n), "Z" * n, shots=shots), device.name


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--qubits", type=int, default=3, help="an odd number")
    parser.add_argument("--shots", type=int, default=2000)
    parser.add_argument("--large", action="store_true", help="96 points, 7 qubits")
    args = parser.parse_args(argv)
    if args.large:
        args.points, args.qubits = 96, 7
    if args.qubits % 2 == 0:
        parser.error(
            f"--qubits must be odd: on {args.qubits} qubits the parity of |1...1> is +1 at every angle"
        )
    thetas = np.linspace(0, 2 * np.pi, args.points)
    exact = np.cos(thetas)
    config = local_config()
    with loaded(config):
        clock = Clock()
        since = time.time()
        on_qpu = parity.map(thetas, args.qubits, args.shots, parsl_resource_specification={"kinds": ["qpu"]})
        on_cpu = parity.map(thetas, args.qubits, args.shots, parsl_resource_specification={"kinds": ["cpu"]})
        qpu, cpu = on_qpu.result(), on_cpu.result()
        breakdown = clock.breakdown(config.executors[0], since)
    qpu_values = np.array([v for v, _ in qpu])
    cpu_values = np.array([v for v, _ in cpu])
    sigma = np.sqrt(np.maximum(1 - exact**2, 1e-12) / args.shots)
    worst_z = float(np.max(np.abs(cpu_values - exact) / sigma))
    correlation = float(np.corrcoef(qpu_values, exact)[0, 1])
    damping = float(np.sum(np.abs(qpu_values)) / np.sum(np.abs(exact)))
    print(f"{'theta':>7} {'exact':>8} {'cpu sim':>8} {'qpu emu':>8}")
    for t, e, c, q in zip(thetas, exact, cpu_values, qpu_values, strict=True):
        print(f"{t:7.3f} {e:8.4f} {c:8.4f} {q:8.4f}")
    print(f"devices: cpu sweep on {sorted({d for _, d in cpu})}, qpu sweep on {sorted({d for _, d in qpu})}")
    print(
        f"simulator: worst deviation {worst_z:.2f} sigma; QPU emulator: correlation {correlation:.4f} "
        f"with exact, amplitude {damping:.3f} of exact"
    )
    print(breakdown)
    figures = {
        "worst_sim_sigma": worst_z,
        "qpu_correlation": correlation,
        "qpu_damping": damping,
        "cpu_devices": sorted({d for _, d in cpu}),
        "qpu_devices": sorted({d for _, d in qpu}),
        "points": args.points,
    }
    return verdict(
        figures,
        at_most(
            "simulator sweep: worst deviation from cos(theta)",
            worst_z,
            SIGMAS,
            "sigma",
            f"{args.shots} shots per point",
        ),
        at_least("QPU emulator sweep: correlation with cos(theta)", correlation, MIN_CORRELATION),
    )


if __name__ == "__main__":
    script("parsl_quantum.workflows.param_sweep")
