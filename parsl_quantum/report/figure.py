"""What every chart of the report shares: a figure without pyplot, the colours, saving a PNG.

Charts draw on a bare :class:`matplotlib.figure.Figure` (rendered by Agg), so a report never touches
pyplot's global state or needs a display; matplotlib is imported only when a chart is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OUTCOME_COLOURS = {
    "success": "#2e7d32",
    "error": "#c62828",
    "failed": "#6a1b9a",
    "unschedulable": "#ef6c00",
    "cancelled": "#757575",
    "pending": "#90a4ae",
}
"""Colour of each outcome of the user's tasks in every chart and on the page."""

ROLE_COLOURS = {
    "calibration": "#ffb300",
    "probe": "#4fc3f7",
    "warm-up": "#a1887f",
}
"""Colour of each kind of overhead task (:mod:`parsl_quantum.report.roles`) that succeeded; an overhead
task that did not succeed takes its outcome's colour."""

OVERHEAD_COLOUR = "#424242"
"""Hatching of the overhead tasks, all roles together, among a pilot's running tasks."""

PILOT_COLOURS = ("#1565c0", "#ad1457", "#00838f", "#9e9d24", "#4e342e", "#5e35b1", "#d84315", "#37474f")
"""Colours of pilots, in the order of :attr:`Run.pilots` (cycled)."""

DPI = 110


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches, drawn by Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def pilot_colour(index: int) -> str:
    """Colour of the pilot at ``index`` in the run's sorted pilot names."""
    return PILOT_COLOURS[index % len(PILOT_COLOURS)]


def save(figure: Any, path: Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` and return the path."""
    figure.savefig(path, format="png", dpi=DPI, facecolor="white")
    return path
