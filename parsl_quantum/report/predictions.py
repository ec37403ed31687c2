"""Q-Dreamer's predictions against what was measured, for each plan that ran and each of its tasks."""

from __future__ import annotations

from pathlib import Path

from parsl_quantum.report.figure import PILOT_COLOURS, new_figure, save
from parsl_quantum.report.run import PlanRun, Run


def plan_label(plan_run: PlanRun) -> str:
    """A short name of a plan that ran: its id and chosen configuration."""
    chosen = plan_run.plan.get("chosen", {}) if isinstance(plan_run.plan, dict) else {}
    return f"{plan_run.plan_id}: {chosen.get('label', '?')}"


def task_pairs(plan_run: PlanRun) -> list[tuple[float, float]]:
    """``(predicted_s, measured_s)`` of the plan's tasks that have both."""
    pairs = []
    for task in plan_run.tasks:
        predicted, measured = task.get("predicted_s"), task.get("measured_s")
        if isinstance(predicted, int | float) and isinstance(measured, int | float):
            pairs.append((float(predicted), float(measured)))
    return pairs


def prediction_chart(run: Run, path: Path) -> Path | None:
    """Draw predicted against measured times of the plans that ran to the PNG ``path``.

    Left, each task's predicted and measured seconds against the line of perfect prediction; right, each
    plan's predicted and measured makespan. Returns ``None`` (and draws nothing) when no plan ran.
    """
    if not run.plan_runs:
        return None
    import numpy as np

    figure = new_figure(11, 4.2)
    tasks, makespans = figure.subplots(1, 2)
    every = []
    for i, plan_run in enumerate(run.plan_runs):
        pairs = task_pairs(plan_run)
        every += pairs
        if pairs:
            predicted, measured = zip(*pairs, strict=True)
            tasks.scatter(
                predicted,
                measured,
                s=16,
                alpha=0.8,
                color=PILOT_COLOURS[i % len(PILOT_COLOURS)],
                label=plan_label(plan_run),
            )
    if every:
        low = min(min(p) for p in every)
        high = max(max(p) for p in every)
        if low > 0 and high / low > 20:
            tasks.set_xscale("log")
            tasks.set_yscale("log")
        tasks.plot([low, high], [low, high], color="#444444", linestyle="--", linewidth=0.9, label="exact")
        tasks.legend(fontsize=8)
    else:
        tasks.text(
            0.5, 0.5, "no per-task times recorded", ha="center", va="center", transform=tasks.transAxes
        )
    tasks.set_xlabel("predicted task time (s)")
    tasks.set_ylabel("measured task time (s)")
    tasks.set_title(f"Tasks ({len(every)})", fontsize=9, loc="left")
    positions = np.arange(len(run.plan_runs))
    predicted = [p.predicted_makespan_s for p in run.plan_runs]
    measured = [p.measured_makespan_s for p in run.plan_runs]
    makespans.bar(positions - 0.2, predicted, width=0.4, color="#90caf9", label="predicted")
    makespans.bar(positions + 0.2, measured, width=0.4, color="#1565c0", label="measured")
    for x, p, m in zip(positions, predicted, measured, strict=True):
        ratio = f"x{m / p:.2f}" if p > 0 else ""
        makespans.annotate(ratio, (x + 0.2, m), ha="center", va="bottom", fontsize=8)
    makespans.set_xticks(positions, [plan_label(p) for p in run.plan_runs], fontsize=8, rotation=15)
    makespans.set_ylabel("makespan (s)")
    makespans.set_title("Plans: measured / predicted", fontsize=9, loc="left")
    makespans.legend(fontsize=8)
    for ax in (tasks, makespans):
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    figure.suptitle("Q-Dreamer: predicted against measured")
    return save(figure, path)
