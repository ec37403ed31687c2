"""The memory a job may use (Slurm grant, cgroup limit, host total) and the widths devices derive from it.

Cgroup files are real files laid out as the kernel lays them out, under a temporary root.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from parsl_quantum.devices.emulator import emulated_qubits
from parsl_quantum.devices.hardware import (
    cgroup_memory_bytes,
    host_memory_bytes,
    job_memory_bytes,
    max_statevector_qubits,
    slurm_memory_bytes,
)

GIB = 2**30
V1_UNLIMITED = "9223372036854771712"


def cgroup_v2(tmp_path, path: str, limits: dict[str, str]):
    """A cgroup v2 tree: ``/proc/self/cgroup`` saying ``0::path`` and ``memory.max`` files."""
    proc = tmp_path / "cgroup"
    proc.write_text(f"0::{path}\n")
    root = tmp_path / "fs"
    for directory, value in limits.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / "memory.max").write_text(value + "\n")
    return str(proc), str(root)


def cgroup_v1(tmp_path, path: str, limits: dict[str, str]):
    """A cgroup v1 tree with a ``memory`` controller (as on this CI machine)."""
    proc = tmp_path / "cgroup"
    proc.write_text(f"9:systemd:/\n4:memory:{path}\n3:cpuset:/\n0::/\n")
    root = tmp_path / "fs"
    for directory, value in limits.items():
        (root / "memory" / directory).mkdir(parents=True, exist_ok=True)
        (root / "memory" / directory / "memory.limit_in_bytes").write_text(value + "\n")
    return str(proc), str(root)


# -- Slurm ------------------------------------------------------------------------------------------
def test_slurm_mem_per_node():
    assert slurm_memory_bytes({"SLURM_MEM_PER_NODE": "4096"}) == 4 * GIB


def test_slurm_mem_per_cpu_times_cpus():
    assert slurm_memory_bytes({"SLURM_MEM_PER_CPU": "1024", "SLURM_CPUS_ON_NODE": "3"}) == 3 * GIB


def test_slurm_zero_means_whole_node():
    assert slurm_memory_bytes({"SLURM_MEM_PER_NODE": "0"}) is None
    assert slurm_memory_bytes({}) is None


def test_job_memory_prefers_slurm(tmp_path):
    proc, root = cgroup_v2(tmp_path, "/job", {"job": str(8 * GIB)})
    env = {"SLURM_MEM_PER_NODE": "2048"}
    assert job_memory_bytes(env, proc, root) == 2 * GIB


def test_slurm_env_var_sets_a_devices_width():
    """A real process with ``SLURM_MEM_PER_NODE`` set (what ``--mem=1G`` exports) builds narrower devices."""
    code = (
        "from parsl_quantum.devices import get_device\n"
        "print(get_device('aer').num_qubits, get_device('lightning.qubit').num_qubits,"
        " get_device('fake_torino').num_qubits)"
    )
    env = {"SLURM_MEM_PER_NODE": "1024", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    expected = max_statevector_qubits(GIB, 16)  # 26 qubits: 2**26 * 16 bytes = 1 GiB
    assert out.stdout.split() == [str(expected)] * 3


# -- cgroups ----------------------------------------------------------------------------------------
def test_cgroup_v2_limit(tmp_path):
    proc, root = cgroup_v2(tmp_path, "/user.slice/job42", {"user.slice/job42": str(3 * GIB)})
    assert cgroup_memory_bytes(proc, root) == 3 * GIB


def test_cgroup_v2_tightest_ancestor_wins(tmp_path):
    limits = {"": "max", "user.slice": str(2 * GIB), "user.slice/job42": str(5 * GIB)}
    proc, root = cgroup_v2(tmp_path, "/user.slice/job42", limits)
    assert cgroup_memory_bytes(proc, root) == 2 * GIB


def test_cgroup_v2_max_is_no_limit(tmp_path):
    proc, root = cgroup_v2(tmp_path, "/", {"": "max"})
    assert cgroup_memory_bytes(proc, root) is None
    assert job_memory_bytes({}, proc, root) == host_memory_bytes()


def test_cgroup_v1_limit(tmp_path):
    proc, root = cgroup_v1(tmp_path, "/slurm/uid_1/job_7", {"slurm/uid_1/job_7": str(GIB), "": V1_UNLIMITED})
    assert cgroup_memory_bytes(proc, root) == GIB
    assert job_memory_bytes({}, proc, root) == GIB


def test_cgroup_v1_unlimited_falls_back_to_host(tmp_path):
    proc, root = cgroup_v1(tmp_path, "/process_api/abc", {"process_api/abc": V1_UNLIMITED})
    assert job_memory_bytes({}, proc, root) == host_memory_bytes()


def test_missing_cgroup_files(tmp_path):
    assert cgroup_memory_bytes(str(tmp_path / "absent"), str(tmp_path)) is None
    assert job_memory_bytes({}, str(tmp_path / "absent"), str(tmp_path)) == host_memory_bytes()


def test_this_process():
    memory = job_memory_bytes()
    slurm = slurm_memory_bytes()
    if slurm is not None:  # inside a Slurm job: its limit, as far as the host allows
        assert memory == slurm
    else:
        assert 0 < memory <= host_memory_bytes()


# -- widths -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("memory", "qubits"), [(GIB, 26), (512 * GIB, 35), (16 * 2**40, 40)])
def test_emulated_width(memory, qubits):
    assert emulated_qubits(memory) == qubits
