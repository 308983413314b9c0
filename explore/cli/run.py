"""``explore run``: the search as a live display; then, if asked, the report and the front's bundles."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

from explore.cli.export import run_export
from explore.cli.options import campaign_argument, heartbeat_option, results_option, storage_option, trials_option
from explore.cli.report import run_report
from explore.cli.study_view import finished_line, front_table, status_text, stdout_console

if TYPE_CHECKING:
    from rich.console import Console

    from explore.search.campaign_run import SearchOutcome, SearchPlan, Snapshot
    from explore.search.proposals import Proposals, StageProgress


@dataclass(frozen=True)
class RunOptions:
    campaign: Path
    trials: int | None
    workers: int
    storage: str | None
    results: Path
    heartbeat: float
    with_report: bool
    export_dir: Path | None


@click.command()
@campaign_argument
@trials_option
@click.option("--workers", type=int, default=1, show_default=True, help="Local worker processes.")
@storage_option
@results_option
@heartbeat_option
@click.option("--report", "with_report", is_flag=True, help="Then write the report (explore report).")
@click.option("--export", "export_dir", type=click.Path(path_type=Path), default=None,
              help="Then export the Pareto front's firmware bundles into this directory (explore export --pareto).")
def run(**params: Any) -> None:
    """Search CAMPAIGN's space: a multi-objective Optuna study.

    \b
    Each trial:
      1. samples a genome (architecture, AGP sparsity, trainable layers,
         lambda_min/lambda_max, numeric configuration) from search.space
      2. costs it on every board before training (explore cost)
      3. if it breaks a budget: records it as infeasible (Optuna
         constraints) and trains nothing
      4. else runs the pipeline of explore evaluate into
         results/<campaign>/trials/<n>/, stopping on-device training early
         when its accuracy can no longer reach the Pareto front
         (search.early_stopping; rule in explore/search/early_stop.py)
      5. stores the objective values, metrics, costs and artefact paths

    Re-running continues the study to --trials finished trials: finished
    trials are kept, and trials of killed workers are failed and run again.
    Exit status 1 if the workers stopped before that.

    \b
    Example:
      explore run search_spaces/quickstart.yaml --workers 2
      explore run search_spaces/quickstart.yaml --report --export results/quickstart/bundles
      explore run big.yaml --storage postgresql://explore@db/explore --workers 2
    """
    options = RunOptions(**params)
    from rich.console import Console

    from explore.search.campaign_run import search_campaign

    display = _LiveSearch(Console(stderr=True))
    outcome = search_campaign(options.campaign, trials=options.trials, workers=options.workers,
                              storage=options.storage, results=options.results, heartbeat=options.heartbeat,
                              display=display)
    _print_outcome(options, outcome, display.console)
    if not outcome.reached_target:
        raise SystemExit(1)
    # The report and the bundles are the follow-up commands' own (report/ and deploy/ sit above search/).
    where = []
    if options.with_report:
        where.append(f"report {run_report(options.campaign, None, options.storage, options.results) / 'index.html'}")
    if options.export_dir:
        bundles = run_export(options.campaign, None, True, None, options.export_dir, options.storage, options.results)
        where.append(f"{len(bundles)} firmware bundle(s) in {options.export_dir}/")
    if where:
        print("done: " + "; ".join(where))


def _print_outcome(options: RunOptions, outcome: SearchOutcome, progress_console: Console) -> None:
    plan, status = outcome.plan, outcome.status
    for i, code in outcome.worker_exits.items():
        progress_console.print(f"worker {i} exited with status {code}; see {plan.logs}/worker-{i}.log", style="red")
    table = front_table(status)
    stdout_console(table).print(table)
    print(f"{status.counts.finished} of {plan.target} trials finished "
          f"({status_text(status.counts, len(status.front))}); "
          f"explore status {options.campaign} shows the study again.")


class _LiveSearch:
    """The search's display on stderr: the gradient search's stages, then a line per finished trial
    under a progress bar of the study's count."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def proposing(self) -> Iterator[StageProgress]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("dnas {task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.console) as progress:
            tasks: dict[str, Any] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            yield report

    def proposed(self, proposals: Proposals) -> None:
        result = proposals.result
        if result is None:
            self.console.print(f"dnas: {proposals.count} proposals already in the study", highlight=False)
            return
        self.console.print(f"dnas: supernet {result.seconds['supernet']:.0f} s (final loss "
                           f"{result.supernet_history[-1]['loss']:.3f}), {result.runs} gradient runs in "
                           f"{result.seconds['search']:.0f} s, {result.feasible_fraction:.0%} feasible when rounded; "
                           f"{proposals.count} designs enqueued (details in {proposals.details})", highlight=False)

    def started(self, plan: SearchPlan) -> None:
        self.console.print(f"explore run: {plan.campaign.name}, {plan.target} trials with "
                           f"{plan.campaign.search.sampler.name} on {plan.workers} local worker(s); storage "
                           f"{plan.storage}; worker logs in {plan.logs}/", highlight=False)

    @contextmanager
    def watching(self, plan: SearchPlan) -> Iterator[Callable[[Snapshot], None]]:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = (BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = None

            def update(snapshot: Snapshot) -> None:
                nonlocal task
                for trial in snapshot.newly_finished:
                    progress.console.print(finished_line(trial, plan.objectives.labels), highlight=False)
                finished, status = snapshot.counts.finished, status_text(snapshot.counts, snapshot.front_size)
                if task is None:
                    # ETA counts only this run's trials: those finished before it say nothing of its pace.
                    task = progress.add_task("trials", total=plan.target, completed=finished, status=status)
                progress.update(task, completed=min(finished, plan.target), status=status)

            yield update

    def interrupted(self) -> None:
        self.console.print("interrupted: running trials were queued again; explore run continues the study",
                           style="yellow")
