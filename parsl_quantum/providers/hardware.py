"""What this machine offers a simulator: memory, and whether a usable GPU is there."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass


def host_memory_bytes() -> int:
    """Total physical memory of this machine, in bytes."""
    import psutil

    return int(psutil.virtual_memory().total)


def max_statevector_qubits(
    memory_bytes: int, bytes_per_amplitude: int = 16, density_matrix: bool = False
) -> int:
    """The largest register whose state fits in ``memory_bytes``.

    A statevector of n qubits holds 2**n amplitudes; a density matrix 4**n.
    """
    amplitudes = memory_bytes / bytes_per_amplitude
    if amplitudes < 2:
        return 0
    bits = int(math.floor(math.log2(amplitudes)))
    return bits // 2 if density_matrix else bits


@dataclass(frozen=True)
class GPUInfo:
    """GPUs seen on this machine.

    Attributes
    ----------
    count
        Number of NVIDIA GPUs that ``nvidia-smi`` lists (0 when none).
    memory_bytes
        Memory of the smallest listed GPU, in bytes (0 when none).
    reason
        Why no GPU is usable, when ``count`` is 0.
    """

    count: int
    memory_bytes: int
    reason: str = ""


def detect_gpus() -> GPUInfo:
    """List NVIDIA GPUs through ``nvidia-smi``; never raises."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return GPUInfo(0, 0, "no NVIDIA driver on this machine (nvidia-smi not found)")
    try:
        out = subprocess.run(
            [exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return GPUInfo(0, 0, f"nvidia-smi failed: {exc}")
    mems = [int(float(x)) * 2**20 for x in out.split() if x.strip()]
    if not mems:
        return GPUInfo(0, 0, "nvidia-smi lists no GPU")
    return GPUInfo(len(mems), min(mems))
