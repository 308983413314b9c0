"""The one exception type for bad user input.

It subclasses ValueError so library callers can catch it as such; the CLI turns it, and only it,
into one line on stderr with exit status 2, so a genuine bug still shows its traceback.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import types
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


#: Longest echo of a user's value in a message; a bad value may be megabytes on one line.
MAX_SHOWN = 80
#: Longest message; a safety net for a value echoed without :func:`shown`.
MAX_MESSAGE = 1000
_TYPE_ERRORS = ("missing", "extra_forbidden")


class BadInput(ValueError):
    """An argument, file, key or value the user supplied is not allowed; the message names it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…")


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut to about MAX_SHOWN characters without building the whole
    text (an expanded YAML alias or a huge list would take minutes)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = MAX_SHOWN
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 16
    short.maxlevel = 3
    try:
        text = short.repr(value)
    except ValueError:  # an int too long to print
        text = "<a number too long to print>"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


def _key(loc: tuple[Any, ...] | list[Any]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part != "[key]":
            part = str(part) if len(str(part)) <= MAX_SHOWN else str(part)[:MAX_SHOWN - 1] + "…"
            key += f".{part}" if key else part
    return key


def validation_line(path: Path, error: ValidationError, model: type | None = None,
                    lines: "YamlLines | None" = None, data: Any = None) -> str:
    """``<file>[:<line>]: <dotted.key>: <message> (got X)`` for the first error; checks spanning
    several keys raise a ``PydanticCustomError`` of type ``bad_key`` with ``key`` (and ``got``) in
    its context.  With ``model``, an unknown key gets a did-you-mean among its siblings; with
    ``lines``, the YAML line of the key is named; with ``data`` (what was validated), the names
    pydantic gives the alternatives of a union are dropped from the key and only the alternative
    that came closest is reported."""
    errors = [(e, _user_loc(e, data)) for e in error.errors()]
    first, loc, others, dropped = _closest(errors)
    ctx = first.get("ctx") or {}
    if first["type"] == "bad_key":
        loc += ctx["key"].split(".")
    message = _message(first["msg"])
    if others:  # every alternative of the union failed on the value's type
        message = _either(message, [_message(e["msg"]) for e in others])
    if first["type"] == "extra_forbidden" and model is not None:
        allowed = _allowed_keys(model, list(first["loc"])[:-1])
        close = difflib.get_close_matches(str(loc[-1])[:MAX_SHOWN], allowed, n=1)
        message = f"unknown key{f' (did you mean {close[0]!r}?)' if close else ''}; allowed: {', '.join(allowed)}"
    if "got" in ctx:
        got = f" (got {shown(ctx['got'])})"
    else:
        value = first.get("input")
        quiet = isinstance(value, dict) or first["type"] in _TYPE_ERRORS
        got = "" if quiet else f" (got {shown(value)})"
    count = len(errors) - dropped - 1
    more = f" [+{count} more]" if count > 0 else ""
    line = lines.line(loc) if lines is not None else None
    return f"{path}{f':{line}' if line else ''}: {_key(loc) or '(top level)'}: {message}{got}{more}"


def _message(text: str) -> str:
    return re.sub(r" or instance of \w+$", "", text.removeprefix("Value error, "))


def _either(first: str, others: list[str]) -> str:
    """Where every alternative of a union failed on the value's type: what the value may be."""
    should = "Input should be "
    if not all(m.startswith(should) for m in [first, *others]):
        return first
    return should + " or ".join(dict.fromkeys(m.removeprefix(should) for m in [first, *others]))


def _user_loc(error: Any, data: Any) -> list[Any]:
    """The error's location as the user wrote it: each part that names a key or an index of ``data``
    (the last part of a missing key too), without the tags pydantic adds for union alternatives.
    Without ``data``, the location as pydantic gives it."""
    loc = list(error["loc"])
    if data is None:
        return loc
    kept, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (i == len(loc) - 1 and error["type"] == "missing"):
            continue  # a union tag such as "function-after[_ordered(), Range]" or "list[int]"
        kept.append(part)
    return kept


def _closest(errors: list[tuple[Any, list[Any]]]) -> tuple[Any, list[Any], list[Any], int]:
    """The error to report: the first, or, where the first is one alternative of a union, the
    alternative that got furthest (a wrong value rather than a missing or unknown key, then the
    fewest errors, then the deepest key), union by nested union.  Also the messages of the other
    alternatives of the innermost union, and how many errors the other alternatives hold."""
    pool, tag, dropped, last_others = errors, -1, 0, []
    while (tag := _first_tag(pool[0][0]["loc"], pool[0][1], tag + 1)) is not None:
        prefix = tuple(pool[0][0]["loc"][:tag])
        alternatives = [(e, user) for e, user in pool if tuple(e["loc"][:tag]) == prefix and len(e["loc"]) > tag]
        branch_size = Counter(e["loc"][tag] for e, _ in alternatives)
        best = min(alternatives, key=lambda item: (item[0]["type"] in _TYPE_ERRORS, branch_size[item[0]["loc"][tag]],
                                                   -len(item[1])))
        chosen = best[0]["loc"][tag]
        last_others = [item for item in alternatives if item[0]["loc"][tag] != chosen]
        dropped += len(last_others)
        pool = [best] + [item for item in alternatives if item[0]["loc"][tag] == chosen and item is not best]
    others = [e for e, user in last_others if len(user) == len(pool[0][1])]
    return pool[0][0], pool[0][1], [] if len(others) < len(last_others) else others, dropped


def _first_tag(raw: tuple[Any, ...], user: list[Any], start: int) -> int | None:
    """Index in ``raw``, from ``start`` on, of the first part that ``user`` dropped (a union tag)."""
    kept = 0
    for i, part in enumerate(raw):
        if kept < len(user) and user[kept] == part:
            kept += 1
        elif i >= start:
            return i
    return None


def _allowed_keys(model: type, loc: list[Any]) -> list[str]:
    """Field names (YAML spelling) of the pydantic model found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _inner(current, part)
        if current is None:
            return []
    allowed: dict[str, None] = {}  # a union of models (a range or choices) allows the keys of each
    for candidate in _candidates(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            allowed.update(dict.fromkeys(f.alias or name for name, f in candidate.model_fields.items() if not f.exclude))
    return list(allowed)


def _inner(annotation: Any, part: Any) -> Any:
    models = [c for c in _candidates(annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    for model in models:  # pydantic names a union's model alternative "Range" or "function-after[..., Range]"
        if len(models) > 1 and (part == model.__name__ or str(part).endswith(f", {model.__name__}]")):
            return model
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            fields = {f.alias or n: f for n, f in candidate.model_fields.items()}
            if part in fields:
                return fields[part].annotation
        elif typing.get_origin(candidate) in (dict, list):
            return typing.get_args(candidate)[-1]
    return None


def _candidates(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _candidates(arg)]
    return [annotation]


class YamlLines:
    """Line numbers of the keys of a YAML document, for messages that say ``file:line``."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root  # explore.io.compose_yaml composes a document safely

    def line(self, loc: list[Any] | tuple[Any, ...]) -> int | None:
        """1-based line of the deepest key of ``loc`` that the document has."""
        node, found = self.root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if match is None:
                    break
                found, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                found = node.start_mark.line + 1
            else:
                break
        return found
