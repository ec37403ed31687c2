"""Counts of a simulator result keyed as Qiskit's ``Result.get_counts`` keys them, built in one pass.

Aer returns each experiment's counts keyed by hexadecimal integers (``'0x1a'``). ``get_counts`` turns
every key into a bit string through a chain of conversions (hex to binary, padded by a second parse,
split into registers), which costs a couple of microseconds per distinct outcome: for a 16-qubit
circuit whose 4,096 shots give 4,000 outcomes, about as much as sampling them. :func:`counts_of` gives
the same dictionary with one integer parse and one padding per key.
"""

from __future__ import annotations

from typing import Any


def counts_of(result: Any, index: int) -> dict[str, int]:
    """Counts of experiment ``index`` of a Qiskit ``Result``, equal to ``dict(result.get_counts(index))``.

    Bits are written with classical bit 0 rightmost and registers separated by spaces, the last
    register leftmost. Results that do not carry hexadecimal counts and the header that describes their
    bits (memory slots, register sizes) go through ``get_counts`` itself.
    """
    experiment = result.results[index]
    header = getattr(experiment, "header", None)
    raw = getattr(experiment.data, "counts", None)
    if not isinstance(header, dict) or not isinstance(raw, dict) or not raw:
        return dict(result.get_counts(index))
    slots = header.get("memory_slots")
    first = next(iter(raw))
    if not slots or not isinstance(first, str) or not first.startswith("0x"):  # all keys alike
        return dict(result.get_counts(index))
    sizes = [int(size) for _, size in header.get("creg_sizes") or []]
    width = int(slots)
    if not sizes or sizes == [width]:
        return {bin(int(key, 16))[2:].zfill(width): value for key, value in raw.items()}
    bounds = []
    start = 0
    for size in reversed(sizes):
        bounds.append((start, start + size))
        start += size
    out = {}
    for key, value in raw.items():
        bits = bin(int(key, 16))[2:].zfill(width)
        out[" ".join(bits[a:b] for a, b in bounds)] = value
    return out
