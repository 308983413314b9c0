"""The Optuna study of a campaign: where it lives, how its trials are counted, who may start the
next trial, and how the trials of dead workers are found and queued again (issue 5).

Storage is either Optuna's journal file (the embedded default, for processes on one machine) or an
RDB URL (``postgresql://`` for many machines, ``sqlite:///`` for one).  Three rules keep a study at
exactly the requested number of finished trials, whatever crashes:

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
  its retry does.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import optuna
from optuna.storages.journal._file import BaseJournalFileLock  # the documented lock_obj interface
from optuna.trial import FrozenTrial, TrialState

from explore.campaign import Campaign, load_campaign, location
from explore.campaign.storage import check_storage_form, is_rdb, redacted
from explore.errors import BadInput
from explore.campaign.space import SamplerConfig

#: A retried trial that kills its worker again this often is left failed.
MAX_RETRY = 2
#: A RUNNING trial that never got a worker record (its worker died right after asking) is stale after this.
UNCLAIMED_GRACE = datetime.timedelta(seconds=60)
WORKER_ATTR = "explore:worker"


def storage_location(campaign: Campaign, override: str | None, results: Path) -> tuple[str, str]:
    """The storage to use and where it was named (for messages): ``--storage``, the campaign's
    ``search.storage``, or the journal file ``<results>/<campaign>/study.journal``."""
    if override:
        check_storage_form(override, "--storage")
        return override, "--storage"
    if campaign.search is not None and campaign.search.storage:
        return campaign.search.storage, f"{location(campaign, 'search', 'storage')}search.storage"
    return str(results / campaign.name / "study.journal"), "journal"


def open_storage(storage: str, where: str, heartbeat: float | None = None) -> optuna.storages.BaseStorage:
    """Optuna storage for ``storage``; BadInput names ``where`` when it cannot be reached.  With
    ``heartbeat`` (seconds), RDB trials record heartbeats and go stale after three missed ones."""
    if not is_rdb(storage):
        from optuna.storages.journal import JournalFileBackend

        path = Path(storage)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFlock(path)))
        except OSError as e:
            raise BadInput(f"{where}: {storage}: cannot open the journal file ({e.strerror})") from None
    kwargs: dict[str, Any] = {}
    if storage.startswith("postgresql"):
        kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 10}}
    if heartbeat is not None:
        kwargs.update(heartbeat_interval=max(1, round(heartbeat)), grace_period=max(3, round(3 * heartbeat)),
                      heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY))
    try:
        return optuna.storages.RDBStorage(storage, **kwargs)
    except Exception as e:  # sqlalchemy reports refused connections, bad hosts and auth as several types
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise BadInput(f"{where}: cannot reach {redacted(storage)} ({reason})") from None


class JournalFlock(BaseJournalFileLock):
    """The journal's write lock as an ``flock``.  Optuna's default lock is a symlink, which a
    SIGKILLed writer leaves behind and every later writer then waits on; the kernel drops an
    ``flock`` when its holder dies."""

    def __init__(self, journal: Path) -> None:
        self._path, self._handle = Path(f"{journal}.flock"), None

    def acquire(self) -> bool:
        self._handle = open(self._path, "a")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def trial_constraints(trial: FrozenTrial) -> Sequence[float]:
    """Optuna's constraint values of a trial: relative budget excess per board and budget (> 0 violates)."""
    return trial.user_attrs.get("constraints", ())


