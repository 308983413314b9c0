"""Optuna's RDB storage on a real PostgreSQL server (fixtures in conftest.py, tests/postgres.py).

These pin down what distributed runs rely on: several OS processes sharing one study without
losing or duplicating trials, and the heartbeat failing a trial whose worker was killed and
queueing a retry of it.
"""

from __future__ import annotations

import signal
import time

import optuna
import pytest
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState
from processes import TIMEOUT, expect_line, kill, spawn

# heartbeat_interval and fail_stale_trials are experimental in Optuna 5; the warnings are noise here.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

WORKER = """
    import os, sys, time
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name = sys.argv[1:]
    study = optuna.load_study(study_name=name, storage=url,
                              sampler=optuna.samplers.RandomSampler(seed=os.getpid()))

    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        x = trial.suggest_float("x", -1.0, 1.0)
        time.sleep(0.1)  # long enough for the two workers' trials to interleave
        return x * x

    print("ready", flush=True)
    sys.stdin.readline()  # start barrier: the test releases both workers at once
    study.optimize(objective, n_trials=6)
"""


def test_two_processes_share_a_study(postgres_db_url):
    name = "shared"
    optuna.create_study(study_name=name, storage=RDBStorage(postgres_db_url))
    workers = [spawn(WORKER, postgres_db_url, name) for _ in range(2)]
    try:
        for proc in workers:
            expect_line(proc, "ready")
        for proc in workers:
            proc.stdin.write("go\n")
            proc.stdin.flush()  # communicate() below closes stdin
        for proc in workers:
            _, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err
    finally:
        kill(workers)

    trials = optuna.load_study(study_name=name, storage=postgres_db_url).get_trials(deepcopy=False)
    assert len(trials) == 12
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    assert sorted(t.number for t in trials) == list(range(12))
    assert all(t.value == pytest.approx(t.params["x"] ** 2) for t in trials)

    by_pid: dict[int, list] = {}
    for t in trials:
        by_pid.setdefault(t.user_attrs["pid"], []).append(t)
    assert sorted(len(ts) for ts in by_pid.values()) == [6, 6], {p: len(ts) for p, ts in by_pid.items()}
    # The workers really ran at the same time: some trial of one overlaps some trial of the other.
    first, second = by_pid.values()
    assert any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
        for a in first
        for b in second
    )


HEARTBEAT_INTERVAL, GRACE_PERIOD = 1, 2


def _heartbeat_storage(url: str) -> RDBStorage:
    return RDBStorage(
        url,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        grace_period=GRACE_PERIOD,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )


HANGING_WORKER = """
    import sys, time, warnings
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name = sys.argv[1:]
    storage = RDBStorage(url, heartbeat_interval=1, grace_period=2,
                         heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
    study = optuna.load_study(study_name=name, storage=storage)

    def objective(trial):
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("note", "hangs")
        print("running", flush=True)
        time.sleep(3600)

    study.optimize(objective, n_trials=1)
"""


def test_heartbeat_fails_a_killed_trial_and_queues_a_retry(postgres_db_url):
    name = "crash"
    study = optuna.create_study(study_name=name, storage=_heartbeat_storage(postgres_db_url))
    worker = spawn(HANGING_WORKER, postgres_db_url, name)
    try:
        expect_line(worker, "running")
        # While the worker lives its heartbeats keep the trial alive, even past the grace period.
        time.sleep(GRACE_PERIOD + 1.5)
        fail_stale_trials(study)
        [trial] = study.get_trials()
        assert trial.state == TrialState.RUNNING

        worker.send_signal(signal.SIGKILL)  # no chance to mark the trial failed itself
        worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == -signal.SIGKILL
        killed_at = time.monotonic()
    finally:
        kill([worker])

    # Once the heartbeat is older than the grace period, the trial is stale.
    deadline = killed_at + GRACE_PERIOD + 30
    while time.monotonic() < deadline:
        fail_stale_trials(study)
        if study.get_trials()[0].state != TrialState.RUNNING:
            break
        time.sleep(0.25)
    stale_after = time.monotonic() - killed_at
    print(f"killed trial failed as stale {stale_after:.2f} s after SIGKILL (grace period {GRACE_PERIOD} s)")

    failed, retry = study.get_trials()  # exactly two: the stale trial and its queued retry
    assert failed.number == 0 and failed.state == TrialState.FAIL, (failed.state, stale_after)
    assert retry.number == 1 and retry.state == TrialState.WAITING
    assert retry.params == failed.params and retry.user_attrs == {"note": "hangs"}
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 0
    assert RetryHeartbeatStaleTrialCallback.retry_history(retry) == [0]
    # Heartbeats are recorded every second, so the trial cannot be stale before ~1 s after the kill.
    assert stale_after >= GRACE_PERIOD - HEARTBEAT_INTERVAL - 0.5, stale_after

    # Failing stale trials again changes nothing: the retry is queued once.
    fail_stale_trials(study)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]

    # The next optimize picks the queued retry up with the same parameters.
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    failed, retry = study.get_trials()
    assert retry.state == TrialState.COMPLETE
    assert retry.value == failed.params["x"]


def test_each_test_gets_its_own_database(postgres_server, postgres_db_url, postgres_url):
    """postgres_db_url starts empty and is separate from the session database and other tests'."""
    assert postgres_url.endswith("/explore_test") and postgres_db_url != postgres_url
    assert optuna.study.get_all_study_names(storage=postgres_db_url) == []
    optuna.create_study(study_name="mine", storage=postgres_db_url)
    other = postgres_server.url(postgres_server.create_database())  # what the next test would get
    try:
        assert optuna.study.get_all_study_names(storage=other) == []
        assert optuna.study.get_all_study_names(storage=postgres_db_url) == ["mine"]
    finally:
        postgres_server.drop_database(other.rsplit("/", 1)[1])
