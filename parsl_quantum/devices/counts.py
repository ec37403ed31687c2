"""Counts keyed as Qiskit's ``Result.get_counts`` keys them, built in one pass.

Aer returns each experiment's counts keyed by hexadecimal integers (``'0x1a'``). ``get_counts`` turns
every key into a bit string through a chain of conversions (hex to binary, padded by a second parse,
split into registers), which costs a couple of microseconds per distinct outcome: for a 16-qubit
circuit whose 4,096 shots give 4,000 outcomes, about as much as sampling them. :func:`keyed_counts`
writes an outcome's key with one padding per outcome; :func:`counts_of` reads a result with it, and the
devices that tally outcomes themselves (marginal sampling, independent parts joined shot by shot) key
their counts with it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def keyed_counts(outcomes: Iterable[tuple[int, int]], header: Mapping[str, Any]) -> dict[str, int]:
    """Counts of ``(outcome, count)`` pairs, each outcome an integer over the memory slots, keyed as
    ``get_counts`` keys them for an experiment ``header`` (its ``memory_slots`` and ``creg_sizes``):
    classical bit 0 rightmost, padded to the memory slots, registers separated by spaces with the last
    register leftmost. Without memory slots the bits are written unpadded, as Qiskit writes them."""
    slots = header.get("memory_slots")
    if not slots:
        return {bin(value)[2:]: n for value, n in outcomes}
    width = int(slots)
    sizes = [int(size) for _, size in header.get("creg_sizes") or []]
    if not sizes or sizes == [width]:
        return {bin(value)[2:].zfill(width): n for value, n in outcomes}
    bounds = []
    start = 0
    for size in reversed(sizes):
        bounds.append((start, start + size))
        start += size
    out = {}
    for value, n in outcomes:
        bits = bin(value)[2:].zfill(width)
        out[" ".join(bits[a:b] for a, b in bounds)] = n
    return out


def counts_of(result: Any, index: int) -> dict[str, int]:
    """Counts of experiment ``index`` of a Qiskit ``Result``, equal to ``dict(result.get_counts(index))``
    (see :func:`keyed_counts`). Results that do not carry hexadecimal counts and the header that
    describes their bits go through ``get_counts`` itself."""
    experiment = result.results[index]
    header = getattr(experiment, "header", None)
    raw = getattr(experiment.data, "counts", None)
    if not isinstance(header, dict) or not isinstance(raw, dict) or not raw:
        return dict(result.get_counts(index))
    first = next(iter(raw))
    if not header.get("memory_slots") or not isinstance(first, str) or not first.startswith("0x"):
        return dict(result.get_counts(index))  # all keys are alike: the first tells
    return keyed_counts(((int(key, 16), n) for key, n in raw.items()), header)
