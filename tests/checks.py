"""Assertions several test modules share."""

from __future__ import annotations

from pathlib import Path


def assert_one_line_naming(message: str, path: Path, names: list[str]) -> None:
    """A bad-input message is one line that starts with the file and names every key in ``names``."""
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"{path}: "), message
    rest = message.removeprefix(f"{path}: ")  # the file name must not satisfy the key checks
    for name in names:
        assert name in rest, (name, message)
    assert "Traceback" not in message and "pydantic" not in message.lower()
