"""A real single-node Slurm cluster (controller and compute node on this machine) for tests.

Installs Debian's ``slurm-wlm`` and ``munge`` when they are missing (needs root). Everything else is private
to a temporary directory, so the system's configuration (``/etc/slurm``, ``/etc/munge``, ``/run/munge``) is
never touched and concurrent clusters do not interfere: a ``munged`` with its own key and socket, a
``slurm.conf`` (no cgroups, no accounting) with free ports, state, spool and logs, and ``slurmctld`` and
``slurmd`` run in the foreground as child processes. While the cluster is up, ``SLURM_CONF`` in
``os.environ`` points at the private configuration, so Slurm clients run by this process (``sbatch``,
``squeue``, ``scancel`` from Parsl's ``SlurmProvider``) and the jobs' environments talk to it.

    with SlurmCluster() as cluster:
        provider = SlurmProvider(partition=cluster.partition, ...)
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Programs the cluster needs, and the Debian package that provides each.
PROGRAMS = {
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "squeue": "slurm-client",
    "scancel": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "munged": "munge",
    "munge": "munge",
    "unmunge": "munge",
}
PACKAGES = ("slurm-wlm", "munge")
_SBIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])


class SlurmClusterError(RuntimeError):
    """The cluster could not be installed, configured or started."""


def which(program: str) -> str | None:
    """Path of ``program``, also searching the sbin directories that a non-login PATH may lack."""
    return shutil.which(program, path=_SEARCH_PATH)


def missing_programs() -> list[str]:
    """Programs of :data:`PROGRAMS` not installed here."""
    return [p for p in PROGRAMS if which(p) is None]


def _apt_get(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def ensure_installed(timeout: float = 900.0) -> None:
    """Install ``slurm-wlm`` and ``munge`` with apt-get if some of their programs are missing.

    Tries ``apt-get install`` first and, when that fails (stale package lists), ``apt-get update`` and the
    install again.

    Raises
    ------
    SlurmClusterError
        Naming the missing programs and packages, when they are missing and cannot be installed (not
        root, no apt-get, or apt-get failed).
    """
    missing = missing_programs()
    if not missing:
        return
    packages = sorted({PROGRAMS[p] for p in missing})
    what = f"missing programs {', '.join(missing)} (Debian packages {', '.join(packages)})"
    if os.geteuid() != 0:
        raise SlurmClusterError(
            f"{what}; not root, so they cannot be installed here: run "
            f"'apt-get install -y {' '.join(PACKAGES)}' as root"
        )
    if which("apt-get") is None:
        raise SlurmClusterError(f"{what}; apt-get is not available to install {' '.join(PACKAGES)}")
    install = ("install", "-y", *PACKAGES)
    result = _apt_get(*install, timeout=timeout)
    if result.returncode != 0:
        update = _apt_get("update", timeout=timeout)
        result = _apt_get(*install, timeout=timeout)
        if result.returncode != 0:
            raise SlurmClusterError(
                f"{what}; 'apt-get install -y {' '.join(PACKAGES)}' failed (exit {result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}\napt-get update said:\n"
                f"{_tail(update.stdout + update.stderr)}"
            )
    still = missing_programs()
    if still:
        raise SlurmClusterError(f"after installing {' '.join(PACKAGES)}, still missing: {', '.join(still)}")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def _total_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmClusterError("MemTotal not found in /proc/meminfo")


# -- MUNGE ----------------------------------------------------------------------------------------------


def munge_works(socket_path: str | os.PathLike, timeout: float = 10.0) -> bool:
    """Whether the MUNGE daemon at ``socket_path`` answers (``munge -n | unmunge``)."""
    munge, unmunge = which("munge"), which("unmunge")
    if munge is None or unmunge is None:
        return False
    try:
        cred = subprocess.run(
            [munge, "-n", "-S", str(socket_path)], capture_output=True, timeout=timeout, check=False
        )
        if cred.returncode != 0:
            return False
        check = subprocess.run(
            [unmunge, "-S", str(socket_path)],
            input=cred.stdout,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0


def start_munged(directory: Path, timeout: float = 15.0) -> int:
    """Start a private ``munged`` whose key, socket, pid, seed and log files are in ``directory``.

    The system's MUNGE (``/etc/munge``, ``/run/munge``) is neither used nor touched, so this cluster
    does not depend on, or disturb, a ``munged`` started by someone else. It runs as root (as the Slurm
    daemons do); ``munged`` daemonises itself.

    Returns
    -------
    int
        The daemon's pid.
    """
    munged = which("munged")
    if munged is None:
        raise SlurmClusterError("munged not found")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # munged requires execute permission for all on its socket's directory
    key = directory / "munge.key"
    if not key.exists():  # a random key, as Debian's create-munge-key made them (munged needs >= 32 bytes)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
    sock, pidfile, log = directory / "munge.socket", directory / "munged.pid", directory / "munged.log"
    result = subprocess.run(
        [
            munged,
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={pidfile}",
            f"--log-file={log}",
            f"--seed-file={directory / 'munged.seed'}",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SlurmClusterError(
            f"munged failed to start (exit {result.returncode}): {result.stdout}{result.stderr}\n"
            + _log_tail(log)
        )
    deadline = time.monotonic() + timeout
    while not (pidfile.exists() and munge_works(sock)):
        if time.monotonic() > deadline:
            raise SlurmClusterError("munged started but 'munge -n | unmunge' fails:\n" + _log_tail(log))
        time.sleep(0.1)
    return int(pidfile.read_text().strip())


def _is_process(pid: int, name: str) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except OSError:
        return False


def stop_munged(pid: int, timeout: float = 10.0) -> None:
    """Stop the ``munged`` of ``pid`` (one :func:`start_munged` started)."""
    if not _is_process(pid, "munged"):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_process(pid, "munged") and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_process(pid, "munged"):
        os.kill(pid, signal.SIGKILL)


# -- Slurm ------------------------------------------------------------------------------------------------


class SlurmCluster:
    """A single-node Slurm cluster: ``slurmctld`` and ``slurmd`` on this machine, one partition.

    Parameters
    ----------
    workdir
        Where the configuration, state, spool and logs go (default: a new temporary directory, removed
        by :meth:`stop`).
    partition
        Name of the cluster's only partition (the default one).
    timeout
        Seconds to wait for the node to become idle.
    """

    def __init__(
        self, workdir: str | os.PathLike | None = None, partition: str = "debug", timeout: float = 60.0
    ):
        self.partition = partition
        self.timeout = timeout
        self._own_workdir = workdir is None
        self._workdir_arg = workdir
        self.workdir: Path | None = None
        self.hostname = socket.gethostname().split(".")[0]
        self._ctld: subprocess.Popen | None = None
        self._slurmd: subprocess.Popen | None = None
        self._munged_pid: int | None = None
        self._saved_slurm_conf: str | None = None
        self._env_set = False
        self.started = False

    # -- paths -----------------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        assert self.workdir is not None, "cluster not started"
        return self.workdir / name

    @property
    def conf_path(self) -> Path:
        """The cluster's ``slurm.conf``."""
        return self._path("slurm.conf")

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with ``SLURM_CONF`` pointing at the cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf_path)}

    # -- configuration -------------------------------------------------------------------------------
    def config(self, ctld_port: int, slurmd_port: int) -> str:
        """The text of ``slurm.conf``."""
        cpus = os.cpu_count() or 1
        if hasattr(os, "sched_getaffinity"):
            cpus = len(os.sched_getaffinity(0))
        memory = max(1, int(_total_memory_mb() * 0.9))
        d = self.workdir
        return "\n".join(
            [
                "# Written by tests/slurm_cluster.py: a single-node test cluster, no cgroups, no accounting.",
                "ClusterName=pqtest",
                f"SlurmctldHost={self.hostname}(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={d}/munge/munge.socket",
                f"StateSaveLocation={d}/state",
                f"SlurmdSpoolDir={d}/spool",
                f"SlurmctldPidFile={d}/slurmctld.pid",
                f"SlurmdPidFile={d}/slurmd.pid",
                f"SlurmctldLogFile={d}/slurmctld.log",
                f"SlurmdLogFile={d}/slurmd.log",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "ReturnToService=2",
                # a node whose detected hardware differs from the lines below is not drained
                "SlurmdParameters=config_overrides",
                "KillWait=5",
                "InactiveLimit=0",
                "MailProg=/bin/true",
                f"NodeName={self.hostname} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN",
                f"PartitionName={self.partition} Nodes={self.hostname} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    # -- commands ----------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        program = which(args[0]) or args[0]
        result = subprocess.run(
            [program, *args[1:]], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise SlurmClusterError(
                f"{' '.join(args)} failed (exit {result.returncode}): {result.stdout}{result.stderr}"
            )
        return result

    def node_state(self) -> str:
        """The node's state as ``sinfo`` reports it (``idle``, ``mix``, ``down*``...), or ``""``."""
        try:
            result = self.run("sinfo", "-h", "-N", "-n", self.hostname, "-o", "%t", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    def jobs(self) -> list[dict[str, str]]:
        """Jobs ``squeue`` lists (pending, running or completing): id, name and state of each."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T").stdout
        return [dict(zip(("id", "name", "state"), line.split("|"), strict=True)) for line in out.splitlines()]

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        """Install what is missing, start MUNGE, ``slurmctld`` and ``slurmd``, wait for the node to idle.

        Raises
        ------
        SlurmClusterError
            If any step fails; what was started is stopped again.
        """
        if self.started:
            return self
        ensure_installed()
        if os.geteuid() != 0:
            raise SlurmClusterError(
                "a test Slurm cluster runs its daemons as root (SlurmUser=root); not root"
            )
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.started = True  # so that stop() cleans up a partial start
        if self._own_workdir:
            self.workdir = Path(tempfile.mkdtemp(prefix="slurm-cluster-"))
        else:
            self.workdir = Path(self._workdir_arg).resolve()
            self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)  # munged requires execute permission for all on the path to its socket
        self._munged_pid = start_munged(self._path("munge"))
        for sub in ("state", "spool"):
            self._path(sub).mkdir(exist_ok=True)
        ports: set[int] = set()
        self.conf_path.write_text(self.config(_free_port(ports), _free_port(ports)))
        self._saved_slurm_conf = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf_path)
        self._env_set = True
        conf = str(self.conf_path)
        self._ctld = self._spawn("slurmctld", "-D", "-i", "-f", conf)
        self._wait(self._controller_answers, "slurmctld to answer 'scontrol ping'")
        self._slurmd = self._spawn("slurmd", "-D", "-N", self.hostname, "-f", conf)
        self._wait(lambda: self.node_state() == "idle", f"node {self.hostname} to be idle")

    def _spawn(self, daemon: str, *args: str) -> subprocess.Popen:
        program = which(daemon)
        if program is None:
            raise SlurmClusterError(f"{daemon} not found")
        out = open(self._path(f"{daemon}.out"), "wb")  # the daemon's own copy stays open
        try:
            return subprocess.Popen(
                [program, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        finally:
            out.close()

    def _controller_answers(self) -> bool:
        try:
            result = self.run("scontrol", "ping", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and "is UP" in result.stdout

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for name, proc in (("slurmctld", self._ctld), ("slurmd", self._slurmd)):
                if proc is not None and proc.poll() is not None:
                    raise SlurmClusterError(
                        f"{name} exited with status {proc.returncode} while waiting for {what}\n"
                        + self.diagnostics()
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise SlurmClusterError(
                    f"timed out after {self.timeout:.0f} s waiting for {what}\n" + self.diagnostics()
                )
            time.sleep(0.3)

    def diagnostics(self) -> str:
        """Node state, drain reasons and the tails of the daemons' logs."""
        parts = [f"slurm.conf: {self.conf_path}", f"node state: {self.node_state() or '(unknown)'}"]
        try:
            parts.append("sinfo -R:\n" + self.run("sinfo", "-R", check=False, timeout=10).stdout)
        except subprocess.TimeoutExpired:
            pass
        for name, lines in (
            ("slurmctld.out", 10),
            ("slurmctld.log", 20),
            ("slurmd.out", 10),
            ("slurmd.log", 20),
        ):
            parts.append(f"--- {name} ---\n{_log_tail(self._path(name), lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons (and the munged started here), remove the workdir."""
        if not self.started:
            return
        try:
            if self._ctld is not None and self._ctld.poll() is None:
                self._cancel_all_jobs()
            for proc in (self._slurmd, self._ctld):
                _terminate(proc)
            if self.workdir is not None:
                self._kill_strays()
        finally:
            self._ctld = self._slurmd = None
            if self._env_set:
                if self._saved_slurm_conf is None:
                    os.environ.pop("SLURM_CONF", None)
                else:
                    os.environ["SLURM_CONF"] = self._saved_slurm_conf
                self._env_set = False
            if self._munged_pid is not None:
                stop_munged(self._munged_pid)
                self._munged_pid = None
            if self._own_workdir and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.started = False

    def _cancel_all_jobs(self, timeout: float = 30.0) -> None:
        try:
            if not self.jobs():
                return
            self.run("scancel", "-u", pwd.getpwuid(os.geteuid()).pw_name, check=False)
            deadline = time.monotonic() + timeout
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.3)
        except (SlurmClusterError, subprocess.TimeoutExpired):
            pass

    def _kill_strays(self) -> None:
        """Kill job processes and ``slurmstepd`` of this cluster that outlived ``slurmd``.

        Job processes carry ``SLURM_CONF`` naming this cluster's configuration in their environment;
        ``slurmstepd`` clears its environment but keeps files (its log, its spool socket) in the workdir.
        """
        import psutil

        conf, prefix = str(self.conf_path), f"{self.workdir}{os.sep}"
        strays = []
        for proc in psutil.process_iter(["name"]):
            if proc.pid == os.getpid():
                continue
            try:
                if proc.info["name"] == "slurmstepd":
                    paths = [f.path for f in proc.open_files()]
                    paths += [c.laddr for c in proc.net_connections("unix") if isinstance(c.laddr, str)]
                    ours = any(p.startswith(prefix) for p in paths)
                else:
                    environ = proc.environ()
                    ours = environ.get("SLURM_CONF") == conf and "SLURM_JOB_ID" in environ
            except (psutil.Error, OSError):
                continue
            if ours:
                strays.append(proc)
        for proc in strays:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(strays, timeout=5)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
