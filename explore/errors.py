"""The one exception type for bad user input.

It subclasses ValueError so library callers can catch it as such; the CLI turns it, and only it,
into one line on stderr with exit status 2, so a genuine bug still shows its traceback.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


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


def validation_line(path: Path, error: ValidationError, model: type | None = None,
                    lines: "YamlLines | None" = None) -> str:
    """``<file>[:<line>]: <dotted.key>: <message> (got X)`` for the first error; checks spanning
    several keys raise a ``PydanticCustomError`` of type ``bad_key`` with ``key`` (and ``got``) in
    its context.  With ``model``, an unknown key gets a did-you-mean among its siblings; with
    ``lines``, the YAML line of the key is named."""
    first = error.errors()[0]
    ctx = first.get("ctx") or {}
    loc = list(first["loc"])
    if first["type"] == "bad_key":
        loc += ctx["key"].split(".")
    message = re.sub(r" or instance of \w+$", "", first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden" and model is not None:
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = f"unknown key{f' (did you mean {close[0]!r}?)' if close else ''}; allowed: {', '.join(allowed)}"
    if "got" in ctx:
        shown = f" (got {ctx['got']!r})"
    else:
        value = first.get("input")
        quiet = isinstance(value, dict) or first["type"] in ("missing", "extra_forbidden")
        shown = "" if quiet else f" (got {value!r})"
    more = f" [+{error.error_count() - 1} more]" if error.error_count() > 1 else ""
    line = lines.line(loc) if lines is not None else None
    return f"{path}{f':{line}' if line else ''}: {_key(loc) or '(top level)'}: {message}{shown}{more}"


def _allowed_keys(model: type, loc: list[Any]) -> list[str]:
    """Field names (YAML spelling) of the pydantic model found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _inner(current, part)
        if current is None:
            return []
    for candidate in _candidates(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [f.alias or name for name, f in candidate.model_fields.items() if not f.exclude]
    return []


def _inner(annotation: Any, part: Any) -> Any:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            fields = {f.alias or n: f for n, f in candidate.model_fields.items()}
            if part in fields:
                return fields[part].annotation
        elif typing.get_origin(candidate) in (dict, list):
            return typing.get_args(candidate)[-1]
    return None


def _candidates(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _candidates(arg)]
    return [annotation]


class YamlLines:
    """Line numbers of the keys of a YAML document, for messages that say ``file:line``."""

    def __init__(self, text: str) -> None:
        try:
            self.root = yaml.compose(text)
        except yaml.YAMLError:
            self.root = None

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
