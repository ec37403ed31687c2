"""A real fake backend that fails some of its jobs, for fault tests (imported on pilot workers)."""

from __future__ import annotations

from qiskit_ibm_runtime.exceptions import IBMRuntimeError
from qiskit_ibm_runtime.fake_provider import FakeManilaV2


class FlakyManila(FakeManilaV2):
    """Fake Manila whose every third job in a process fails, as a QPU whose jobs sometimes error."""

    jobs = 0

    def run(self, run_input, **options):
        FlakyManila.jobs += 1
        if FlakyManila.jobs % 3 == 0:
            raise IBMRuntimeError(f"job {FlakyManila.jobs} on {self.name} failed: device in maintenance")
        return super().run(run_input, **options)
