"""The ``distributed`` motif: MPI tasks through Parsl's MPIExecutor, with Open MPI and mpi4py.

The MPI runs need ``mpiexec`` (``make sysdeps`` installs Open MPI) and mpi4py (the ``test`` extra). Without
them the module is skipped, unless ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

import parsl_quantum.motifs as motifs
from parsl_quantum.configs import mpi_executor, mpi_worker_init
from parsl_quantum.devices import GPUUnavailableError, get_device
from parsl_quantum.devices.lightning import gpu_unavailable_reason
from parsl_quantum.errors import UnknownBackendError
from parsl_quantum.motifs.distributed import DistributedApp, distributed
from parsl_quantum.motifs.distributed.errors import (
    DistributedGPUUnavailableError,
    DistributedTaskError,
    MPILaunchError,
)
from parsl_quantum.motifs.distributed.hamiltonian import hamiltonian_energy, term_indices
from parsl_quantum.motifs.distributed.launch import launch_prefix, open_mpi_prefix
from parsl_quantum.motifs.distributed.rank import PAYLOAD_FILE, mpi_state_support


def mpi_missing() -> str | None:
    if shutil.which("mpiexec") is None:
        return "mpiexec is not on PATH (make sysdeps installs Open MPI)"
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (it is in the test extra)"
    return None


MISSING = mpi_missing()
pytestmark = pytest.mark.mpi
needs_mpi = pytest.mark.skipif(
    MISSING is not None and os.environ.get("CI") != "true", reason=f"no MPI here: {MISSING}"
)


# -- functions the ranks run (imported by reference from this module) -------------------------------
def fail_on_rank_one(*, comm, device):
    if comm.Get_rank() == 1:
        raise ValueError("rank one refuses")
    comm.Barrier()  # rank 0 waits for rank 1, which never comes: the abort must end it
    return "unreachable"


def ranks_and_sizes(*, comm, device):
    return comm.gather((comm.Get_rank(), comm.Get_size(), device.name), root=0)


def nap(seconds, *, comm, device):
    time.sleep(seconds)
    return seconds


def shared_energy(circuit, hamiltonian, *, comm, device):
    return hamiltonian_energy(circuit, hamiltonian, comm, device, split=False)


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mini_app(tmp_path_factory):
    """The mini-app's default run (once for the module), in a fresh directory.

    It loads its own DataFlowKernel, so it runs before the module's ``mpi`` one: the mini-app's tests come
    first in this file.
    """
    from parsl_quantum.workflows import mpi_energy

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("mpi_energy"))
    try:
        return mpi_energy.main([])
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def mpi(tmp_path_factory):
    """A DataFlowKernel with a local MPIExecutor labelled ``mpi`` (two MPI tasks at once), for the module."""
    import parsl
    from parsl.config import Config

    run_dir = str(tmp_path_factory.mktemp("distributed") / "runinfo")
    dfk = parsl.load(Config(executors=[mpi_executor("mpi", tasks=2)], run_dir=run_dir, strategy_period=0.5))
    try:
        yield dfk
    finally:
        dfk.cleanup()
        parsl.clear()


class FakeComm:
    """One rank of a communicator, for calling ``hamiltonian_energy`` without MPI."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size

    def allreduce(self, value: float) -> float:
        return value  # the caller adds the ranks' shares


def small_problem() -> tuple[QuantumCircuit, SparsePauliOp]:
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.3, 2)
    qc.cx(1, 2)
    h = SparsePauliOp.from_list([("ZZI", 1.0), ("XXI", 0.5), ("IIZ", 0.7), ("IXX", 0.2), ("YYI", -0.3)])
    return qc, h


# -- the mini-app --------------------------------------------------------------------------------------
@needs_mpi
def test_mini_app_energy_matches_the_exact_reference(mini_app):
    assert mini_app["ranks"] == 2
    assert abs(mini_app["energy"] - mini_app["exact"]) < 1e-8
    assert mini_app["exact"] == pytest.approx(0.193020441602, abs=1e-9)  # the fixed state is fixed


@needs_mpi
def test_mini_app_ranks_computed_disjoint_terms_covering_the_hamiltonian(mini_app):
    terms = [set(t) for t in mini_app["terms"]]
    assert len(terms) == mini_app["ranks"] and all(terms)
    assert sum(len(t) for t in terms) == len(set().union(*terms)) == mini_app["num_terms"]
    assert set().union(*terms) == set(range(mini_app["num_terms"]))


