"""The run report: what happened in a run, as charts and one self-contained HTML page.

``write_report(run_dir, out)`` (or ``parsl-quantum report RUN_DIR -o OUT``) reads the quantum executors'
task records and Q-Dreamer's plans of a run and writes a Gantt chart of tasks over pilots and workers,
utilisation per pilot, queue waits and Q-Dreamer's predicted against measured times. Modules: ``run``
(loading), ``gantt``, ``utilisation``, ``queue_waits``, ``predictions`` (one chart each), ``figure``
(what the charts share), ``page`` (the HTML) and ``write`` (all of it). Importing this package does not
import matplotlib; drawing does.
"""

from parsl_quantum.report.run import Run, RunNotFoundError, TaskRow, load_run
from parsl_quantum.report.write import Report, ReportDependencyError, write_report

__all__ = [
    "Report",
    "ReportDependencyError",
    "Run",
    "RunNotFoundError",
    "TaskRow",
    "load_run",
    "write_report",
]
