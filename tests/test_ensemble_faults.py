"""A backend fault inside an ensemble batch fails over like any task: the whole batch runs again on
another pilot, and every item's result comes back in input order."""

from __future__ import annotations

import parsl
import pytest

from parsl_quantum.configs import local_config, local_pilots
from tests.motif_apps import fails_on_the_qpu


@pytest.fixture
def round_robin(tmp_path):
    """A CPU simulator pilot and a QPU emulator pilot, one worker each, served in turn."""
    config = local_config(
        pilots=local_pilots(cpu_workers=1), policy="round_robin", classical_workers=0, run_dir=str(tmp_path)
    )
    loaded = parsl.load(config)
    config.executors[0].wait_for_pilots()
    yield config.executors[0]
    loaded.cleanup()
    parsl.clear()


def test_a_backend_error_in_a_batch_reruns_the_batch_on_another_pilot(round_robin):
    results = fails_on_the_qpu.map(range(8), batch_size=2).result(timeout=300)
    assert results == [(i, "cpu") for i in range(8)]
    batches = [r for r in round_robin.metrics() if r.name == "fails_on_the_qpu_batch"]
    assert len(batches) == 4 and all(r.outcome == "success" and r.kind == "cpu" for r in batches)
    assert any(r.attempts > 1 for r in batches)  # at least one batch went to the QPU first and failed over
