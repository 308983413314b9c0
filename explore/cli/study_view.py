"""How ``explore run`` and ``explore status`` show a study: numbers, trial lines, the front table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from rich.console import Console
    from rich.table import Table

    from explore.search.status import StudyStatus
    from explore.search import Counts


def fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def status_text(counts: Counts, front_size: int) -> str:
    return (f"done {counts.complete} · infeasible {counts.infeasible} · stopped early {counts.pruned} · "
            f"failed {counts.failed} · running {counts.running} · front {front_size}")


def finished_line(trial: FrozenTrial, labels: list[str]) -> str:
    from optuna.trial import TrialState

    from explore.search.front import REPEAT_ATTR

    if trial.state == TrialState.PRUNED:
        return f"trial {trial.number}: stopped early ({trial.user_attrs.get('early_stop', {}).get('reason', '')})"
    if trial.state == TrialState.FAIL:
        return f"trial {trial.number}: failed ({trial.user_attrs.get('error', 'worker gone; queued again')})"
    if REPEAT_ATTR in trial.user_attrs:
        return f"trial {trial.number}: the genome of trial {trial.user_attrs[REPEAT_ATTR]}, its result reused"
    if trial.user_attrs.get("infeasible"):
        return f"trial {trial.number}: infeasible ({'; '.join(trial.user_attrs.get('violations', []))})"
    return f"trial {trial.number}: " + ", ".join(f"{k} {fmt(v)}" for k, v in zip(labels, trial.values))


def front_table(status: StudyStatus) -> Table:
    from rich.table import Table

    rows = status.front
    table = Table(title=f"Pareto front of {status.campaign.name} ({len(rows)} designs)")
    for column in ["trial", *status.objectives.labels, "genome"]:
        table.add_column(column, overflow="fold")
    for row in rows:
        genome = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in (row["genome"] or {}).items())
        table.add_row(str(row["trial"]), *(fmt(v) for v in row["values"].values()), genome)
    return table


#: columns a piped table may take: any table this tool prints is narrower
UNBOUNDED = 10_000


def stdout_console(table: Table) -> Console:
    """The console for stdout.  On a terminal it fits the window.  Piped (a file, a CI log, grep) there
    is no window: it is as wide as ``table`` is without folding, so the table keeps one line per row
    instead of folding into fragments at 80 columns."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    if console.is_terminal:
        return console
    unbounded = console.options.update_width(UNBOUNDED)
    return Console(width=max(Measurement.get(console, unbounded, table).maximum, console.width))
