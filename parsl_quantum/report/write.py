"""Writing a run's report: the charts as PNGs and the HTML page that inlines them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from parsl_quantum.report.run import Run, load_run


class ReportDependencyError(ImportError):
    """matplotlib, which draws the report's charts, is not installed."""


def require_matplotlib() -> None:
    """Check that the charts can be drawn.

    Raises
    ------
    ReportDependencyError
        Saying what to install, when matplotlib is missing.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportDependencyError(
            "the run report draws its charts with matplotlib, which is not installed: "
            "pip install 'parsl-quantum[report]'"
        ) from exc


@dataclass(frozen=True)
class Report:
    """The files of a written report.

    Attributes
    ----------
    html
        The self-contained HTML page (an absolute path).
    images
        Each chart's PNG (an absolute path), by name: ``gantt``, ``utilisation``, ``queue_waits`` (where a
        user task was bound) and, where a Q-Dreamer plan ran, ``predictions``.
    run
        The run it reports on.
    """

    html: Path
    images: dict[str, Path] = field(default_factory=dict)
    run: Run | None = None

    def __str__(self) -> str:
        lines = [f"report of {self.run.run_dir if self.run else '?'}:"]
        lines += [f"  {name:12} {path}" for name, path in self.images.items()]
        lines.append(f"  {'page':12} {self.html}")
        return "\n".join(lines)


def write_report(run_dir: str | Path, out: str | Path) -> Report:
    """Write the report of the run at ``run_dir`` into the directory ``out`` (created if missing).

    Parameters
    ----------
    run_dir
        A Parsl run directory (``runinfo/000``) or a directory of runs (the newest is reported).
    out
        Directory for ``gantt.png``, ``utilisation.png``, ``queue_waits.png``, ``predictions.png`` (where a
        plan ran) and ``report.html``.

    Raises
    ------
    RunNotFoundError
        If no quantum executor's task records are found under ``run_dir``.
    ReportDependencyError
        If matplotlib is not installed.
    """
    require_matplotlib()
    from parsl_quantum.report.gantt import gantt_chart
    from parsl_quantum.report.page import html_page
    from parsl_quantum.report.predictions import prediction_chart
    from parsl_quantum.report.queue_waits import queue_wait_chart
    from parsl_quantum.report.utilisation import utilisation_chart

    run = load_run(run_dir)
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, Path] = {}
    if run.tasks:
        images["gantt"] = gantt_chart(run, out / "gantt.png")
        if any(t.ran for t in run.tasks):
            images["utilisation"] = utilisation_chart(run, out / "utilisation.png")
        if any(t.queue_wait is not None for t in run.user_tasks):
            images["queue_waits"] = queue_wait_chart(run, out / "queue_waits.png")
    predictions = prediction_chart(run, out / "predictions.png")
    if predictions is not None:
        images["predictions"] = predictions
    html = out / "report.html"
    html.write_text(html_page(run, images), encoding="utf-8")
    return Report(html=html, images=images, run=run)
