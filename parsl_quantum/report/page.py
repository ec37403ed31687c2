"""The report's HTML page: one self-contained file, every chart inlined as a base64 ``data:`` URI.

The page is about the user's work: its headline (:mod:`parsl_quantum.report.summary`) and the pilot
table's task columns count the user's tasks; calibration, probe and warm-up tasks have a section of their
own and their own colours in the charts.
"""

from __future__ import annotations

import base64
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path

from parsl_quantum.report.figure import OUTCOME_COLOURS, ROLE_COLOURS
from parsl_quantum.report.predictions import plan_label
from parsl_quantum.report.roles import OVERHEAD, OVERHEAD_ROLES
from parsl_quantum.report.run import OUTCOMES, Run, pilot_name
from parsl_quantum.report.summary import headcount, summarise
from parsl_quantum.report.utilisation import pilot_use
from parsl_quantum.report.wording import plural, seconds

CAPTIONS = {
    "gantt": (
        "Tasks over pilots and workers",
        "One lane per worker of each pilot; each bar is a task from its start to its end on the worker. "
        "The user's tasks are coloured by outcome; calibration, probe and warm-up tasks that succeeded in "
        "colours of their own. Hatched bars on a pilot's 'not run' lane are tasks no worker started, "
        "drawn from submission to completion.",
    ),
    "utilisation": (
        "Utilisation per pilot",
        "Tasks running on each pilot over time, against the workers seen running its tasks (dashed); "
        "the calibration, probe and warm-up tasks among them hatched.",
    ),
    "queue_waits": (
        "Queue waits",
        "Seconds each of the user's tasks waited in the executor's queue, from submission until late "
        "binding chose its pilot: their distribution per pilot, and how many were waiting at each moment, "
        "by the pilot they were bound to.",
    ),
    "predictions": (
        "Q-Dreamer: predicted against measured",
        "Each task of the plans that ran, predicted against measured seconds (the dashed line is a perfect "
        "prediction), and each plan's predicted and measured makespan.",
    ),
}
"""Title and caption of each chart, by its name."""

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1250px; color: #212121; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.text { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; margin-right: 3px; }
.note { color: #555; }
table.summary td.value { font-weight: bold; }
"""


def data_uri(path: Path) -> str:
    """The PNG at ``path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def table(header: Iterable[str], rows: Iterable[Iterable[object]], text_columns: int = 1) -> str:
    """An HTML table; the first ``text_columns`` columns are left-aligned text, all cells escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=text' if i < text_columns else ''}>{escape(str(cell))}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def summary_section(run: Run) -> str:
    """The headline: the user's tasks, their wall time and per-task waits; what ran besides them."""
    rows = summarise(run.tasks).rows()
    body = "".join(
        f"<tr><td class=text>{escape(figure)}</td><td class=value>{escape(value)}</td>"
        f"<td class=text>{escape(meaning)}</td></tr>"
        for figure, value, meaning in rows
    )
    note = (
        "<p class=note>Calibration, probe and warm-up tasks are not the user's work: they are counted "
        "apart (section <a href=#overhead>Overhead</a>), drawn in colours of their own in the Gantt chart, "
        "hatched in the utilisation chart and left out of the queue waits.</p>"
        if run.overhead_tasks
        else ""
    )
    return f"<table class=summary>{body}</table>{note}"


def pilot_table(run: Run) -> str:
    """Per pilot: backend, user tasks by outcome, overhead tasks, workers, utilisation, the mean queue
    wait and the median run of its user tasks."""
    uses = {u.pilot: u for u in pilot_use(run)}
    names = sorted({pilot_name(run, t) for t in run.tasks})
    rows = []
    for name in names:
        every = [t for t in run.tasks if pilot_name(run, t) == name]
        mine = [t for t in every if t.role == "user"]
        counts = Counter(t.outcome for t in mine)
        waits = [t.queue_wait for t in mine if t.queue_wait is not None]
        runs = [t.end - t.start for t in mine if t.ran]
        use = uses.get(name)
        backends = ", ".join(sorted({f"{t.kind} {t.backend}" for t in every if t.backend}))
        rows.append(
            [
                name,
                backends or "-",
                len(mine),
                *(counts[o] for o in OUTCOMES),
                len(every) - len(mine),
                use.workers if use else 0,
                f"{use.utilisation:.0%}" if use else "-",
                seconds(statistics.fmean(waits) if waits else None),
                seconds(statistics.median(runs) if runs else None),
            ]
        )
    header = [
        "pilot",
        "backend",
        "user tasks",
        *OUTCOMES,
        "overhead tasks",
        "workers",
        "busy",
        "mean queue wait s",
        "median run s",
    ]
    return table(header, rows, text_columns=2) + (
        "<p class=note>Task counts by outcome, queue wait (per task, from submission to binding) and run "
        "time (per task, on the worker) are the user's tasks'; busy is the share of the pilot's workers' "
        "time over the run spent running any task, overhead included.</p>"
    )


def overhead_section(run: Run) -> str:
    """Calibration, probe and warm-up tasks: per role and pilot, how many, their functions and times."""
    if not run.overhead_tasks:
        return "<p>No calibration, probe or warm-up task ran in this run: every task is the user's.</p>"
    groups: dict[tuple[str, str], list] = {}
    for task in run.overhead_tasks:
        groups.setdefault((task.role, pilot_name(run, task)), []).append(task)
    rows = []
    for (role, pilot), tasks in sorted(groups.items(), key=lambda g: (OVERHEAD.index(g[0][0]), g[0][1])):
        ran = [t for t in tasks if t.ran]
        ends = [t.done if t.done is not None else t.end for t in tasks]
        ends = [e for e in ends if e is not None]
        rows.append(
            [
                role,
                ", ".join(sorted({t.name for t in tasks})),
                pilot,
                len(tasks),
                sum(t.outcome != "success" for t in tasks),
                seconds(sum(t.end - t.start for t in ran)),
                seconds(min(t.submit for t in tasks) - run.origin),
                seconds(max(ends) - run.origin if ends else None),
            ]
        )
    functions = "; ".join(
        f"{role}: " + ", ".join(sorted(name for name, r in OVERHEAD_ROLES.items() if r == role))
        for role in OVERHEAD
    )
    header = [
        "role",
        "functions",
        "pilot",
        "tasks",
        "did not succeed",
        "run s, summed over tasks",
        "first submitted s",
        "last completed s",
    ]
    intro = (
        "<p>Tasks that Q-Dreamer's calibration and probes, or a warm-up, ran on the pilots around the "
        f"user's work, known by their function's name ({escape(functions)}). Times are seconds since the "
        f"first task was submitted. In the Gantt chart: {swatches(ROLE_COLOURS)}.</p>"
    )
    return intro + table(header, rows, text_columns=3)


def problem_table(run: Run, limit: int = 50) -> str:
    """The tasks that did not succeed (the first ``limit``), with their errors."""
    problems = [t for t in run.tasks if t.outcome != "success"]
    if not problems:
        return "<p>Every task succeeded.</p>"
    rows = [
        [t.task_id, t.name, t.role, t.pilot or "-", t.outcome, t.attempts, (t.error or "")[:300]]
        for t in problems[:limit]
    ]
    more = f"<p class=note>... and {len(problems) - limit} more.</p>" if len(problems) > limit else ""
    header = ["task", "function", "role", "pilot", "outcome", "attempts", "error"]
    return table(header, rows, text_columns=7) + more


def plan_section(run: Run, images: Mapping[str, Path]) -> str:
    """Q-Dreamer's section: the chart and a table of the plans that ran, or why there is none."""
    if not run.plan_runs:
        if run.plans:
            none = "it did not run" if len(run.plans) == 1 else "none of them ran"
            return f"<p>Q-Dreamer made {plural(len(run.plans), 'plan')} in this run, but {none}.</p>"
        return (
            "<p>No Q-Dreamer plan ran in this run (no plan was recorded in "
            f"<code>{escape(str(run.run_dir / 'q_dreamer' / 'plans.jsonl'))}</code>), so there are no "
            "predictions to compare with measurements.</p>"
        )
    rows = []
    for p in run.plan_runs:
        chosen = p.plan.get("chosen", {})
        ratio = p.measured_makespan_s / p.predicted_makespan_s if p.predicted_makespan_s > 0 else None
        rows.append(
            [
                plan_label(p),
                p.plan.get("circuit", "-"),
                p.plan.get("qubits", "-"),
                chosen.get("num_cuts", "-"),
                chosen.get("num_subexperiments", "-"),
                chosen.get("shots", "-"),
                len(p.plan.get("alternatives", [])),
                seconds(p.plan.get("planning_s")),
                seconds(p.predicted_makespan_s),
                seconds(p.measured_makespan_s),
                "-" if ratio is None else f"{ratio:.2f}",
            ]
        )
    header = [
        "plan",
        "circuit",
        "qubits",
        "cuts",
        "subexperiments",
        "shots",
        "alternatives",
        "planning s",
        "predicted s",
        "measured s",
        "measured / predicted",
    ]
    return figure_html("predictions", images) + table(header, rows, text_columns=2)


def figure_html(name: str, images: Mapping[str, Path]) -> str:
    """The chart ``name`` inlined, with its caption."""
    title, caption = CAPTIONS[name]
    return (
        f'<figure><img id="{name}" alt="{escape(title)}" src="{data_uri(images[name])}">'
        f"<figcaption class=note>{escape(caption)}</figcaption></figure>"
    )


def swatches(colours: Mapping[str, str]) -> str:
    """A colour key: a swatch and the name of each entry of ``colours``."""
    return " ".join(
        f'<span class=swatch style="background:{colour}"></span>{escape(name)}'
        for name, colour in colours.items()
    )


def html_page(run: Run, images: Mapping[str, Path]) -> str:
    """The report of ``run`` as one HTML page, with the charts in ``images`` (name to PNG) inlined."""
    legend = f"User tasks by outcome: {swatches({o: OUTCOME_COLOURS[o] for o in OUTCOMES})}"
    if run.overhead_tasks:
        legend += f"; overhead tasks that succeeded: {swatches(ROLE_COLOURS)}"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.origin)) if run.tasks else "-"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>parsl-quantum run report: {escape(str(run.run_dir))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>parsl-quantum run report</h1>",
        f"<p>Run directory <code>{escape(str(run.run_dir))}</code>; first task submitted {started}; "
        f"{escape(headcount(run.tasks))}.</p>",
        "<h2>The user's tasks</h2>",
        summary_section(run),
        "<h2>Pilots</h2>",
        pilot_table(run) if run.tasks else "<p>No quantum task was submitted in this run.</p>",
    ]
    for name in ("gantt", "utilisation", "queue_waits"):
        if name in images:
            parts += [f"<h2>{escape(CAPTIONS[name][0])}</h2>", figure_html(name, images)]
            if name == "gantt":
                parts.append(f"<p class=note>{legend}</p>")
    parts += ['<h2 id="overhead">Overhead: calibration, probes and warm-up</h2>', overhead_section(run)]
    parts += [f"<h2>{escape(CAPTIONS['predictions'][0])}</h2>", plan_section(run, images)]
    parts += ["<h2>Tasks that did not succeed</h2>", problem_table(run), "</body></html>"]
    return "\n".join(parts)
