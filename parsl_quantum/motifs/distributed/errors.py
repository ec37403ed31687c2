"""The errors of a :func:`~parsl_quantum.motifs.distributed.distributed` app, and the one a set of failed
ranks' reports becomes."""

from __future__ import annotations

from collections.abc import Sequence

from parsl_quantum.errors import GPUUnavailableError
from parsl_quantum.motifs.distributed.rank import RankFailure


class DistributedTaskError(RuntimeError):
    """An MPI task of a :func:`distributed` app failed.

    Attributes
    ----------
    rank, size
        The rank whose exception is reported (the lowest that reported one) and the number of ranks;
        ``None`` when no rank reported one (see :class:`MPILaunchError`).
    failed_ranks
        Every rank that reported an exception.
    exception
        That rank's exception, when it could be shipped back.
    remote_traceback
        Its traceback on the rank, as text.
    """

    def __init__(
        self,
        message: str,
        *,
        rank: int | None = None,
        size: int | None = None,
        failed_ranks: Sequence[int] = (),
        exception: BaseException | None = None,
        remote_traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.size = size
        self.failed_ranks = list(failed_ranks)
        self.exception = exception
        self.remote_traceback = remote_traceback


class DistributedGPUUnavailableError(DistributedTaskError, GPUUnavailableError):
    """A rank of a :func:`distributed` app found no usable GPU (catch it as either base class)."""


class MPILaunchError(DistributedTaskError):
    """The MPI job failed, or timed out, without a rank reporting an exception (launcher missing, a rank
    killed by a signal, bad launcher options...). The message quotes the launcher's stderr."""


def rank_error(name: str, failures: Sequence[RankFailure]) -> DistributedTaskError:
    """The error to raise for the ranks' reports (the lowest failed rank's exception first)."""
    first = failures[0]
    ranks = [f.rank for f in failures]
    message = (
        f"distributed app '{name}' failed on rank {first.rank} of {first.size}: "
        f"{first.type_name}: {first.message}"
    )
    if len(ranks) > 1:
        message += f" (ranks {', '.join(map(str, ranks))} failed)"
    message += f"\n--- traceback on rank {first.rank} ---\n{first.traceback.rstrip()}"
    exception = first.load_exception()
    kind = (
        DistributedGPUUnavailableError if isinstance(exception, GPUUnavailableError) else DistributedTaskError
    )
    return kind(
        message,
        rank=first.rank,
        size=first.size,
        failed_ranks=ranks,
        exception=exception,
        remote_traceback=first.traceback,
    )
