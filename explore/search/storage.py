"""Opening the Optuna storage a campaign's study lives in (issue 5).

Storage is either Optuna's journal file (the embedded default, for processes on one machine) or an
RDB URL (``postgresql://`` for many machines, ``sqlite:///`` for one).  The URL's form is checked
when the campaign loads (:mod:`explore.campaign.storage`); here it is opened.

``postgresql://`` is SQLAlchemy's default PostgreSQL driver, psycopg 3, which explore depends on
(``psycopg[binary]``).  A URL naming another driver (``postgresql+psycopg2://``, ...) works when that
driver is installed; explore does not install it, and says so when it is missing.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal._file import BaseJournalFileLock  # the documented lock_obj interface

from explore.campaign.storage import is_rdb, redacted
from explore.errors import BadInput
from explore.search.liveness import MAX_RETRY


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
    _require_driver(storage, where)
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


def _require_driver(storage: str, where: str) -> None:
    """BadInput naming the URL when its database driver cannot be imported: otherwise SQLAlchemy's
    import error would read as a connection that failed."""
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(storage)
    except ValueError:
        return  # malformed (a port that is not a number, ...): opening it reports that
    try:
        url.get_dialect().import_dbapi()
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as e:
        reason = str(e).strip().splitlines()[0]
        raise BadInput(f"{where}: {redacted(storage)}: its database driver is not available ({reason}); "
                       "postgresql://user@host/db uses psycopg 3, which explore installs") from None


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
