"""A resumed search continues; it does not replay (issue 18, item 7).

A worker's sampler is seeded afresh for each trial from the trial's number, so a worker started
again draws new designs; a genome that already finished is answered from its trial instead of being
trained again.  The last tests kill a whole ``explore run`` (its process group, SIGKILL) on the
journal and on PostgreSQL and resume it with ``explore run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from runs import (TIMEOUT, assert_exact, assert_front_printed_whole, explore, journal_study, tiny_campaign)

from explore.campaign.space import SamplerConfig
from explore.search.front import REPEAT_ATTR, pareto_front
from explore.search.samplers import TrialSeededSampler, trial_seed
from explore.search.storage import open_storage
from explore.search.study import load_search_campaign
from explore.search.worker import WorkerOptions, trial_dir, work

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

NOTHING_FITS = 1000  # bytes of training SRAM: every design of the tiny space is infeasible, so none trains


@pytest.fixture(autouse=True)
def _keep_sigterm():
    """``work`` turns SIGTERM into KeyboardInterrupt for its process; give the test process its own back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def _genome_key(trial: FrozenTrial) -> str:
    return json.dumps(trial.user_attrs["genome"], sort_keys=True)


def _finished(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def _assert_no_genome_twice(study: optuna.Study) -> None:
    finished = _finished(study)
    genomes = [_genome_key(t) for t in finished]
    assert len(set(genomes)) == len(genomes), [(t.number, t.params) for t in finished]
    assert not [t.number for t in finished if REPEAT_ATTR in t.user_attrs]


def _draw(study: optuna.Study) -> dict:
    trial = study.ask()
    params = {"c": trial.suggest_int("c", 0, 10**6), "x": trial.suggest_float("x", 0.0, 1.0)}
    study.tell(trial, params["x"])
    return params


@pytest.mark.parametrize("name", ["random", "tpe", "nsga2"])  # gp needs torch, not a dependency
def test_a_sampler_started_again_draws_anew_and_the_same_trial_number_draws_the_same(name: str) -> None:
    config = SamplerConfig(name=name, n_startup_trials=2, population_size=4)
    study = optuna.create_study(sampler=TrialSeededSampler(config, seed=7))
    first = [_draw(study) for _ in range(2)]
    study.sampler = TrialSeededSampler(config, seed=7)  # the worker, started again with its seed
    again = _draw(study)
    assert again not in first  # a seeded stream from its start would repeat trial 0's draw
    replay = optuna.create_study(sampler=TrialSeededSampler(config, seed=7))
    assert _draw(replay) == first[0]  # a trial's draw is the study's and its number's: reproducible
    seeds = {trial_seed(seed, number) for seed in range(3, 40) for number in range(200)}
    assert len(seeds) == 37 * 200  # seed + number of one worker never meets another's


def _options(tmp_path: Path, target: int) -> WorkerOptions:
    return WorkerOptions(str(tmp_path / "results" / "tiny" / "study.journal"), "journal", target,
                         tmp_path / "results", seed=0)


def test_a_worker_started_again_with_its_seed_continues_the_search(tmp_path: Path) -> None:
    campaign = load_search_campaign(tiny_campaign(tmp_path, sram=NOTHING_FITS))
    assert work(campaign, _options(tmp_path, 3), lambda line: None) == 3
    assert work(campaign, _options(tmp_path, 6), lambda line: None) == 3  # the same worker, same seed
    study = journal_study(tmp_path)
    assert len(_finished(study)) == 6
    _assert_no_genome_twice(study)


def test_a_finished_genome_is_answered_from_its_trial_and_not_run_again(tmp_path: Path) -> None:
    campaign = load_search_campaign(tiny_campaign(tmp_path, sram=NOTHING_FITS))
    assert work(campaign, _options(tmp_path, 1), lambda line: None) == 1
    study = journal_study(tmp_path)
    [original] = study.trials
    study.enqueue_trial(original.params)
    study.enqueue_trial(original.params)
    log: list[str] = []
    assert work(campaign, _options(tmp_path, 3), log.append) == 2
    study = journal_study(tmp_path)
    original, first, second = study.trials
    for repeat in (first, second):  # a repeat of a repeat names the trial that ran the design
        assert repeat.state == TrialState.COMPLETE and repeat.values == original.values
        assert repeat.user_attrs == {**original.user_attrs, REPEAT_ATTR: 0}
        assert repeat.constraints == original.constraints  # what the samplers read of it
        assert f"trial {repeat.number}: the genome of trial 0: its result is reused, not trained again" in log
        assert not trial_dir(tmp_path / "results", campaign, repeat.number).exists()
    assert len(_finished(study)) == 3  # a repeat takes its slot: the count stays what was asked


def test_a_repeat_stands_for_its_original_on_the_front() -> None:
    attrs = {"genome": {"channels": 8}, "constraints": [-0.5]}
    trials = [optuna.trial.create_trial(values=[0.9, 100.0], user_attrs=attrs),
              optuna.trial.create_trial(values=[0.9, 100.0], user_attrs={**attrs, REPEAT_ATTR: 0}),
              optuna.trial.create_trial(values=[0.8, 50.0], user_attrs={"genome": {"channels": 4}})]
    for number, trial in enumerate(trials):
        trial.number = number
    assert [t.number for t in pareto_front(trials, ["maximize", "minimize"])] == [0, 2]


# --- a whole run killed and resumed, real processes ----------------------------------------------------------

def _study(tmp_path: Path, url: str | None) -> optuna.Study:
    if url is None:
        return journal_study(tmp_path)
    return optuna.load_study(study_name="tiny", storage=open_storage(url, "test"))


def _run(path: Path, url: str | None) -> list[str]:
    args = ["run", str(path), "--trials", "6", "--workers", "2"]
    return args + (["--storage", url, "--heartbeat", "1"] if url else [])


def _kill_when_training(runner: subprocess.Popen, tmp_path: Path, url: str | None) -> None:
    """SIGKILL the run's whole process group once two trials finished and another one trains."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert runner.poll() is None, "the run ended before it could be killed"
        try:
            trials = _study(tmp_path, url).get_trials(deepcopy=False)
        except (KeyError, FileNotFoundError):  # no worker has created the study yet
            trials = []
        training = [t for t in trials if t.state == TrialState.RUNNING and "artefacts" in t.user_attrs]
        if len([t for t in trials if t.state.is_finished()]) >= 2 and training:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
            return
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)
    raise AssertionError("the run never had two finished trials and one training")


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_a_run_killed_whole_and_resumed_trains_no_genome_twice(tmp_path: Path, storage: str,
                                                               request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_db_url") if storage == "postgresql" else None
    path = tiny_campaign(tmp_path, trials=6, sram=200000, on_device_epochs=3)
    runner = subprocess.Popen([sys.executable, "-m", "explore", *_run(path, url)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_when_training(runner, tmp_path, url)
    before = {t.number: (t.state, t.values, t.user_attrs) for t in _finished(_study(tmp_path, url))}
    assert len(before) >= 2
    result = explore(*_run(path, url), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = _study(tmp_path, url)
    assert_exact(study, 6, tmp_path)
    assert {n: (study.trials[n].state, study.trials[n].values, study.trials[n].user_attrs) for n in before} == before
    _assert_no_genome_twice(study)
    status = json.loads(explore("status", str(path), *(["--storage", url] if url else []), "--json",
                                cwd=tmp_path).stdout)
    assert_front_printed_whole(result.stdout, status["front"], status["objectives"])
