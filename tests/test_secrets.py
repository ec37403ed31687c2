"""An IBM Quantum token stays out of every log, run file, repr and metric.

The run has an Aer pilot that works and an ``ibm_*`` pilot whose session cannot be opened (no network
here, and the token is fake): the token is read from ``QISKIT_IBM_TOKEN`` and sent towards IBM's
identity service, which fails. Everything the run leaves behind is then searched for the token.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

import parsl
import pytest

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription, QPUSessionProvider
from tests.executor_helpers import cpu, ghz_counts, spec, wait_active

SHOTS = 500


def files_holding(root: Path, secret: bytes) -> list[str]:
    """Files under ``root`` whose bytes contain ``secret``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_ibm_token_appears_in_no_log_run_file_repr_or_metric(load_dfk, monkeypatch, caplog, capfd):
    token = f"pq-fake-ibm-token-{uuid.uuid4().hex}"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    caplog.set_level(logging.DEBUG)  # every logger, every level: the runtime's and requests' too
    ibm_provider = QPUSessionProvider(backend="ibm_torino", mode="batch", init_blocks=1, max_blocks=1)
    pilots = [
        cpu("cpu", workers=1),
        PilotDescription(name="ibm", kind="qpu", backend="ibm_torino", provider=ibm_provider),
    ]
    qex = QuantumPilotExecutor(label="quantum", pilots=pilots)
    dfk = load_dfk(qex)
    run_dir = Path(dfk.run_dir)
    config = dfk.config
    wait_active(qex, "cpu", timeout=120)

    futures = [ghz_counts(3, shots=SHOTS, **spec(pilot="cpu")) for _ in range(3)]
    for future in futures:
        name, counts = future.result(timeout=120)
        assert name == "aer" and set(counts) <= {"000", "111"} and sum(counts.values()) == SHOTS

    # The ibm pilot tried to open its batch and could not.
    deadline = time.monotonic() + 120
    while qex.pilots["ibm"].reason is None and not ibm_provider.sessions and time.monotonic() < deadline:
        time.sleep(0.2)
    status = qex.pilots["ibm"]
    assert not ibm_provider.sessions, "no session can have been opened without network"
    assert status.state != "active" and status.workers == 0, status
    assert "ibm_torino" in (status.reason or "") + repr(status.blocks) + caplog.text
    texts = {
        "pilot status": repr(status),
        "all pilots": repr(qex.pilots),
        "executor": repr(qex),
        "pilot descriptions": repr(pilots) + repr(qex.pilot_descriptions),
        "provider": repr(ibm_provider),
        "config": repr(config),
        "metrics": repr(qex.metrics()),
    }
    dfk.cleanup()
    parsl.clear()

    texts["logs"] = caplog.text
    captured = capfd.readouterr()
    texts["stdout/stderr"] = captured.out + captured.err
    leaks = [what for what, text in texts.items() if token in text]
    assert leaks == [], f"the token appears in: {leaks}"
    assert files_holding(run_dir, token.encode()) == []
    assert os.environ["QISKIT_IBM_TOKEN"] == token  # it was there to leak all along
    # The failure was seen and logged (so the logs searched above are the ones that handled the token).
    parsl_log = (run_dir / "parsl.log").read_text()
    assert "ibm_torino" in caplog.text + parsl_log


@pytest.mark.parametrize("mode", ["session", "batch"])
def test_session_that_cannot_open_names_the_device_not_the_token(monkeypatch, mode, caplog):
    from parsl_quantum.errors import BackendError

    token = f"pq-fake-ibm-token-{uuid.uuid4().hex}"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    provider = QPUSessionProvider(backend="ibm_torino", mode=mode)
    with pytest.raises(BackendError, match="ibm_torino") as info:
        provider.submit("true", 1)
    assert token not in str(info.value) and token not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained text to print
    assert token not in caplog.text
    assert provider.sessions == {}
