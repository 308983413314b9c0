"""Slots, liveness and retries (explore/search/liveness.py) on real storages and real processes: a lock
another process holds, a worker killed with SIGKILL, heartbeats that stop."""

from __future__ import annotations

import datetime
import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from processes import BLOCKED, TIMEOUT, expect_line, in_background, kill, read_line, spawn

from explore.search.front import count_trials
from explore.search.liveness import (MAX_RETRY, UNCLAIMED_GRACE, WORKER_ATTR, Heartbeat, SlotLock, WorkerIdentity,
                                     recover_stale, requeue)
from explore.search.storage import open_storage

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SLOT_HOLDER = """
    import sys
    from explore.search.liveness import SlotLock

    with SlotLock(sys.argv[1], sys.argv[2]).held():
        print("held", flush=True)
        sys.stdin.readline()
"""

WORKER = """
    import json, sys, time
    from pathlib import Path
    from explore.search.liveness import WorkerIdentity

    identity = WorkerIdentity(Path(sys.argv[1]))  # held while the name lives
    print(json.dumps(identity.record()), flush=True)
    time.sleep(3600)
"""


def _slot(storage: str, study_name: str) -> Callable[[], None]:
    """Take and give back the study's slot lock, as a worker does around asking for a trial."""
    def take() -> None:
        with SlotLock(storage, study_name).held():
            pass
    return take


@pytest.fixture(params=["journal", "sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_db_url")
    return f"sqlite:///{tmp_path}/study.db" if request.param == "sqlite" else str(tmp_path / "study.journal")


@pytest.mark.parametrize("ending", ["release", "sigkill"])
def test_slot_lock_keeps_out_every_other_process_until_its_holder_lets_go_or_dies(storage_url: str,
                                                                                  ending: str) -> None:
    holder = spawn(SLOT_HOLDER, storage_url, "tiny")
    try:
        expect_line(holder, "held")
        entered = in_background(_slot(storage_url, "tiny"))
        assert not entered.wait(BLOCKED), "a second worker got the slot lock while another process held it"
        if ending == "release":
            holder.stdin.write("go\n")
            holder.stdin.flush()
        else:
            holder.send_signal(signal.SIGKILL)  # the kernel (or the PostgreSQL session) drops the lock
        assert entered.wait(TIMEOUT)
    finally:
        kill([holder])


def test_slot_locks_of_two_studies_on_one_server_are_independent(postgres_db_url: str) -> None:
    holder = spawn(SLOT_HOLDER, postgres_db_url, "tiny")
    try:
        expect_line(holder, "held")
        assert in_background(_slot(postgres_db_url, "other")).wait(TIMEOUT)
        assert not in_background(_slot(postgres_db_url, "tiny")).wait(BLOCKED)
    finally:
        kill([holder])


def _journal_study(tmp_path: Path) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = open_storage(str(tmp_path / "study.journal"), "test")
    return optuna.create_study(study_name="tiny", storage=storage), storage


def _claim(study: optuna.Study, storage: optuna.storages.BaseStorage, record: dict) -> tuple[int, int]:
    """Ask a trial as a worker does, naming ``record`` as its worker; returns its number and id."""
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("tiny"), trial.number)
    storage.set_trial_system_attr(trial_id, WORKER_ATTR, record)
    return trial.number, trial_id


def test_a_sigkilled_workers_trial_is_failed_and_queued_again_once(tmp_path: Path) -> None:
    study, storage = _journal_study(tmp_path)
    worker = spawn(WORKER, str(tmp_path / "workers"))
    try:
        record = json.loads(read_line(worker))
        assert record == {"host": socket.gethostname(), "pid": worker.pid,
                          "lock": str((tmp_path / "workers" / f"{socket.gethostname()}-{worker.pid}.lock").resolve())}
        number, _ = _claim(study, storage, record)
        assert recover_stale(study, storage, rdb=False) == []  # alive: its lock is held
        assert study.trials[number].state == TrialState.RUNNING
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=TIMEOUT)
    finally:
        kill([worker])
    assert recover_stale(study, storage, rdb=False) == [number]
    dead, retry = study.trials
    assert dead.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.params == dead.params and retry.system_attrs["retry_history"] == [number]
    assert recover_stale(study, storage, rdb=False) == []  # the retry waits; nothing more to recover
    counts = count_trials(study.trials)
    assert (counts.retried, counts.failed, counts.waiting, counts.running, counts.occupied) == (1, 0, 1, 0, 1)