# -- MPI tasks -------------------------------------------------------------------------------------------
@needs_mpi
def test_every_rank_runs_the_function_with_its_communicator_and_device(mpi):
    app = distributed(ranks_and_sizes, executors=["mpi"], ranks=2, backend="lightning.qubit")
    assert app().result() == [(0, 2, "lightning.qubit"), (1, 2, "lightning.qubit")]


@needs_mpi
def test_an_exception_on_rank_one_fails_the_future_naming_the_rank_and_the_exception(mpi):
    app = distributed(fail_on_rank_one, executors=["mpi"], ranks=2)
    with pytest.raises(DistributedTaskError, match=r"rank 1 of 2: ValueError: rank one refuses") as info:
        app().result(timeout=120)
    assert info.value.rank == 1 and info.value.failed_ranks == [1]
    assert isinstance(info.value.exception, ValueError)
    assert "fail_on_rank_one" in info.value.remote_traceback


@needs_mpi
@pytest.mark.skipif(gpu_unavailable_reason() is None, reason="a GPU and lightning.gpu are usable here")
def test_a_gpu_backend_without_a_gpu_fails_with_gpu_unavailable(mpi):
    app = distributed(ranks_and_sizes, executors=["mpi"], ranks=2, backend="lightning.gpu")
    state = distributed(
        shared_energy, executors=["mpi"], ranks=2, backend="lightning.gpu", distribute_state=True
    )
    replicated, distributed_state = app(), state(*small_problem())  # both at once
    with pytest.raises(GPUUnavailableError, match=r"rank \d of 2: .*GPUUnavailableError.*lightning\.qubit"):
        replicated.result(timeout=120)
    with pytest.raises(DistributedGPUUnavailableError, match="needs a usable NVIDIA GPU on every rank"):
        distributed_state.result(timeout=120)


@needs_mpi
@pytest.mark.skipif(mpi_state_support("lightning.kokkos"), reason="this lightning.kokkos is built with MPI")
def test_a_distributed_state_needs_an_mpi_build_of_lightning(mpi):
    app = distributed(
        shared_energy, executors=["mpi"], ranks=2, backend="lightning.kokkos", distribute_state=True
    )
    with pytest.raises(DistributedTaskError, match="MPIStateUnsupportedError.*built without MPI support"):
        app(*small_problem()).result(timeout=120)


