"""A campaign's search as ``explore run`` and ``explore worker`` drive it (issue 5).

``run`` opens the study (so that an unreachable storage is reported before anything starts),
enqueues the gradient search's proposals when the sampler asks for them, starts K ``explore worker``
processes on this machine (their output goes to ``results/<campaign>/logs/worker-<i>.log``) and
follows the study from its storage, so that workers on other machines show in the same display.
What is shown, and how, is the caller's :class:`SearchDisplay`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import optuna
from optuna.trial import FrozenTrial

from explore.campaign import Campaign, preflight
from explore.campaign.storage import redacted
from explore.errors import BadInput
from explore.search.proposals import Proposals, StageProgress, propose_designs
from explore.search.status import Objectives, StudyStatus
from explore.search import (Counts, count_trials, load_search_campaign, open_storage, open_study, pareto_front,
                            storage_location)
from explore.search.worker import Log, WorkerOptions, work

#: seconds between two looks at the study while local workers run
POLL_SECONDS = 1.0


def target_trials(campaign: Campaign, trials: int | None) -> int:
    """Finished trials the study should hold: ``--trials`` if given, else the campaign's ``search.trials``."""
    if trials is not None and trials < 1:
        raise BadInput(f"--trials: must be at least 1 (got {trials})")
    return trials if trials is not None else campaign.search.trials


def join_study(campaign_path: Path, storage: str | None, trials: int | None, results: Path, seed_offset: int | None,
               heartbeat: float, log: Log) -> int:
    """Run trials of the campaign's study as one worker until it holds its target; returns how many
    this worker finished.  The worker's seed is the campaign's plus ``seed_offset`` (default: the
    process id); each trial's sampler is seeded from it and the trial's number, so that a worker
    started again continues the search instead of replaying it."""
    campaign = load_search_campaign(campaign_path)
    where_storage, where = storage_location(campaign, storage, results)
    offset = seed_offset if seed_offset is not None else os.getpid()
    options = WorkerOptions(where_storage, where, target_trials(campaign, trials), results, campaign.seed + offset,
                            heartbeat)
    return work(campaign, options, log=log)


def worker_command(campaign_path: Path, storage: str, target: int, results: Path, index: int,
                   heartbeat: float) -> list[str]:
    """The ``explore worker`` process ``explore run`` starts as its local worker ``index``."""
    return [sys.executable, "-m", "explore", "worker", str(campaign_path), "--storage", storage,
            "--trials", str(target), "--results", str(results), "--seed-offset", str(index),
            "--heartbeat", str(heartbeat)]


@dataclass(frozen=True)
class SearchPlan:
    """What a run is about to do."""

    campaign: Campaign
    target: int
    workers: int
    storage: str          # redacted: no password
    logs: Path            # the local workers' log files
    objectives: Objectives


@dataclass(frozen=True)
class Snapshot:
    """The study at one look: the trials finished since the previous look (all finished ones at the
    first), the counts by state, and the size of the Pareto front."""

    newly_finished: list[FrozenTrial]
    counts: Counts
    front_size: int


@dataclass(frozen=True)
class SearchOutcome:
    plan: SearchPlan
    status: StudyStatus                     # the study when the local workers had exited
    worker_exits: dict[int, int] = field(default_factory=dict)   # local worker -> its non-zero exit status

    @property
    def reached_target(self) -> bool:
        return self.status.counts.finished >= self.plan.target


class SearchDisplay(Protocol):
    """How a run shows its progress; every method is called from the running search."""

    def proposing(self) -> AbstractContextManager[StageProgress]:
        """Entered around the supernet training and the gradient search."""

    def proposed(self, proposals: Proposals) -> None:
        """The gradient search's designs are in the study."""

    def started(self, plan: SearchPlan) -> None:
        """The local workers are about to start."""

    def watching(self, plan: SearchPlan) -> AbstractContextManager[Callable[[Snapshot], None]]:
        """Entered while the local workers run; the callable gets every look at the study."""

    def interrupted(self) -> None:
        """Ctrl-C: the local workers were stopped (their running trials are queued again)."""


def search_campaign(campaign_path: Path, *, trials: int | None, workers: int, storage: str | None, results: Path,
                    heartbeat: float, display: SearchDisplay) -> SearchOutcome:
    """Run the campaign's study to ``trials`` finished trials with ``workers`` local worker processes;
    returns the study once they have exited.  Re-raises KeyboardInterrupt after stopping them."""
    campaign = load_search_campaign(campaign_path)
    if workers < 1:
        raise BadInput(f"--workers: must be at least 1 (got {workers})")
    target = target_trials(campaign, trials)
    preflight(campaign)  # what `explore check` checks: refused here, not in every worker's first trial
    where_storage, where = storage_location(campaign, storage, results)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Opening the study here reports an unreachable storage before any worker starts.
    study = open_study(campaign, open_storage(where_storage, where), optuna.samplers.RandomSampler(), where)
    if campaign.search.sampler.gradient:
        proposals = propose_designs(campaign, study, where_storage, target, results, display.proposing)
        if proposals is not None:
            display.proposed(proposals)
    plan = SearchPlan(campaign, target, workers, redacted(where_storage), results / campaign.name / "logs",
                      Objectives.of(campaign))
    plan.logs.mkdir(parents=True, exist_ok=True)
    display.started(plan)
    procs = _start_workers(campaign_path, where_storage, plan, results, heartbeat)
    try:
        with display.watching(plan) as update:
            _follow(study, procs, plan.objectives, update)
    except KeyboardInterrupt:
        _stop(procs)
        display.interrupted()
        raise
    status = StudyStatus.of(campaign, where_storage, study.get_trials(deepcopy=False))
    return SearchOutcome(plan, status, {i: p.returncode for i, p in enumerate(procs) if p.returncode})


def _start_workers(campaign_path: Path, storage: str, plan: SearchPlan, results: Path,
                   heartbeat: float) -> list[subprocess.Popen]:
    procs = []
    for i in range(plan.workers):
        with open(plan.logs / f"worker-{i}.log", "a") as log:
            procs.append(subprocess.Popen(worker_command(campaign_path, storage, plan.target, results, i, heartbeat),
                                          stdout=log, stderr=subprocess.STDOUT))
    return procs


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def _follow(study: optuna.Study, procs: Sequence[subprocess.Popen], objectives: Objectives,
            update: Callable[[Snapshot], None]) -> None:
    """Look at the study from its storage until every local worker has exited."""
    seen: set[int] = set()
    while True:
        trials = study.get_trials(deepcopy=False)
        update(snapshot(trials, seen, objectives))
        if all(p.poll() is not None for p in procs):
            return
        time.sleep(POLL_SECONDS)


def snapshot(trials: Sequence[FrozenTrial], seen: set[int], objectives: Objectives) -> Snapshot:
    """The study's trials as one look; adds the newly finished trials' numbers to ``seen``."""
    new = sorted((t for t in trials if t.state.is_finished() and t.number not in seen), key=lambda t: t.number)
    seen.update(t.number for t in new)
    return Snapshot(new, count_trials(trials), len(pareto_front(trials, objectives.directions)))
