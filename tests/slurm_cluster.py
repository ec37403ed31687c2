"""Real Slurm clusters on this machine for tests: one node, or several compute nodes in network namespaces.

Installs Debian's Slurm daemons, clients and ``munge`` when they are missing (needs root). Everything else
is private to a temporary directory, so the system's configuration (``/etc/slurm``, ``/etc/munge``,
``/run/munge``) is never touched and concurrent clusters do not interfere: a ``munged`` with its own key and
socket, a ``slurm.conf`` (no cgroups, no accounting) with free ports, state, spool and logs. Every daemon
(``munged``, ``slurmctld``, each ``slurmd``) runs in the foreground as a child process, so the cluster owns
their pids and stops them by pid. While the cluster is up, ``SLURM_CONF`` in ``os.environ`` points at the
private configuration, so Slurm clients run by this process (``sbatch``, ``squeue``, ``scancel`` from
Parsl's ``SlurmProvider``) and the jobs' environments talk to it.

:class:`SlurmCluster` is one node: ``slurmctld`` and ``slurmd`` both on this host.

:class:`MultiNodeSlurmCluster` has two or more compute nodes, each a network namespace with its own
hostname (a UTS namespace) and address on a private bridge; the login side (``slurmctld``, the clients, the
Parsl submit side) stays in this host's namespaces and reaches the nodes through the bridge::

    login (root namespace, bridge 10.a.b.1) --+-- veth -- pqXXXXXn1 (10.a.b.11, hostname pqXXXXXn1)
                                             +-- veth -- pqXXXXXn2 (10.a.b.12, hostname pqXXXXXn2)

Subnet, names and ports are chosen per run, and :meth:`SlurmCluster.stop` removes everything it made.

    with MultiNodeSlurmCluster(nodes=2) as cluster:
        provider = SlurmProvider(partition=cluster.partition, nodes_per_block=2, ...)
        executor = HighThroughputExecutor(address=cluster.login_address, provider=provider, ...)
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apt import install, install_lock

#: Programs every cluster needs, and the Debian package that provides each.
PROGRAMS = {
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "srun": "slurm-client",
    "squeue": "slurm-client",
    "scancel": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "munged": "munge",
    "munge": "munge",
    "unmunge": "munge",
}
#: Programs a multi-node cluster needs besides: namespaces and the bridge.
NETWORK_PROGRAMS = {"ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux"}
_SBIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])


ONE_BLOCK = {
    "init_blocks": 1,
    "min_blocks": 0,
    "max_blocks": 1,
    "walltime": "00:10:00",
    "cmd_timeout": 60,
    "exclusive": False,
}
"""``SlurmProvider`` settings the tests' pilots share: one block of ten minutes, nodes shared."""


class SlurmClusterError(RuntimeError):
    """The cluster could not be installed, configured or started."""


def which(program: str) -> str | None:
    """Path of ``program``, also searching the sbin directories that a non-login PATH may lack."""
    return shutil.which(program, path=_SEARCH_PATH)


def missing_programs(programs: dict[str, str] = PROGRAMS) -> list[str]:
    """Programs of ``programs`` not installed here."""
    return [p for p in programs if which(p) is None]


