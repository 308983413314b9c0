"""Who may start the next trial of a study, and how the trials of dead workers are found and queued
again (issue 5).

Three rules keep a study at exactly the requested number of finished trials, whatever crashes:

* **Slots.**  A worker asks for a new trial only while holding the study's slot lock (an ``flock`` on
  ``<journal or SQLite file>.slots``, a PostgreSQL advisory lock), and only if the trials that are finished,
  running or waiting number fewer than the target.  Without the lock, K workers that all see
  N - 1 trials would start K of them.
* **Liveness.**  On RDB storage a worker records Optuna heartbeats and a trial whose heartbeat is
  older than the grace period is stale.  The journal has no heartbeats; its equivalent is an
  ``flock`` every worker holds on a file of its own for its whole life: the kernel drops it when the
  process dies, even under SIGKILL, so a RUNNING trial whose worker's lock can be taken is stale.
* **Retry.**  A stale trial is failed and a WAITING copy with the same parameters is queued
  (Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`, which records
  ``retry_history``).  A failed trial that some other trial retries does not count as finished;
  its retry does (:func:`explore.search.front.count_trials`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import fcntl
import os
import socket
import threading
import zlib
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from explore.campaign.storage import is_rdb

#: A retried trial that kills its worker again this often is left failed.
MAX_RETRY = 2
#: A RUNNING trial that never got a worker record (its worker died right after asking) is stale after this.
UNCLAIMED_GRACE = datetime.timedelta(seconds=60)
WORKER_ATTR = "explore:worker"


class SlotLock:
    """Mutual exclusion between every worker of one study, on one machine or many."""

    def __init__(self, storage: str, study_name: str) -> None:
        self._storage, self._key = storage, zlib.crc32(f"explore:{study_name}".encode())
        self._engine = None
        if storage.startswith("postgresql"):
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
            self._path = None
        else:
            path = storage.split(":///", 1)[1] if is_rdb(storage) else storage
            self._path = Path(f"{path}.slots")  # not "<journal>.lock": Optuna's journal lock has that name

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._engine is not None:
            import sqlalchemy

            with self._engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class WorkerIdentity:
    """This process as a worker: host, pid and a lock file it holds until it dies (the journal's heartbeat)."""

    def __init__(self, lock_dir: Path) -> None:
        self.host, self.pid = socket.gethostname(), os.getpid()
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = (lock_dir / f"{self.host}-{self.pid}.lock").resolve()
        self._handle = open(self.lock_path, "w")
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def record(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "lock": str(self.lock_path)}

    def close(self) -> None:
        self.lock_path.unlink(missing_ok=True)
        self._handle.close()


def _worker_alive(record: dict[str, Any]) -> bool | None:
    """Whether the worker that ``record`` names still runs; None when this machine cannot tell."""
    if record.get("host") != socket.gethostname():
        return None
    try:
        with open(record["lock"], "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _stale(trial: FrozenTrial, rdb: bool, now: datetime.datetime) -> bool:
    record = trial.system_attrs.get(WORKER_ATTR)
    if record is None:
        return trial.datetime_start is not None and now - trial.datetime_start > UNCLAIMED_GRACE
    return not rdb and _worker_alive(record) is False


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Fail a trial whose worker is gone and queue a retry with the same parameters."""
    storage = study._storage  # the Study API has no way to fail a trial it did not ask for
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), trial.number)
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    # A copy, as Optuna's fail_stale_trials passes: the callback appends to the trial's retry_history
    # in place, and the journal's get_trial returns its cached trial, which would then count as retried.
    failed = copy.deepcopy(storage.get_trial(trial_id))
    optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY)(study, failed)


def recover_stale(study: optuna.Study, storage: optuna.storages.BaseStorage, rdb: bool) -> list[int]:
    """Fail and re-queue the trials of dead workers; returns their numbers.  Call it holding the slot lock."""
    recovered = []
    if rdb and isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        failed = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        recovered += sorted(before & failed)
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _stale(trial, rdb, now):
            requeue(study, trial)
            recovered.append(trial.number)
    return recovered


class Heartbeat:
    """Records RDB heartbeats for one trial from a thread while the trial runs (the journal's
    liveness is the worker's lock file, so there it does nothing)."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        enabled = isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None
        self._interval = storage.get_heartbeat_interval() if enabled else None
        self._thread = threading.Thread(target=self._beat, daemon=True) if enabled else None

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            self._storage.record_heartbeat(self._trial_id)

    def __enter__(self) -> Heartbeat:
        if self._thread is not None:
            self._storage.record_heartbeat(self._trial_id)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
