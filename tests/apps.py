"""Task functions for tests that run on real pilot workers (importable by the workers)."""

from __future__ import annotations

import os
import time

from parsl_quantum.errors import BackendError


def where(*, device):
    """Which device and process ran the task."""
    return device.name, os.getpid()


def nap(seconds, *, device):
    """Sleep, then report where."""
    time.sleep(seconds)
    return device.name, os.getpid()


def nap_by_kind(seconds_by_kind, *, device):
    """Sleep for a time that depends on the kind of device (models a fast and a slow resource)."""
    time.sleep(seconds_by_kind[device.kind])
    return device.name


def ghz_counts(n, shots=1000, *, device):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return device.name, device.sample(qc, shots=shots)


def broken(x, *, device):
    """A task whose own code fails."""
    raise ZeroDivisionError(f"task input {x} divides by zero")


def qpu_job_error(*, device):
    """A backend that fails on QPUs (not the task's fault), works on simulators."""
    if device.kind == "qpu":
        raise BackendError(f"job on {device.name} failed: calibration in progress")
    return device.name


def no_device(x):
    """A plain function: the executor passes no device to it."""
    return x * 2


def square(x, *, device):
    """An exactly known result, computed on a pilot."""
    return x * x


def fail_once(x, marker_dir, *, device):
    """A transient backend fault: the first attempt for ``x`` on a QPU fails, later ones work."""
    if device.kind == "qpu":
        marker = os.path.join(marker_dir, f"attempted-{x}")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return device.name, x
        raise BackendError(f"job for {x} on {device.name} failed: transient network error")
    return device.name, x


def poison(*, device):
    """A task that kills the worker running it."""
    os._exit(3)


def worker_pid(*, device):
    """The worker process's pid, after a pause long enough to be caught running."""
    time.sleep(1.0)
    return os.getpid()


class Unloadable:
    """Pickles on the worker, cannot be unpickled on the submitting side."""

    def __reduce__(self):
        return (_refuse, ("result of a broken class",))


def _refuse(what):
    raise RuntimeError(f"cannot rebuild the {what}")


def unloadable(*, device):
    return Unloadable()


def plain_kwargs(x, **kwargs):
    """A plain function taking **kwargs: it must not receive a device."""
    return x, sorted(kwargs)


def decode_square(x, *, device):
    """Prepare the basis state |x> on 5 qubits, read x back from the majority outcome, return x squared.

    Exact on simulators and, with 300 shots, on a noisy emulator too (the majority outcome survives a few
    per cent of readout and gate error); every call is a real job on the pilot's backend.
    """
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(5)
    for bit in range(5):
        if (x >> bit) & 1:
            qc.x(bit)
    qc.measure_all()
    counts = device.sample(qc, shots=300)
    read = int(max(counts, key=counts.get).replace(" ", ""), 2)
    return read * read


def sweep_step(seconds, *, device):
    """One call of a sweep whose calls take very different times: sleeps ``seconds``."""
    time.sleep(seconds)
    return seconds


def crunch(cpu_seconds, *, device):
    """CPU-bound work: spins until this process has used ``cpu_seconds`` of CPU time."""
    start = time.process_time()
    spins = 0
    while time.process_time() - start < cpu_seconds:
        spins += sum(i * i for i in range(1000)) > 0
    return spins > 0 or cpu_seconds == 0
