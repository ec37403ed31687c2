"""What this machine offers a simulator: memory, and whether a usable GPU is there."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC_SELF_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"


def host_memory_bytes() -> int:
    """Total physical memory of this machine, in bytes."""
    import psutil

    return int(psutil.virtual_memory().total)


def slurm_memory_bytes(environ: Mapping[str, str] | None = None) -> int | None:
    """The memory Slurm grants this job on this node, or ``None`` outside a Slurm job with a limit.

    ``SLURM_MEM_PER_NODE`` (MiB, set by ``--mem``) first; else ``SLURM_MEM_PER_CPU`` (``--mem-per-cpu``)
    times ``SLURM_CPUS_ON_NODE``. A value of 0 means "all of the node's memory" and counts as no limit.

    Parameters
    ----------
    environ
        The environment to read; ``os.environ`` by default.
    """
    env = os.environ if environ is None else environ
    per_node = env.get("SLURM_MEM_PER_NODE")
    if per_node:
        mib = int(per_node)
    elif env.get("SLURM_MEM_PER_CPU") and env.get("SLURM_CPUS_ON_NODE"):
        mib = int(env["SLURM_MEM_PER_CPU"]) * int(env["SLURM_CPUS_ON_NODE"])
    else:
        return None
    return mib * 2**20 if mib > 0 else None


def _read_limit(path: Path) -> int | None:
    """A cgroup memory limit file's value in bytes, or ``None`` when absent or unlimited (``max``)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_memory_bytes(proc_cgroup: str = PROC_SELF_CGROUP, root: str = CGROUP_ROOT) -> int | None:
    """The tightest memory limit of this process's cgroup and its ancestors, or ``None`` if none is set.

    Reads the process's cgroup paths from ``proc_cgroup`` (lines ``0::/path`` for cgroup v2,
    ``N:memory:/path`` for v1), then ``memory.max`` (v2) or ``memory/.../memory.limit_in_bytes`` (v1)
    of that cgroup and every ancestor under ``root``. v1's "unlimited" is a huge number, which the
    caller compares with the host's memory.

    Parameters
    ----------
    proc_cgroup
        The ``/proc/<pid>/cgroup`` file to read.
    root
        Where the cgroup file systems are mounted.
    """
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            base, filename = Path(root), "memory.max"
        elif "memory" in controllers.split(","):
            base, filename = Path(root) / "memory", "memory.limit_in_bytes"
        else:
            continue
        relative = Path(path.lstrip("/"))
        for directory in (relative, *relative.parents):
            limit = _read_limit(base / directory / filename)
            if limit is not None:
                limits.append(limit)
    return min(limits) if limits else None


def job_memory_bytes(
    environ: Mapping[str, str] | None = None,
    proc_cgroup: str = PROC_SELF_CGROUP,
    cgroup_root: str = CGROUP_ROOT,
) -> int:
    """The memory this process may use, in bytes: what a simulator's width must fit in.

    Slurm's grant (:func:`slurm_memory_bytes`) when the job has one; else the cgroup limit
    (:func:`cgroup_memory_bytes`) when it is below the host's total; else the host's total. On a login
    node or a laptop this is the host's memory; in a Slurm job or a container it is the job's.

    Parameters
    ----------
    environ
        The environment to read Slurm's variables from; ``os.environ`` by default.
    proc_cgroup, cgroup_root
        Where to read the cgroup membership and limits (see :func:`cgroup_memory_bytes`).
    """
    slurm = slurm_memory_bytes(environ)
    if slurm is not None:
        return slurm
    total = host_memory_bytes()
    limit = cgroup_memory_bytes(proc_cgroup, cgroup_root)
    return limit if limit is not None and limit < total else total


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
