"""Terminal side of ``explore run``, ``explore worker`` and ``explore status`` (issue 5).

``run`` starts K ``explore worker`` processes on this machine (their output goes to
``results/<campaign>/logs/worker-<i>.log``) and draws the study's progress from its storage, so
that workers on other machines show in the same display.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from explore.campaign import Campaign
from explore.errors import BadInput
from explore.campaign.storage import redacted
from explore.search.front import count_trials, pareto_front
from explore.search.liveness import SlotLock
from explore.search.storage import open_storage
from explore.search.study import existing_study, load_search_campaign, objective_labels, open_study, storage_location
from explore.search.worker import WorkerOptions, work


def _target(campaign: Campaign, trials: int | None) -> int:
    if trials is not None and trials < 1:
        raise BadInput(f"--trials: must be at least 1 (got {trials})")
    return trials if trials is not None else campaign.search.trials


def run_worker(campaign_path: Path, storage: str | None, trials: int | None, results: Path,
               seed_offset: int | None, heartbeat: float, quiet: bool) -> None:
    campaign = load_search_campaign(campaign_path)
    where_storage, where = storage_location(campaign, storage, results)
    offset = seed_offset if seed_offset is not None else os.getpid()
    options = WorkerOptions(where_storage, where, _target(campaign, trials), results, campaign.seed + offset,
                            heartbeat)
    work(campaign, options, log=(lambda line: None) if quiet else (lambda line: print(line, flush=True)))


# --- explore run -------------------------------------------------------------------------------------------


def _worker_command(campaign_path: Path, storage: str, target: int, results: Path, index: int,
                    heartbeat: float) -> list[str]:
    return [sys.executable, "-m", "explore", "worker", str(campaign_path), "--storage", storage,
            "--trials", str(target), "--results", str(results), "--seed-offset", str(index),
            "--heartbeat", str(heartbeat)]


def _status_text(trials: list[FrozenTrial], directions: list[str]) -> str:
    c = count_trials(trials)
    return (f"done {c.complete} · infeasible {c.infeasible} · stopped early {c.pruned} · failed {c.failed} · "
            f"running {c.running} · front {len(pareto_front(trials, directions))}")


def _finished_line(trial: FrozenTrial, labels: list[str]) -> str:
    if trial.state == TrialState.PRUNED:
        return f"trial {trial.number}: stopped early ({trial.user_attrs.get('early_stop', {}).get('reason', '')})"
    if trial.state == TrialState.FAIL:
        return f"trial {trial.number}: failed ({trial.user_attrs.get('error', 'worker gone; queued again')})"
    if trial.user_attrs.get("infeasible"):
        return f"trial {trial.number}: infeasible ({'; '.join(trial.user_attrs.get('violations', []))})"
    return f"trial {trial.number}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in zip(labels, trial.values))


def _fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def run_campaign(campaign_path: Path, trials: int | None, workers: int, storage: str | None, results: Path,
                 heartbeat: float, report: bool = False, export_dir: Path | None = None) -> None:
    """Run the study to its count; then, if asked, write the report and export the front."""
    _search(campaign_path, trials, workers, storage, results, heartbeat)
    if not (report or export_dir):
        return
    where = []
    if report:
        from explore.cli.report import run_report

        where.append(f"report {run_report(campaign_path, None, storage, results) / 'index.html'}")
    if export_dir:
        from explore.cli.export import run_export

        bundles = run_export(campaign_path, None, True, None, export_dir, storage, results)
        where.append(f"{len(bundles)} firmware bundle(s) in {export_dir}/")
    print("done: " + "; ".join(where))


def _search(campaign_path: Path, trials: int | None, workers: int, storage: str | None, results: Path,
            heartbeat: float) -> None:
    campaign = load_search_campaign(campaign_path)
    if workers < 1:
        raise BadInput(f"--workers: must be at least 1 (got {workers})")
    target = _target(campaign, trials)
    where_storage, where = storage_location(campaign, storage, results)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Opening the study here reports an unreachable storage before any worker starts.
    study = open_study(campaign, open_storage(where_storage, where), optuna.samplers.RandomSampler(), where)
    if campaign.search.sampler.gradient:
        _propose_designs(campaign, study, where_storage, target, results)
    labels = objective_labels(campaign)
    directions = [o.resolved_direction for o in campaign.search.objectives]
    logs = results / campaign.name / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    console.print(f"explore run: {campaign.name}, {target} trials with {campaign.search.sampler.name} on "
                  f"{workers} local worker(s); storage {redacted(where_storage)}; worker logs in {logs}/",
                  highlight=False)
    procs = []
    for i in range(workers):
        with open(logs / f"worker-{i}.log", "a") as log:
            procs.append(subprocess.Popen(_worker_command(campaign_path, where_storage, target, results, i,
                                                          heartbeat), stdout=log, stderr=subprocess.STDOUT))
    try:
        _watch(study, procs, target, labels, directions, console)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        console.print("interrupted: running trials were queued again; explore run continues the study", style="yellow")
        raise
    trials_now = study.get_trials(deepcopy=False)
    counts = count_trials(trials_now)
    failed_workers = [i for i, p in enumerate(procs) if p.returncode]
    for i in failed_workers:
        console.print(f"worker {i} exited with status {procs[i].returncode}; see {logs}/worker-{i}.log", style="red")
    _print_front(Console(), campaign, trials_now, labels, directions)
    print(f"{counts.finished} of {target} trials finished ({_status_text(trials_now, directions)}); "
          f"explore status {campaign_path} shows the study again.")
    if counts.finished < target:
        raise SystemExit(1)


def _propose_designs(campaign: Campaign, study: optuna.Study, storage: str, target: int, results: Path) -> None:
    """Train the supernet, run the gradient search and enqueue its designs, once per study: the slot
    lock keeps workers (here or elsewhere) from sampling before the proposals are in."""
    from explore.campaign import campaign_board
    from explore.data import load_dataset
    from explore.search.dnas.gradient import DnasSettings, propose
    from explore.io import write_json_atomic

    console = Console(stderr=True)
    with SlotLock(storage, campaign.name).held():
        if "dnas" in study.user_attrs:
            console.print(f"dnas: {study.user_attrs['dnas']['proposals']} proposals already in the study", highlight=False)
            return
        wanted = min(campaign.search.sampler.proposal_count(target), target - count_trials(study.get_trials()).occupied)
        if wanted <= 0:
            return
        sampler = campaign.search.sampler
        settings = DnasSettings(proposals=wanted, supernet_epochs=sampler.supernet_epochs or campaign.pretrain.epochs,
                                steps=sampler.search_steps, seed=campaign.seed,
                                batch_size=campaign.pretrain.batch_size, supernet_lr=campaign.pretrain.lr)
        data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
        boards = [campaign_board(campaign, name) for name in campaign.boards]
        with Progress(TextColumn("dnas {task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            tasks: dict[str, Any] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            result = propose(campaign, boards, data.x_train, data.y_train, data.x_val, data.y_val, data.num_classes,
                             settings, report)
        for proposal in result.proposals:
            study.enqueue_trial(proposal.params, user_attrs={"dnas_proposal": {
                "supernet_loss": proposal.supernet_loss, "weights": proposal.weights}})
        summary = result.summary()
        write_json_atomic(results / campaign.name / "dnas.json", summary)
        study.set_user_attr("dnas", {"proposals": len(result.proposals), "runs": result.runs,
                                     "feasible_fraction": result.feasible_fraction, "seconds": result.seconds})
    console.print(f"dnas: supernet {result.seconds['supernet']:.0f} s (final loss "
                  f"{result.supernet_history[-1]['loss']:.3f}), {result.runs} gradient runs in "
                  f"{result.seconds['search']:.0f} s, {result.feasible_fraction:.0%} feasible when rounded; "
                  f"{len(result.proposals)} designs enqueued (details in {results / campaign.name / 'dnas.json'})",
                  highlight=False)


def _watch(study: optuna.Study, procs: list[subprocess.Popen], target: int, labels: list[str],
           directions: list[str], console: Console) -> None:
    """Redraw the study's progress from its storage until every local worker has exited."""
    seen: set[int] = set()
    columns = (BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = None
        while True:
            trials = study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state.is_finished()]
            for t in sorted(finished, key=lambda t: t.number):
                if t.number not in seen:
                    seen.add(t.number)
                    progress.console.print(_finished_line(t, labels), highlight=False)
            counts = count_trials(trials)
            status = _status_text(trials, directions)
            if task is None:
                # ETA counts only this run's trials: those finished before it say nothing of its pace.
                task = progress.add_task("trials", total=target, completed=counts.finished, status=status)
            progress.update(task, completed=min(counts.finished, target), status=status)
            if all(p.poll() is not None for p in procs):
                return
            time.sleep(1.0)


