"""One search worker: ask the study for a trial, cost it, train it unless it cannot fit, tell the
result; until the study holds the requested number of finished trials (issue 5).

``explore run`` starts K of these as local processes; ``explore worker`` runs one on any machine
that reaches the study's storage.  See :mod:`explore.search.liveness` for how slots, liveness and retries
keep the count exact through crashes.

A genome that already finished is not trained again: a trial that draws it is answered from the
finished trial (its values and attributes, marked ``repeat_of``), since training it again would
cost the same and give the same.
"""

from __future__ import annotations

import signal
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from explore.campaign import BoardProfile, Campaign, Genome, campaign_board, resolve_genome
from explore.campaign.storage import is_rdb
from explore.cost import cost_design, costs_from_dict, costs_to_dict, design_from_genome
from explore.data import Dataset, load_dataset
from explore.errors import BadInput
from explore.io import write_json_atomic
from explore.search.early_stop import EarlyStop, EarlyStopper, StopRule
from explore.search.front import FINISHED, REPEAT_ATTR, count_trials, finished_with_genome, pareto_front
from explore.search.liveness import WORKER_ATTR, Heartbeat, SlotLock, WorkerIdentity, recover_stale, requeue
from explore.search.samplers import TrialSeededSampler, record_constraints
from explore.search.sampling import constraint_values, objective_values, sample_genome, search_accuracy
from explore.search.storage import open_storage
from explore.search.study import open_study
from explore.train.compile_cache import compilation_cache
from explore.train.pipeline import evaluate_design

#: ``log(line)``: where a worker reports what it does (stdout, a log file, nothing).
Log = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    #: relative budget excess per board and budget of a completed trial, for the samplers
    constraints: list[float] | None = None


def trial_dir(results: Path, campaign: Campaign, number: int) -> Path:
    return (results / campaign.name / "trials" / str(number)).resolve()


def _metrics_attrs(metrics: dict) -> dict:
    """Every metric, without the bulky per-epoch history and layer list (they stay in metrics.json)."""
    return {k: v for k, v in metrics.items() if k not in ("history", "architecture", "genome", "campaign")}


@dataclass
class TrialRunner:
    """What every trial of one worker shares: the campaign, its data (loaded once) and its boards."""

    campaign: Campaign
    data: Dataset
    boards: list[BoardProfile]
    results: Path
    study: optuna.Study

    def costs(self, genome: Genome, rates: dict[int, float] | None = None) -> tuple[dict[str, dict], tuple[int, ...]]:
        """Costs on every board before training, and the trainable layers of the (pruned) design."""
        design = design_from_genome(genome, self.campaign.pruning, self.campaign.on_device.batch_size,
                                    self.data.input_shape, self.data.num_classes, update_rates=rates)
        return cost_design(design, self.boards), design.trainable

    def run(self, trial: optuna.Trial) -> Outcome:
        campaign = self.campaign
        choices = sample_genome(trial, campaign)
        trial.set_user_attr("genome", choices)
        original = finished_with_genome(self.study.get_trials(deepcopy=False, states=FINISHED), choices,
                                        trial.number)
        if original is not None:
            return _repeat_of(original)
        genome = resolve_genome(campaign, choices, "genome")
        costs, trainable = self.costs(genome)
        constraints = constraint_values(campaign, costs)
        trial.set_user_attr("constraints", constraints)
        trial.set_user_attr("cost_estimate", costs_to_dict(costs))
        if any(c > 0 for c in constraints):
            violations = [f"{board}: {v.budget} {v.value:.4g} > {v.limit:.4g}"
                          for board, entry in costs.items() for v in entry.violations]
            trial.set_user_attr("infeasible", True)
            trial.set_user_attr("violations", violations)
            return Outcome(TrialState.COMPLETE, objective_values(campaign, 0.0, costs),
                           summary=f"infeasible, not trained ({'; '.join(violations)})", constraints=constraints)
        out = trial_dir(self.results, campaign, trial.number)
        trial.set_user_attr("artefacts", {"dir": str(out)})
        try:
            metrics = evaluate_design(campaign, genome, out_dir=out, data=self.data,
                                      check=self._stopper(genome, trainable))
        except EarlyStop as stop:
            record = {"epoch": stop.epoch, "check_accuracy": stop.accuracy, "optimistic_accuracy": stop.optimistic,
                      "dominated_by": stop.dominated_by, "reason": str(stop)}
            write_json_atomic(out / "stopped.json", record)
            return Outcome(TrialState.PRUNED, None, {"early_stop": record, "artefacts": {
                "dir": str(out), "stopped": str(out / "stopped.json")}}, summary=str(stop))
        accuracy, split = search_accuracy(metrics)
        refined = costs_from_dict(metrics["cost"])  # with the update rates training recorded
        constraints = constraint_values(campaign, refined)
        values = objective_values(campaign, accuracy, refined)
        attrs = {"metrics": _metrics_attrs(metrics), "accuracy_split": split, "constraints": constraints,
                 "infeasible": any(c > 0 for c in constraints),
                 "artefacts": {"dir": str(out), "metrics": str(out / "metrics.json"), "model": str(out / "model.npz")}}
        shown = ", ".join(f"{o.name} {v:.4g}" for o, v in zip(campaign.search.objectives, values))
        return Outcome(TrialState.COMPLETE, values, attrs, summary=shown, constraints=constraints)

    def _stopper(self, genome: Genome, trainable: tuple[int, ...]) -> EarlyStopper | None:
        search = self.campaign.search
        names = [o.name for o in search.objectives]
        if not search.early_stopping.enabled or "accuracy" not in names:
            return None
        floor, _ = self.costs(genome, {i: genome.lambda_min for i in trainable})
        directions = [o.resolved_direction for o in search.objectives]
        study = self.study

        def front() -> list[tuple[int, list[float]]]:
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            return [(t.number, t.values) for t in pareto_front(done, directions)]

        rule = StopRule(self.campaign.on_device.epochs, search.early_stopping.min_epochs,
                        search.early_stopping.slack)
        return EarlyStopper(rule, directions, names.index("accuracy"), objective_values(self.campaign, 0.0, floor),
                            front)


