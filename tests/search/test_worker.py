"""One search worker (explore/search/worker.py) on a real journal study with the tiny digits campaign:
the trial body, the slot rule, stale trials, failures and interrupts.  Most designs here break a
tiny SRAM budget, so that trials finish in the cost model without training."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import jax
import optuna
import pytest
from optuna.trial import TrialState, create_trial
from runs import tiny_campaign

from explore.campaign import Genome, campaign_board, resolve_genome
from explore.data import load_dataset
from explore.errors import BadInput
from explore.search.early_stop import EarlyStop
from explore.search.front import count_trials
from explore.search.liveness import WORKER_ATTR, WorkerIdentity
from explore.search.samplers import make_sampler
from explore.search.sampling import sample_genome
from explore.search.storage import open_storage
from explore.search.study import load_search_campaign, open_study
from explore.search.worker import Outcome, TrialRunner, WorkerOptions, _run_one, trial_dir, work

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

NOTHING_FITS = 1000  # bytes of training SRAM: the smallest design of the tiny space needs about 16.5 kB


@pytest.fixture(autouse=True)
def _keep_sigterm():
    """``work`` turns SIGTERM into KeyboardInterrupt for its process; give the test process its own back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def _runner(tmp_path: Path, **options) -> TrialRunner:
    campaign = load_search_campaign(tiny_campaign(tmp_path, **options))
    storage = open_storage(str(tmp_path / "results" / "tiny" / "study.journal"), "journal")
    study = open_study(campaign, storage, make_sampler(campaign.search.sampler, 0), "journal")
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    return TrialRunner(campaign, data, [campaign_board(campaign, n) for n in campaign.boards], tmp_path / "results",
                       study)


def _options(tmp_path: Path, target: int, poll: float = 2.0) -> WorkerOptions:
    return WorkerOptions(str(tmp_path / "results" / "tiny" / "study.journal"), "journal", target,
                         tmp_path / "results", seed=0, poll=poll)


def _claim(study: optuna.Study, campaign, record: dict) -> optuna.Trial:
    """A trial some other worker asked for and is running: its design is sampled, its worker named."""
    trial = study.ask()
    sample_genome(trial, campaign)
    study._storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, record)
    return trial


def test_an_infeasible_design_records_its_costs_and_budgets_without_training(tmp_path: Path) -> None:
    runner = _runner(tmp_path, sram=NOTHING_FITS)
    trial = runner.study.ask()
    outcome = runner.run(trial)
    attrs = runner.study.trials[0].user_attrs  # recorded on the trial while it runs
    sram = attrs["cost_estimate"]["nrf52840"]["sram_bytes"]["total"]
    assert outcome.state == TrialState.COMPLETE and outcome.values == [0.0, sram] and sram > NOTHING_FITS
    assert attrs["genome"]["channels"] == trial.params["channels"] and attrs["infeasible"] is True
    assert len(attrs["constraints"]) == len(attrs["cost_estimate"]["nrf52840"]["budgets"])  # one per budget
    assert max(attrs["constraints"]) == pytest.approx((sram - NOTHING_FITS) / NOTHING_FITS)
    assert attrs["violations"] == [f"nrf52840: sram_bytes {sram:.4g} > {NOTHING_FITS:.4g}"]
    assert outcome.summary == f"infeasible, not trained ({attrs['violations'][0]})"
    assert "artefacts" not in attrs and not trial_dir(runner.results, runner.campaign, 0).exists()
    assert outcome.constraints == attrs["constraints"]  # what the worker hands Optuna's set_constraint


@pytest.mark.slow
def test_a_feasible_design_trains_and_its_values_are_what_training_measured(tmp_path: Path) -> None:
    runner = _runner(tmp_path, sram=200000, on_device_epochs=1)
    outcome = runner.run(runner.study.ask())
    metrics = outcome.attrs["metrics"]
    assert outcome.state == TrialState.COMPLETE and outcome.attrs["infeasible"] is False
    assert outcome.values == [metrics["validation_accuracy"]["on_device"],
                              metrics["cost"]["nrf52840"]["sram_bytes"]["total"]]
    assert outcome.attrs["accuracy_split"] == "validation"  # choosing designs never looks at the test set
    assert not {"history", "architecture", "genome", "campaign"} & set(metrics)  # those stay in metrics.json
    out = trial_dir(runner.results, runner.campaign, 0)
    assert outcome.attrs["artefacts"] == {"dir": str(out), "metrics": str(out / "metrics.json"),
                                          "model": str(out / "model.npz")}
    assert (out / "metrics.json").is_file() and (out / "model.npz").is_file()


def test_work_finishes_exactly_the_target_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    campaign = _runner(tmp_path, sram=NOTHING_FITS).campaign
    log: list[str] = []
    assert work(campaign, _options(tmp_path, 3), log.append) == 3
    study = optuna.load_study(study_name="tiny", storage=open_storage(_options(tmp_path, 3).storage, "journal"))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(t.user_attrs["infeasible"] and t.system_attrs[WORKER_ATTR]["pid"] == os.getpid() for t in study.trials)
    # the samplers see each budget's excess through Optuna's own constraints
    assert all(list(t.constraints.values()) == t.user_attrs["constraints"] for t in study.trials)
    assert [line for line in log if line.endswith("started")] == [f"trial {n}: started" for n in range(3)]
    assert list((tmp_path / "results" / "tiny" / "workers").iterdir()) == []  # its lock file went with it
    assert work(campaign, _options(tmp_path, 3), log.append) == 0  # a second worker, or a rerun
    assert work(campaign, _options(tmp_path, 4), log.append) == 1  # a larger target: one more
    assert len(study.trials) == 4