# --- explore status ----------------------------------------------------------------------------------------


def front_json(campaign: Campaign, trials: list[FrozenTrial], labels: list[str],
               directions: list[str]) -> list[dict[str, Any]]:
    return [{"trial": t.number, "values": dict(zip(labels, t.values)), "genome": t.user_attrs.get("genome"),
             "artefacts": t.user_attrs.get("artefacts", {}).get("dir")}
            for t in pareto_front(trials, directions)]


def _print_front(console: Console, campaign: Campaign, trials: list[FrozenTrial], labels: list[str],
                 directions: list[str]) -> None:
    rows = front_json(campaign, trials, labels, directions)
    table = Table(title=f"Pareto front of {campaign.name} ({len(rows)} designs)")
    for column in ["trial", *labels, "genome"]:
        table.add_column(column, overflow="fold")
    for row in rows:
        genome = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in (row["genome"] or {}).items())
        table.add_row(str(row["trial"]), *(_fmt(v) for v in row["values"].values()), genome)
    console.print(table)


def run_status(campaign_path: Path, storage: str | None, results: Path, as_json: bool) -> None:
    campaign = load_search_campaign(campaign_path)
    study, where_storage = existing_study(campaign, campaign_path, storage, results)
    trials = study.get_trials(deepcopy=False)
    labels = objective_labels(campaign)
    directions = [o.resolved_direction for o in campaign.search.objectives]
    counts = count_trials(trials)
    if as_json:
        print(json.dumps({"campaign": campaign.name, "storage": redacted(where_storage), "objectives": labels,
                          "requested": campaign.search.trials, "trials": counts.to_dict(),
                          "front": front_json(campaign, trials, labels, directions)}, indent=2))
        return
    console = Console()
    console.print(f"{campaign.name}: {_status_text(trials, directions)}; storage {redacted(where_storage)}",
                  highlight=False)
    _print_front(console, campaign, trials, labels, directions)