def ensure_installed(programs: dict[str, str] = PROGRAMS, timeout: float = 900.0) -> None:
    """Install the Debian packages of the missing ``programs`` with apt-get.

    Tries ``apt-get install --no-install-recommends`` first and, when that fails (stale package lists),
    ``apt-get update`` and the install again.

    Raises
    ------
    SlurmClusterError
        Naming the missing programs and packages, when they are missing and cannot be installed (not
        root, no apt-get, or apt-get failed).
    """
    missing = missing_programs(programs)
    if not missing:
        return
    packages = sorted({programs[p] for p in missing})
    what = f"missing programs {', '.join(missing)} (Debian packages {', '.join(packages)})"
    if os.geteuid() != 0:
        raise SlurmClusterError(
            f"{what}; not root, so they cannot be installed here: run "
            f"'apt-get install -y {' '.join(packages)}' as root"
        )
    if which("apt-get") is None:
        raise SlurmClusterError(f"{what}; apt-get is not available to install {' '.join(packages)}")
    with install_lock():
        if not missing_programs(programs):
            return  # another test process installed them while this one waited
        result, updated = install(packages, timeout)
        if result.returncode != 0:
            raise SlurmClusterError(
                f"{what}; 'apt-get install -y {' '.join(packages)}' failed (exit {result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}\napt-get update said:\n{_tail(updated)}"
            )
    still = missing_programs(programs)
    if still:
        raise SlurmClusterError(f"after installing {' '.join(packages)}, still missing: {', '.join(still)}")


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


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _terminate(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Stop a child process this module started: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a foreground daemon as a child in its own session, its output appended to ``log``."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )


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


def start_munged(directory: Path, timeout: float = 15.0) -> subprocess.Popen:
    """Start a private ``munged`` in the foreground; its key, socket, pid, seed and log are in ``directory``.

    The system's MUNGE (``/etc/munge``, ``/run/munge``) is neither used nor touched, so this cluster
    does not depend on, or disturb, a ``munged`` started by someone else. It runs as root (as the Slurm
    daemons do). Its socket is a file, so one ``munged`` serves every network namespace.

    Returns
    -------
    subprocess.Popen
        The daemon, a child of this process (stop it with :func:`_terminate`).
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
    sock, log = directory / "munge.socket", directory / "munged.log"
    proc = _spawn(
        [
            munged,
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={directory / 'munged.pid'}",
            f"--log-file={log}",
            f"--seed-file={directory / 'munged.seed'}",
        ],
        directory / "munged.out",
    )
    deadline = time.monotonic() + timeout
    while not munge_works(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            _terminate(proc)
            raise SlurmClusterError(
                f"munged did not start (exit {proc.returncode}); 'munge -n | unmunge' fails:\n"
                + _log_tail(directory / "munged.out")
                + "\n"
                + _log_tail(log)
            )
        time.sleep(0.1)
    return proc


# -- network namespaces -------------------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [which("ip") or "ip", *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check and result.returncode != 0:
        raise SlurmClusterError(f"'ip {' '.join(args)}' failed (exit {result.returncode}): {result.stderr}")
    return result


def free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that overlaps no address or route of this host's namespace."""
    used = []
    for line in (_ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout).splitlines():
        for word in line.split():
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(word, strict=False))
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{rng.randrange(64, 250)}.{rng.randrange(1, 250)}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise SlurmClusterError("no free 10.x.y.0/24 subnet for the test cluster's bridge")