def make_sampler(config: SamplerConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    if config.name in ("tpe", "dnas+tpe"):
        return optuna.samplers.TPESampler(n_startup_trials=config.n_startup_trials, seed=seed,
                                          constraints_func=trial_constraints)
    if config.name in ("nsga2", "dnas+nsga2"):
        return optuna.samplers.NSGAIISampler(population_size=config.population_size, seed=seed,
                                             constraints_func=trial_constraints)
    if config.name == "gp":
        return optuna.samplers.GPSampler(n_startup_trials=config.n_startup_trials, seed=seed,
                                         constraints_func=trial_constraints)
    return optuna.samplers.RandomSampler(seed=seed)  # random, and dnas once its proposals are used up


def objective_labels(campaign: Campaign) -> list[str]:
    """``accuracy``, ``train_sram@nrf52840``, ...: one per objective, naming the board of a cost."""
    first = campaign.boards[0] if campaign.boards else None
    return [o.name if o.name == "accuracy" else f"{o.name}@{o.board or first}" for o in campaign.search.objectives]


def open_study(campaign: Campaign, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler,
               where: str, create: bool = True) -> optuna.Study:
    """The campaign's study (named after it), created on first use.  A study made with other
    objectives is bad input: its values would mean something else."""
    labels = objective_labels(campaign)
    directions = [o.resolved_direction for o in campaign.search.objectives]
    if not create:
        try:
            study = optuna.load_study(study_name=campaign.name, storage=storage, sampler=sampler)
        except KeyError:
            raise BadInput(f"{where}: no study named {campaign.name!r} yet; start it with explore run") from None
    else:
        study = optuna.create_study(study_name=campaign.name, storage=storage, sampler=sampler,
                                    directions=directions, load_if_exists=True)
        if "objectives" not in study.user_attrs:
            study.set_user_attr("objectives", labels)
    stored = study.user_attrs.get("objectives", labels)
    if stored != labels:
        raise BadInput(f"{where}: study {campaign.name!r} there was made with objectives {stored}, the campaign "
                       f"now has {labels}; rename the campaign or use another storage")
    return study


def load_search_campaign(path: Path) -> Campaign:
    """A campaign that has a search section (the commands that work on its study need one)."""
    campaign = load_campaign(path)
    if campaign.search is None:
        raise BadInput(f"{location(campaign)}search: the campaign has no search section; add one "
                       "(see README, 'Searching') or run its baseline with explore evaluate")
    return campaign


def existing_study(campaign: Campaign, campaign_path: Path, storage: str | None,
                   results: Path) -> tuple[optuna.Study, str]:
    """The campaign's study as ``explore run`` left it, and where it is stored; BadInput if there is none."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    where_storage, where = storage_location(campaign, storage, results)
    if not is_rdb(where_storage) and not Path(where_storage).exists():
        raise BadInput(f"{where_storage}: no study yet for {campaign.name} (so no finished trials); "
                       f"start it with explore run {campaign_path}")
    study = open_study(campaign, open_storage(where_storage, where), optuna.samplers.RandomSampler(), where,
                       create=False)
    return study, where_storage


# --- counting ---------------------------------------------------------------------------------------------


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    infeasible: int = 0
    pruned: int = 0
    failed: int = 0
    retried: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.infeasible + self.pruned + self.failed

    @property
    def occupied(self) -> int:
        """Finished, running or queued: the slots of the requested count already taken."""
        return self.finished + self.running + self.waiting

    def to_dict(self) -> dict[str, int]:
        return {"complete": self.complete, "infeasible": self.infeasible, "pruned": self.pruned,
                "failed": self.failed, "running": self.running, "waiting": self.waiting,
                "retried": self.retried, "finished": self.finished}


def count_trials(trials: Sequence[FrozenTrial]) -> Counts:
    retried = retried_numbers(trials)
    tally = dict.fromkeys(Counts.__dataclass_fields__, 0)
    for t in trials:
        if t.state == TrialState.COMPLETE:
            tally["infeasible" if t.user_attrs.get("infeasible") else "complete"] += 1
        elif t.state == TrialState.PRUNED:
            tally["pruned"] += 1
        elif t.state == TrialState.FAIL:
            tally["retried" if t.number in retried else "failed"] += 1
        elif t.state == TrialState.RUNNING:
            tally["running"] += 1
        elif t.state == TrialState.WAITING:
            tally["waiting"] += 1
    return Counts(**tally)


def is_feasible_complete(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and not trial.user_attrs.get("infeasible")


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def pareto_front(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[FrozenTrial]:
    """Feasible completed trials that no other feasible completed trial dominates, by trial number."""
    feasible = [t for t in trials if is_feasible_complete(t)]
    return sorted((t for t in feasible if not any(dominates(o.values, t.values, directions) for o in feasible)),
                  key=lambda t: t.number)


# --- slots, liveness and retries ---------------------------------------------------------------------------


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
    optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY)(study, storage.get_trial(trial_id))


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
