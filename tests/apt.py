"""Installing Debian packages from the tests (as root), one installer at a time.

The integration tier runs two pytest workers, and fixtures on each may need a package (Slurm, headless
Chromium) at once on a fresh machine: dpkg takes one installer at a time and fails the other at once.
Installs here hold :data:`LOCK` (an exclusive ``flock``) and ask apt-get to wait for dpkg's own lock
(an unattended upgrade, an installer outside the tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "parsl-quantum-apt.lock"


def apt_get(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """``apt-get args``, non-interactive, waiting up to ``timeout`` seconds for dpkg's lock."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "-o", f"DPkg::Lock::Timeout={int(timeout)}", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@contextlib.contextmanager
def install_lock() -> Iterator[None]:
    """Hold :data:`LOCK` for the block."""
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(
    packages: list[str], timeout: float, recommends: bool = False
) -> tuple[subprocess.CompletedProcess, str]:
    """Install ``packages`` (their recommended packages too with ``recommends``), running ``apt-get
    update`` and trying again when the first try fails (stale package lists). Call it holding
    :func:`install_lock`. Returns the last install's result and what the update printed (empty when none
    ran)."""
    command = ("install", "-y", "-q", *([] if recommends else ["--no-install-recommends"]), *packages)
    result = apt_get(*command, timeout=timeout)
    if result.returncode == 0:
        return result, ""
    update = apt_get("update", "-q", timeout=timeout)
    return apt_get(*command, timeout=timeout), update.stdout + update.stderr
