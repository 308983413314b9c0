"""Genome keys: what a model family lets a search choose, with types, ranges and defaults.

A genome is a plain JSON-serialisable dict ``{key: value}``.  Each family declares its keys once;
search spaces (issue 5) narrow these ranges, and :func:`check_genome` rejects anything outside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from explore.errors import BadInput, shown

Value = int | float | str | bool


@dataclass(frozen=True)
class Key:
    """One genome key: ``int`` or ``float`` in ``[low, high]``, or one of ``choices``."""

    kind: str
    default: Value
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Value, ...] | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        return f"{self.kind} in [{self.low}, {self.high}]"

    def check(self, name: str, value: Any, where: str) -> Value:
        if self.choices is not None:
            # Type must match too: 3.0 == 3, but a float kernel size would break the network.
            if not any(type(value) is type(c) and value == c for c in self.choices):
                raise BadInput(f"{where}: {name} = {shown(value)} must be {self.describe()}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInput(f"{where}: {name} = {shown(value)} must be an integer in [{self.low}, {self.high}]")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"{where}: {name} = {shown(value)} must be a number in [{self.low}, {self.high}]")
        if not self.low <= value <= self.high:
            raise BadInput(f"{where}: {name} = {shown(value)} is outside the allowed range {self.describe()}")
        return int(value) if self.kind == "int" else float(value)


def int_key(low: int, high: int, default: int, help: str) -> Key:
    return Key("int", default, help, low=low, high=high)


def float_key(low: float, high: float, default: float, help: str) -> Key:
    return Key("float", default, help, low=low, high=high)


def choice_key(choices: tuple[Value, ...], default: Value, help: str) -> Key:
    return Key("choice", default, help, choices=tuple(choices))


def check_genome(keys: Mapping[str, Key], genome: Mapping[str, Any], where: str) -> dict[str, Value]:
    """Validate ``genome`` against ``keys`` and fill in defaults; ``where`` names the source in errors."""
    unknown = sorted(set(genome) - set(keys))
    if unknown:
        raise BadInput(f"{where}: unknown genome key {shown(unknown[0])}; allowed: {', '.join(sorted(keys))}")
    return {name: key.check(name, genome[name], where) if name in genome else key.default
            for name, key in keys.items()}
