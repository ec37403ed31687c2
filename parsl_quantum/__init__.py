"""parsl-quantum: Parsl plugins for hybrid quantum-HPC workflows.

The package is organised in the four layers of the design:

- resource layer: :mod:`parsl_quantum.providers` (pilot descriptions, QPU sessions),
  :mod:`parsl_quantum.devices` (one adapter per backend) and :mod:`parsl_quantum.circuits`;
- :mod:`parsl_quantum.executors` (task layer): :class:`QuantumPilotExecutor` and late binding;
- :mod:`parsl_quantum.q_dreamer` (workload layer): performance models and the cutting planner;
- :mod:`parsl_quantum.motifs` (workflow layer): execution motifs as decorated app patterns.

Importing this package is cheap: Qiskit, PennyLane and GPU libraries load only when used.
"""

__version__ = "0.1.0"
