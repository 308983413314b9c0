"""The one exception type for bad user input.

It subclasses ValueError so library callers can catch it as such; the CLI turns it, and only it,
into one line on stderr with exit status 2, so a genuine bug still shows its traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class BadInput(ValueError):
    """An argument, file, key or value the user supplied is not allowed; the message names it."""


def _key(loc: tuple[Any, ...] | list[Any]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part != "[key]":
            key += f".{part}" if key else str(part)
    return key


def validation_line(path: Path, error: ValidationError) -> str:
    """``<file>: <dotted.key>: <message> (got X)`` for the first error; checks spanning several keys
    raise a ``PydanticCustomError`` of type ``bad_key`` with ``key`` (and ``got``) in its context."""
    first = error.errors()[0]
    ctx = first.get("ctx") or {}
    loc = list(first["loc"])
    if first["type"] == "bad_key":
        loc += ctx["key"].split(".")
    message = re.sub(r" or instance of \w+$", "", first["msg"].removeprefix("Value error, "))
    if "got" in ctx:
        shown = f" (got {ctx['got']!r})"
    else:
        value = first.get("input")
        shown = "" if isinstance(value, dict) or first["type"] == "missing" else f" (got {value!r})"
    more = f" [+{error.error_count() - 1} more]" if error.error_count() > 1 else ""
    return f"{path}: {_key(loc) or '(top level)'}: {message}{shown}{more}"