class NodeNetwork:
    """A bridge in this host's namespace and one network namespace per compute node, linked by veth pairs.

    Parameters
    ----------
    prefix
        Prefix of every name made here (bridge, veths, namespaces); unique per run.
    nodes
        Number of compute nodes.
    subnet
        The /24 of the bridge (``.1``, the login side) and the nodes (``.11``, ``.12``, ...).
    """

    def __init__(self, prefix: str, nodes: int, subnet: ipaddress.IPv4Network) -> None:
        self.prefix = prefix
        self.subnet = subnet
        self.bridge = f"{prefix}br"
        self.namespaces = [f"{prefix}n{k}" for k in range(1, nodes + 1)]
        hosts = list(subnet.hosts())
        self.login_address = str(hosts[0])
        self.addresses = {ns: str(hosts[9 + k]) for k, ns in enumerate(self.namespaces, start=1)}
        self._made: list[str] = []

    def create(self) -> None:
        """Make the bridge, the namespaces and their links; what was made is recorded for :meth:`remove`."""
        # Bridged frames skip iptables on this bridge only (a host with Docker drops forwarded traffic),
        # without touching the host-wide net.bridge.bridge-nf-call-iptables.
        if _ip("link", "add", self.bridge, "type", "bridge", "nf_call_iptables", "0", check=False).returncode:
            _ip("link", "add", self.bridge, "type", "bridge")  # an iproute2 without the option
        self._made.append("bridge")
        _ip("addr", "add", f"{self.login_address}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for k, ns in enumerate(self.namespaces, start=1):
            result = _ip("netns", "add", ns, check=False)
            if result.returncode != 0:
                raise SlurmClusterError(
                    f"network namespaces are refused here ('ip netns add'): {result.stderr}"
                )
            self._made.append(ns)
            host_end, node_end = f"{self.prefix}v{k}", f"{self.prefix}p{k}"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
            _ip("link", "set", host_end, "master", self.bridge)
            _ip("link", "set", host_end, "up")
            _ip("link", "set", node_end, "netns", ns)
            _ip("-n", ns, "link", "set", node_end, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.addresses[ns]}/{self.subnet.prefixlen}", "dev", "eth0")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def pids(self) -> list[int]:
        """Processes living in the nodes' network namespaces."""
        found = []
        for ns in self.namespaces:
            if ns in self._made:
                found += [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()]
        return found

    def remove(self, timeout: float = 10.0) -> None:
        """Delete the namespaces and the veth pairs and bridge, and wait until the kernel has let them go
        (a namespace's veth pair is destroyed asynchronously after ``ip netns del``)."""
        for ns in self.namespaces:
            if ns in self._made:
                _ip("netns", "del", ns, check=False)
                self._made.remove(ns)
        for k in range(1, len(self.namespaces) + 1):
            _ip("link", "del", f"{self.prefix}v{k}", check=False)  # gone already, or going
        if "bridge" in self._made:
            _ip("link", "del", self.bridge, check=False)
            self._made.remove("bridge")
        deadline = time.monotonic() + timeout
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)

    def leftovers(self) -> list[str]:
        """Names made by this network that still exist (empty after :meth:`remove`)."""
        links = _ip("-o", "link", "show", check=False).stdout
        netns = _ip("netns", "list", check=False).stdout.split()
        veths = [f"{self.prefix}v{k}" for k in range(1, len(self.namespaces) + 1)]
        names = [self.bridge, *self.namespaces, *veths]
        return [n for n in names if f" {n}:" in links or f" {n}@" in links or n in netns]


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
        Seconds to wait for the nodes to become idle.
    """

    #: Programs this kind of cluster needs.
    programs: dict[str, str] = PROGRAMS

    def __init__(
        self, workdir: str | os.PathLike | None = None, partition: str = "debug", timeout: float = 60.0
    ):
        self.partition = partition
        self.timeout = timeout
        self._own_workdir = workdir is None
        self._workdir_arg = workdir
        self.workdir: Path | None = None
        self.hostname = socket.gethostname().split(".")[0]
        self._daemons: dict[str, subprocess.Popen] = {}
        self._munged: subprocess.Popen | None = None
        self._saved_slurm_conf: str | None = None
        self._env_set = False
        self.started = False

    # -- layout ----------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """Names (and hostnames) of the compute nodes."""
        return [self.hostname]

    @property
    def login_address(self) -> str:
        """Address of the login side (``slurmctld``) as the compute nodes reach it."""
        return "127.0.0.1"

    def node_lines(self) -> list[str]:
        """The ``NodeName`` lines of ``slurm.conf``."""
        memory = max(1, int(_total_memory_mb() * 0.9))
        return [
            f"NodeName={self.hostname} NodeAddr=127.0.0.1 CPUs={_cpus()} RealMemory={memory} State=UNKNOWN"
        ]

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
        d = self.workdir
        return "\n".join(
            [
                f"# Written by tests/slurm_cluster.py: a {type(self).__name__}, no cgroups, no accounting.",
                "ClusterName=pqtest",
                f"SlurmctldHost={self.hostname}({self.login_address})",
                f"SlurmctldPort={ctld_port}",
                # one port for every slurmd: on several nodes each has its own network namespace
                f"SlurmdPort={slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={d}/munge/munge.socket",
                f"StateSaveLocation={d}/state",
                # %n: per-node paths, the nodes share this filesystem
                f"SlurmdSpoolDir={d}/spool.%n",
                f"SlurmctldPidFile={d}/slurmctld.pid",
                f"SlurmdPidFile={d}/slurmd.%n.pid",
                f"SlurmctldLogFile={d}/slurmctld.log",
                f"SlurmdLogFile={d}/slurmd.%n.log",
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
                *self.node_lines(),
                f"PartitionName={self.partition} Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE "
                "State=UP",
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

    def node_states(self) -> dict[str, str]:
        """Each node's state as ``sinfo`` reports it (``idle``, ``mix``, ``down*``...); ``{}`` if unknown."""
        try:
            result = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return {}
        if result.returncode != 0:
            return {}
        return dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)

    def node_state(self, node: str | None = None) -> str:
        """The state of ``node`` (default: the first node) as ``sinfo`` reports it, or ``""``."""
        return self.node_states().get(node or self.nodes[0], "")

    def jobs(self) -> list[dict[str, str]]:
        """Jobs ``squeue`` lists (pending, running or completing): id, name and state of each."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T").stdout
        return [dict(zip(("id", "name", "state"), line.split("|"), strict=True)) for line in out.splitlines()]

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        """Install what is missing, start MUNGE, ``slurmctld`` and the ``slurmd``\\ s, wait for idle nodes.

        Raises
        ------
        SlurmClusterError
            If any step fails; what was started is stopped again.
        """
        if self.started:
            return self
        ensure_installed(self.programs)
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
        self._setup_network()
        self._munged = start_munged(self._path("munge"))
        self._path("state").mkdir(exist_ok=True)
        ports: set[int] = set()
        self.conf_path.write_text(self.config(_free_port(ports), _free_port(ports)))
        self._saved_slurm_conf = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf_path)
        self._env_set = True
        self._daemons["slurmctld"] = self._spawn_daemon("slurmctld", self.slurmctld_argv())
        self._wait(self._controller_answers, "slurmctld to answer 'scontrol ping'")
        for node in self.nodes:
            self._daemons[f"slurmd {node}"] = self._spawn_daemon(f"slurmd.{node}", self.slurmd_argv(node))
        self._wait(self._all_idle, f"nodes {', '.join(self.nodes)} to be idle")

    def _setup_network(self) -> None:
        """Make what the nodes need to reach each other (nothing for one node on this host)."""

    def slurmctld_argv(self) -> list[str]:
        """Command line of ``slurmctld`` (foreground)."""
        return [self._program("slurmctld"), "-D", "-i", "-f", str(self.conf_path)]

    def slurmd_argv(self, node: str) -> list[str]:
        """Command line of the ``slurmd`` of ``node`` (foreground)."""
        return [self._program("slurmd"), "-D", "-N", node, "-f", str(self.conf_path)]

    @staticmethod
    def _program(name: str) -> str:
        program = which(name)
        if program is None:
            raise SlurmClusterError(f"{name} not found")
        return program

    def _spawn_daemon(self, name: str, argv: list[str]) -> subprocess.Popen:
        return _spawn(argv, self._path(f"{name}.out"), env=self.env)

    def _all_idle(self) -> bool:
        states = self.node_states()
        return all(states.get(node) == "idle" for node in self.nodes)

    def _controller_answers(self) -> bool:
        try:
            result = self.run("scontrol", "ping", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and "is UP" in result.stdout

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for name, proc in self._daemons.items():
                if proc.poll() is not None:
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
            time.sleep(0.2)

    def diagnostics(self) -> str:
        """Node states, drain reasons and the tails of the daemons' logs."""
        parts = [f"slurm.conf: {self.conf_path}", f"node states: {self.node_states() or '(unknown)'}"]
        with contextlib.suppress(subprocess.TimeoutExpired):
            parts.append("sinfo -R:\n" + self.run("sinfo", "-R", check=False, timeout=10).stdout)
        logs = [("slurmctld.out", 10), ("slurmctld.log", 20)]
        for node in self.nodes:
            logs += [(f"slurmd.{node}.out", 10), (f"slurmd.{node}.log", 20)]
        for name, lines in logs:
            parts.append(f"--- {name} ---\n{_log_tail(self._path(name), lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons by pid, undo what :meth:`start` made, restore ``SLURM_CONF``."""
        if not self.started:
            return
        try:
            ctld = self._daemons.get("slurmctld")
            if ctld is not None and ctld.poll() is None:
                self._cancel_all_jobs()
            for name in sorted(self._daemons, key=lambda n: n == "slurmctld"):  # the slurmds first
                _terminate(self._daemons[name])
            if self.workdir is not None:
                self._kill_strays()
        finally:
            self._daemons.clear()
            if self._env_set:
                if self._saved_slurm_conf is None:
                    os.environ.pop("SLURM_CONF", None)
                else:
                    os.environ["SLURM_CONF"] = self._saved_slurm_conf
                self._env_set = False
            _terminate(self._munged)
            self._munged = None
            self._teardown_network()
            if self._own_workdir and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.started = False

    def _teardown_network(self) -> None:
        """Undo :meth:`_setup_network`."""

    def leftovers(self) -> list[str]:
        """What :meth:`stop` should have removed and is still there (daemons, network); empty when clean."""
        left = [f"{name} (pid {p.pid})" for name, p in self._daemons.items() if p.poll() is None]
        if self._munged is not None and self._munged.poll() is None:
            left.append(f"munged (pid {self._munged.pid})")
        if self.workdir is not None and self._own_workdir and self.workdir.exists():
            left.append(str(self.workdir))
        return left

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
        _kill_all(strays)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _kill_all(procs: list) -> None:
    """SIGKILL the ``psutil.Process``\\ es ``procs`` and wait for them."""
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


class MultiNodeSlurmCluster(SlurmCluster):
    """A Slurm cluster of ``nodes`` compute nodes, each in its own network and UTS namespace.

    The login side (``slurmctld``, Slurm clients, Parsl's submit side and interchange) is this host's own
    namespace, at :attr:`login_address` on a private bridge. Each node ``<prefix>n<k>`` is a network
    namespace holding one ``eth0`` on that bridge and a ``slurmd`` started as
    ``nsenter --net=<netns> unshare --uts sh -c "hostname <node> && exec slurmd -D ..."`` (not
    ``ip netns exec``, which remounts ``/sys`` and hides the cgroup tree that ``slurmd`` reads), so every
    job step on it reports the node's hostname. The filesystem is shared, as on a cluster with a shared
    home: the nodes run this checkout's virtual environment.

    Parameters
    ----------
    nodes
        Number of compute nodes (at least 2).
    cpus, memory_mb
        CPUs and ``RealMemory`` each node declares (Slurm enforces nothing without cgroups; jobs see their
        request as ``SLURM_MEM_PER_NODE`` and ``SLURM_CPUS_ON_NODE``).
    seed
        Seed for the per-run names and subnet (default: random).
    **kwargs
        As for :class:`SlurmCluster`.
    """

    programs = {**PROGRAMS, **NETWORK_PROGRAMS}

    def __init__(
        self,
        nodes: int = 2,
        cpus: int = 2,
        memory_mb: int = 4096,
        seed: int | None = None,
        **kwargs: object,
    ) -> None:
        if nodes < 2:
            raise ValueError(f"a multi-node cluster has at least 2 nodes, got {nodes}")
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rng = random.Random(seed)
        self.prefix = f"pq{self._rng.getrandbits(24):06x}"
        self.cpus = cpus
        self.memory_mb = memory_mb
        self._node_count = nodes
        self.network: NodeNetwork | None = None

    @property
    def nodes(self) -> list[str]:
        return [f"{self.prefix}n{k}" for k in range(1, self._node_count + 1)]

    @property
    def login_address(self) -> str:
        """The bridge's address in this host's namespace: where compute nodes reach the login side."""
        if self.network is None:
            raise SlurmClusterError("cluster not started")
        return self.network.login_address

    def node_lines(self) -> list[str]:
        assert self.network is not None
        return [
            f"NodeName={node} NodeAddr={self.network.addresses[node]} CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} State=UNKNOWN"
            for node in self.nodes
        ]

    def _setup_network(self) -> None:
        self.network = NodeNetwork(self.prefix, self._node_count, free_subnet(self._rng))
        self.network.create()

    def slurmd_argv(self, node: str) -> list[str]:
        slurmd = " ".join(super().slurmd_argv(node))
        return [
            self._program("nsenter"),
            f"--net=/run/netns/{node}",
            self._program("unshare"),
            "--uts",
            "sh",
            "-c",
            f"hostname {node} && exec {slurmd}",
        ]

    def _kill_strays(self) -> None:
        super()._kill_strays()
        if self.network is not None:  # anything still in the nodes' namespaces is this cluster's
            import psutil

            procs = []
            for pid in self.network.pids():
                with contextlib.suppress(psutil.Error):
                    procs.append(psutil.Process(pid))
            _kill_all(procs)

    def _teardown_network(self) -> None:
        if self.network is not None:
            self.network.remove()

    def leftovers(self) -> list[str]:
        left = super().leftovers()
        if self.network is not None:
            left += self.network.leftovers()
        return left


@contextlib.contextmanager
def started_or_skip(cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """Start ``cluster`` for a test module and stop it afterwards.

    Skips when it cannot start here (not root, no packages, network namespaces refused), except under
    ``CI=true``, where that is a failure: CI runs as root on a machine meant to run these tests.
    """
    try:
        cluster.start()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"could not start the test Slurm cluster (CI=true, so this fails): {exc}")
        pytest.skip(f"could not start a test Slurm cluster here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
