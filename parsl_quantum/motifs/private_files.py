"""Files and folders the motifs write, readable by their owner only.

What the motifs write holds the user's work: pickled functions and arguments of MPI tasks (which a
process that can read them could also make run, by replacing them), optimiser checkpoints, ranks' outputs.
Folders are made with mode ``0700`` and files with ``0600``, whatever the umask, and files are written
through a temporary file that replaces the old one at once, so that a reader never sees half a file.
"""

from __future__ import annotations

import os
import uuid

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_private_folder(path: str) -> str:
    """Make ``path`` (and missing parents) with mode ``0700``; an existing folder keeps its mode.

    Returns
    -------
    str
        ``path``.
    """
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)
    return path


def make_new_private_folder(path: str) -> str:
    """Make the new folder ``path`` (its parent must exist) with mode ``0700``.

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """
    os.mkdir(path, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    return path


def open_private(path: str, mode: str = "wb"):  # noqa: ANN201 - a file object of the mode's kind
    """Open ``path`` for writing (``"w"`` or ``"wb"``), created or truncated with mode ``0600``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_private writes only ('w' or 'wb'), got mode {mode!r}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, mode)


def write_private(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` (mode ``0600``) through a temporary file, so that readers never see
    half of it."""
    partial = f"{path}.{uuid.uuid4().hex[:12]}.partial"  # concurrent writers never share one
    with open_private(partial, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(partial, path)