def test_a_live_worker_in_this_process_and_one_on_another_machine_are_not_stale(tmp_path: Path) -> None:
    study, storage = _journal_study(tmp_path)
    identity = WorkerIdentity(tmp_path / "workers")
    try:
        mine, _ = _claim(study, storage, identity.record())
        # Another machine's lock file cannot be tried from here, even when a file of that name is free.
        free = tmp_path / "free.lock"
        free.touch()
        elsewhere, _ = _claim(study, storage, {"host": "elsewhere.invalid", "pid": 1, "lock": str(free)})
        assert recover_stale(study, storage, rdb=False) == []
        assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.RUNNING]
    finally:
        identity.close()
    assert not identity.lock_path.exists()  # a worker that ends cleanly leaves no lock file
    assert recover_stale(study, storage, rdb=False) == [mine]
    assert elsewhere not in [t.number for t in study.trials if t.state == TrialState.FAIL]


def test_a_trial_whose_worker_never_claimed_it_is_stale_after_the_grace_period(tmp_path: Path) -> None:
    study, storage = _journal_study(tmp_path)
    for age in (UNCLAIMED_GRACE + datetime.timedelta(seconds=5), datetime.timedelta(seconds=0)):
        trial = create_trial(state=TrialState.RUNNING)
        trial.datetime_start = datetime.datetime.now() - age
        study.add_trial(trial)
    assert recover_stale(study, storage, rdb=False) == [0]  # the young one may still get its record
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]


def test_requeue_retries_a_trial_at_most_max_retry_times(tmp_path: Path) -> None:
    study, _ = _journal_study(tmp_path)
    for attempt in range(MAX_RETRY + 1):
        trial = study.ask()  # the waiting retry, once there is one
        trial.suggest_float("x", 0.0, 1.0)
        requeue(study, study.trials[trial.number])
        counts = count_trials(study.trials)
        retries_left = attempt < MAX_RETRY
        assert (counts.waiting, counts.retried, counts.failed) == (int(retries_left), attempt + retries_left,
                                                                   int(not retries_left))
    assert [t.state for t in study.trials] == [TrialState.FAIL] * (MAX_RETRY + 1)
    assert len({t.params["x"] for t in study.trials}) == 1  # every retry ran the same design


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_heartbeats_keep_an_rdb_trial_alive_and_their_end_makes_it_stale(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/study.db", "test", heartbeat=1)  # stale 3 s after the last beat
    assert storage.get_heartbeat_interval() == 1 and storage.grace_period == 3
    study = optuna.create_study(study_name="tiny", storage=storage)
    free = tmp_path / "free.lock"
    free.touch()
    # On RDB storage liveness is the heartbeat only: a free lock file does not make a trial stale.
    number, trial_id = _claim(study, storage, {"host": socket.gethostname(), "pid": 1, "lock": str(free)})
    threads = threading.active_count()
    with Heartbeat(storage, trial_id):
        assert threading.active_count() == threads + 1  # the beating thread
        time.sleep(storage.grace_period + 1.5)
        assert recover_stale(study, storage, rdb=True) == []
    time.sleep(storage.grace_period + 1.5)
    assert recover_stale(study, storage, rdb=True) == [number]
    dead, retry = study.trials
    assert dead.state == TrialState.FAIL and retry.state == TrialState.WAITING and retry.params == dead.params


def test_heartbeat_beats_nothing_on_the_journal(tmp_path: Path) -> None:
    study, storage = _journal_study(tmp_path)  # JournalStorage has no heartbeat to record
    _, trial_id = _claim(study, storage, {})
    threads = threading.active_count()
    with Heartbeat(storage, trial_id):
        assert threading.active_count() == threads
