"""Assertions several test modules share."""

from __future__ import annotations

import re
from pathlib import Path


def assert_one_line_naming(message: str, path: Path, names: list[str]) -> None:
    """A bad-input message is one line that starts with the file (and the line, where the file is
    YAML that parsed) and names every key in ``names``."""
    assert len(message.splitlines()) == 1, message
    prefix = re.match(re.escape(str(path)) + r"(:\d+)?: ", message)
    assert prefix, message
    rest = message[prefix.end():]  # the file name must not satisfy the key checks
    for name in names:
        assert name in rest, (name, message)
    assert "Traceback" not in message and "pydantic" not in message.lower()
