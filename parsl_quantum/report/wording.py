"""How numbers read in the report, the demo and the command line: counts with their nouns, seconds."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1: ``1 task``, ``2 tasks``, ``0 tasks``.

    Parameters
    ----------
    count
        How many.
    noun
        The singular.
    nouns
        The plural, where it is not ``noun + "s"`` (``"1 entry"``, ``"2 entries"``).
    """
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def seconds(value: float | None) -> str:
    """Seconds to 3 significant digits, or a dash."""
    return "-" if value is None else f"{value:.3g}"
