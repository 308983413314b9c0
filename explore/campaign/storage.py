"""Where a campaign's Optuna study lives, as the user writes it: an RDB URL or a journal file path.

Only the form is checked here (at the edge, when the campaign loads); opening the storage is the
search's job (:mod:`explore.search.storage`).
"""

from __future__ import annotations

import os
from pathlib import Path

from explore.errors import BadInput, shown

RDB_SCHEMES = ("postgresql", "sqlite")


def is_rdb(storage: str) -> bool:
    return "://" in storage


def check_storage_form(storage: str, where: str) -> None:
    """An RDB URL with a supported scheme, or a journal file path."""
    if is_rdb(storage):
        scheme = storage.split("://", 1)[0].split("+", 1)[0]
        if scheme not in RDB_SCHEMES:
            raise BadInput(f"{where}: {redacted(storage)}: unsupported storage; use postgresql://user@host/db, "
                           "sqlite:///path.db or a journal file path")
    elif storage.endswith(("/", os.sep)) or _is_dir(storage, where):
        raise BadInput(f"{where}: {storage}: is a directory; a journal storage is a file path")


def _is_dir(storage: str, where: str) -> bool:
    try:
        return Path(storage).is_dir()
    except OSError as e:  # a name longer than the file system allows
        raise BadInput(f"{where}: {shown(storage)}: {e.strerror}") from None


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