def _repeat_of(original: FrozenTrial) -> Outcome:
    """The outcome of a trial that drew ``original``'s genome: ``original``'s, marked as a repeat."""
    attrs = {k: v for k, v in original.user_attrs.items() if k not in ("genome", "dnas_proposal")}
    attrs[REPEAT_ATTR] = original.number
    complete = original.state == TrialState.COMPLETE
    return Outcome(original.state, original.values if complete else None, attrs,
                   summary=f"the genome of trial {original.number}: its result is reused, not trained again",
                   constraints=attrs.get("constraints") if complete else None)


@dataclass(frozen=True)
class WorkerOptions:
    storage: str
    where: str
    target: int
    results: Path
    seed: int          # each trial's sampler is seeded from this and the trial's number
    heartbeat: float = 30.0
    poll: float = 2.0


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def work(campaign: Campaign, options: WorkerOptions, log: Log = print) -> int:
    """Run trials until the study holds ``options.target`` finished ones; returns how many this
    worker finished.  Ctrl-C or SIGTERM fails the running trial and queues it again."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats and retries are "experimental" in Optuna 5; a warning per worker start is noise.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    rdb = is_rdb(options.storage)
    storage = open_storage(options.storage, options.where, options.heartbeat if rdb else None)
    study = open_study(campaign, storage, TrialSeededSampler(campaign.search.sampler, options.seed), options.where)
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    runner = TrialRunner(campaign, data, [campaign_board(campaign, n) for n in campaign.boards], options.results,
                         study)
    identity = WorkerIdentity(options.results / campaign.name / "workers")
    try:
        # Trials of one shape compile the same programs: the campaign's workers and re-runs share them.
        with compilation_cache(options.results / campaign.name):
            return _loop(study, storage, runner, identity, SlotLock(options.storage, campaign.name), options, log)
    finally:
        identity.close()


def _loop(study: optuna.Study, storage: Any, runner: TrialRunner, identity: WorkerIdentity, lock: SlotLock,
          options: WorkerOptions, log: Log) -> int:
    rdb = is_rdb(options.storage)
    study_id = storage.get_study_id_from_name(study.study_name)
    done = 0
    while True:
        with lock.held():
            for number in recover_stale(study, storage, rdb):
                log(f"trial {number}: its worker is gone; failed and queued again")
            counts = count_trials(study.get_trials(deepcopy=False))
            if counts.finished >= options.target:
                return done
            trial = study.ask() if counts.waiting or counts.occupied < options.target else None
            if trial is not None:
                trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                storage.set_trial_system_attr(trial_id, WORKER_ATTR, identity.record())
        if trial is None:  # every slot is taken by a running trial: wait for it to finish or go stale
            time.sleep(options.poll)
            continue
        log(f"trial {trial.number}: started")
        _run_one(runner, study, storage, trial, trial_id, log)
        done += 1


def _run_one(runner: TrialRunner, study: optuna.Study, storage: Any, trial: optuna.Trial, trial_id: int,
             log: Log) -> None:
    with Heartbeat(storage, trial_id):
        try:
            outcome = runner.run(trial)
        except KeyboardInterrupt:
            requeue(study, study._storage.get_trial(trial_id))
            log(f"trial {trial.number}: interrupted; queued again")
            raise
        except BadInput as e:
            outcome = Outcome(TrialState.FAIL, None, {"error": str(e)}, summary=f"failed: {e}")
        except Exception as e:  # a bug in one design must not end the campaign; the log keeps the traceback
            log(traceback.format_exc())
            outcome = Outcome(TrialState.FAIL, None, {"error": f"{type(e).__name__}: {e}"},
                              summary=f"failed: {type(e).__name__}: {e}")
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        if outcome.constraints is not None:
            record_constraints(trial, outcome.constraints)
        study.tell(trial, outcome.values, state=outcome.state)
    log(f"trial {trial.number}: {outcome.summary}")