@needs_mpi
def test_files_of_an_mpi_task_are_readable_by_their_owner_only(mpi, tmp_path):
    """The payload (a pickle the ranks load and run), the ranks' reports and the launcher's output."""
    import stat

    root = tmp_path / "exchange"
    app = distributed(fail_on_rank_one, executors=["mpi"], ranks=2, work_dir=str(root))
    with pytest.raises(DistributedTaskError):
        app().result(timeout=120)  # a failed task keeps its payload for a post-mortem
    (work_dir,) = root.iterdir()
    files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in work_dir.iterdir()}
    assert {PAYLOAD_FILE, "error.1.pkl", "mpiexec.out", "mpiexec.err"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert stat.S_IMODE(root.stat().st_mode) == stat.S_IMODE(work_dir.stat().st_mode) == 0o700


@needs_mpi
def test_a_launcher_failure_quotes_the_launchers_stderr(mpi):
    app = distributed(ranks_and_sizes, executors=["mpi"], ranks=2, launcher_options="--no-such-option")
    with pytest.raises(MPILaunchError, match="no-such-option"):
        app().result(timeout=120)


@needs_mpi
def test_a_job_past_its_timeout_is_stopped_with_its_ranks(mpi):
    import psutil

    work_root = os.path.join(os.path.abspath(mpi.run_dir), "distributed")  # in mpiexec's and the ranks' argv

    def left_behind() -> list:
        return [p for p in psutil.process_iter(["cmdline"]) if work_root in " ".join(p.info["cmdline"] or [])]

    app = distributed(nap, executors=["mpi"], ranks=2, timeout_s=5)
    with pytest.raises(MPILaunchError, match="did not finish within 5 s"):
        app(120).result(timeout=120)
    deadline = time.monotonic() + 10
    while left_behind() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left_behind() == []


# -- the pieces, without MPI ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_hamiltonian_energy_shares_add_up_to_the_exact_energy(size):
    circuit, hamiltonian = small_problem()
    exact = Statevector(circuit).expectation_value(hamiltonian).real
    device = get_device("lightning.qubit")
    shares = [hamiltonian_energy(circuit, hamiltonian, FakeComm(rank, size), device) for rank in range(size)]
    assert sum(shares) == pytest.approx(exact, abs=1e-12)
    assert hamiltonian_energy(circuit, hamiltonian, FakeComm(0, size), device, split=False) == pytest.approx(
        exact, abs=1e-12
    )


@pytest.mark.parametrize(("terms", "size"), [(29, 2), (61, 4), (3, 5), (0, 2)])
def test_term_indices_partition_the_terms(terms, size):
    shares = [set(term_indices(terms, rank, size)) for rank in range(size)]
    assert sum(len(s) for s in shares) == terms
    assert set().union(*shares) == set(range(terms))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_hamiltonian_energy_rejects_other_observables():
    circuit, _ = small_problem()
    with pytest.raises(TypeError, match="SparsePauliOp"):
        hamiltonian_energy(circuit, "ZZI", FakeComm(0, 1), get_device("lightning.qubit"))


def test_parsl_mpiexec_request_is_rewritten_for_open_mpi():
    environ = {
        "PARSL_MPI_PREFIX": "mpiexec -n 4 -ppn 2 -hosts a,b ",
        "PARSL_NUM_RANKS": "4",
        "PARSL_RANKS_PER_NODE": "2.0",
        "PARSL_MPI_NODELIST": "a,b",
        "PARSL_LAUNCHER_OPTIONS": "--bind-to none",
    }
    assert open_mpi_prefix(environ) == "mpiexec -n 4 --map-by ppr:2:node --host a:2,b:2 --bind-to none"
    with pytest.raises(MPILaunchError, match="MPIExecutor"):
        launch_prefix({})
    assert launch_prefix({"PARSL_MPI_PREFIX": "srun --ntasks 4"}) == "srun --ntasks 4"


def test_decorator_checks_its_arguments():
    with pytest.raises(TypeError, match=r"executors=\['mpi'\]"):
        distributed(ranks_and_sizes, executors="mpi")
    with pytest.raises(ValueError, match="ranks must be a positive integer"):
        distributed(ranks_and_sizes, executors=["mpi"], ranks=0)
    with pytest.raises(ValueError, match="distribute_state=True needs"):
        distributed(ranks_and_sizes, executors=["mpi"], backend="lightning.qubit", distribute_state=True)
    with pytest.raises(UnknownBackendError):
        distributed(ranks_and_sizes, executors=["mpi"], backend="no_such_backend")


def test_resource_specification_and_its_override():
    app = distributed(executors=["mpi"], ranks=4, ranks_per_node=2, launcher_options="-x FOO")(
        ranks_and_sizes
    )
    assert isinstance(app, DistributedApp)
    assert app.specification() == {
        "num_nodes": 2,
        "num_ranks": 4,
        "ranks_per_node": 2,
        "launcher_options": "-x FOO",
    }
    assert app.specification({"num_ranks": 6})["ranks_per_node"] == 3


def test_old_import_paths_still_work():
    old_home = importlib.import_module("parsl_quantum.motifs.distributed")  # the package names a function so

    assert motifs.mpi_executor is old_home.mpi_executor is mpi_executor
    assert motifs.hamiltonian_energy is old_home.hamiltonian_energy is hamiltonian_energy
    assert old_home.term_indices is term_indices and old_home.launch_prefix is launch_prefix


def test_a_state_vector_without_an_mpi_build_says_what_to_install():
    from parsl_quantum.motifs.distributed.rank import MPIStateUnsupportedError, RankPayload, rank_device

    if mpi_state_support("lightning.kokkos"):
        pytest.skip("this lightning.kokkos is built with MPI")
    payload = RankPayload(function=ranks_and_sizes, backend="lightning.kokkos", distribute_state=True)
    with pytest.raises(MPIStateUnsupportedError, match=r"-DENABLE_MPI=ON against Kokkos 5\.1"):
        rank_device(payload)


def test_worker_init_lets_open_mpi_run_as_root_and_mocks_a_node_list():
    init = mpi_worker_init(tasks=2, run_as_root=True)
    assert "OMPI_ALLOW_RUN_AS_ROOT=1" in init and "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" in init
    assert "PBS_NODEFILE" in init and "seq 2" in init
    assert "OMPI_ALLOW_RUN_AS_ROOT" not in mpi_worker_init(run_as_root=False)