def test_a_worker_compiles_into_the_campaigns_persistent_cache_and_then_restores_jax(tmp_path: Path) -> None:
    campaign = _runner(tmp_path, sram=NOTHING_FITS).campaign
    before = jax.config.jax_compilation_cache_dir
    during: list[str | None] = []  # the cache JAX uses while the worker logs, i.e. while it runs trials
    assert work(campaign, _options(tmp_path, 2), lambda line: during.append(jax.config.jax_compilation_cache_dir)) == 2
    cache = tmp_path / "results" / "tiny" / "jax_cache"
    assert cache.is_dir() and during and set(during) == {str(cache.resolve())}
    assert jax.config.jax_compilation_cache_dir == before


def test_work_reruns_a_dead_workers_trial_with_its_design(tmp_path: Path) -> None:
    runner = _runner(tmp_path, sram=NOTHING_FITS)
    free = tmp_path / "dead-worker.lock"  # a lock file nobody holds: its worker is gone
    free.touch()
    dead = _claim(runner.study, runner.campaign, {"host": socket.gethostname(), "pid": 1, "lock": str(free)})
    log: list[str] = []
    assert work(runner.campaign, _options(tmp_path, 2), log.append) == 2
    assert "trial 0: its worker is gone; failed and queued again" in log
    failed, retry, fresh = runner.study.trials
    assert failed.state == TrialState.FAIL and retry.state == fresh.state == TrialState.COMPLETE
    assert retry.params == dead.params and retry.system_attrs["retry_history"] == [0]
    counts = count_trials(runner.study.trials)
    assert (counts.finished, counts.retried, counts.failed) == (2, 1, 0)


def test_a_worker_waits_while_a_live_worker_holds_the_last_slot(tmp_path: Path) -> None:
    runner = _runner(tmp_path, sram=NOTHING_FITS)
    other = WorkerIdentity(tmp_path / "other")  # alive: this process holds its lock
    try:
        running = _claim(runner.study, runner.campaign, other.record())
        finish_after = 1.5
        threading.Timer(finish_after, lambda: runner.study.tell(running.number, [0.5, 2000.0])).start()
        start = time.monotonic()
        assert work(runner.campaign, _options(tmp_path, 1, poll=0.1), lambda line: None) == 0
        assert time.monotonic() - start >= finish_after  # it waited for the slot's trial instead of asking
    finally:
        other.close()
    assert [t.state for t in runner.study.trials] == [TrialState.COMPLETE]


def _raising(runner: TrialRunner, error: BaseException) -> TrialRunner:
    """The runner, with a design that raises ``error`` once it is sampled."""

    class Raising(TrialRunner):
        def run(self, trial: optuna.Trial) -> Outcome:
            sample_genome(trial, self.campaign)
            raise error

    return Raising(runner.campaign, runner.data, runner.boards, runner.results, runner.study)


@pytest.mark.parametrize(("error", "recorded"), [(ValueError("no kernel for this layer"),
                                                  "ValueError: no kernel for this layer"),
                                                 (BadInput("model.channels: must be positive"),
                                                  "model.channels: must be positive")])
def test_a_design_that_raises_fails_its_trial_alone(tmp_path: Path, error: Exception, recorded: str) -> None:
    runner = _raising(_runner(tmp_path), error)
    trial = runner.study.ask()
    log: list[str] = []
    _run_one(runner, runner.study, runner.study._storage, trial, trial._trial_id, log.append)
    [failed] = runner.study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["error"] == recorded
    assert log[-1] == f"trial 0: failed: {recorded}"
    # A bug leaves its traceback in the log; bad input is explained by its message.
    assert any("Traceback" in line for line in log) == (not isinstance(error, BadInput))
    assert count_trials(runner.study.trials).failed == 1  # finished: a failed design is not run again


def test_an_interrupted_trial_is_queued_again_and_the_interrupt_goes_on(tmp_path: Path) -> None:
    runner = _raising(_runner(tmp_path), KeyboardInterrupt())
    trial = runner.study.ask()
    log: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _run_one(runner, runner.study, runner.study._storage, trial, trial._trial_id, log.append)
    interrupted, retry = runner.study.trials
    assert interrupted.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.params == interrupted.params and log == ["trial 0: interrupted; queued again"]


def test_early_stopping_compares_a_trial_with_the_studys_front(tmp_path: Path) -> None:
    plain = _runner(tmp_path)
    assert plain._stopper(*_genome_and_trainable(plain)) is None  # early stopping is off by default
    (tmp_path / "early").mkdir()
    runner = _runner(tmp_path / "early", early=True)
    # A finished design better in both objectives than anything the space holds.
    runner.study.add_trial(create_trial(values=[1.0, 1.0], user_attrs={"constraints": [-1.0]}))
    stopper = runner._stopper(*_genome_and_trainable(runner))
    stopper(0.10)  # epoch 1 of 3: before min_epochs
    with pytest.raises(EarlyStop) as stop:
        stopper(0.11)
    assert stop.value.epoch == 2 and stop.value.dominated_by == 0


def _genome_and_trainable(runner: TrialRunner) -> tuple[Genome, tuple[int, ...]]:
    genome = resolve_genome(runner.campaign, sample_genome(runner.study.ask(), runner.campaign), "trial")
    return genome, runner.costs(genome)[1]
