"""Atomic writes (explore/io.py): whole files or nothing, with the permissions a plain write gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from explore.io import current_umask, write_bytes_atomic, write_directory_atomic, write_json_atomic, write_text_atomic


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process's umask for one test; the old one comes back after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_new_files_get_the_permissions_of_the_umask_not_of_the_temporary_file(tmp_path: Path, umask,
                                                                               mask: int) -> None:
    umask(mask)
    assert current_umask() == mask
    write_text_atomic(tmp_path / "a.txt", "text")
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    write_json_atomic(tmp_path / "deep" / "c.json", {"x": 1})
    plain = tmp_path / "plain.txt"
    plain.write_text("what open() gives")
    for name in ("a.txt", "b.bin", "deep/c.json"):
        assert _mode(tmp_path / name) == 0o666 & ~mask == _mode(plain), name
    bundle = write_directory_atomic(tmp_path / "bundle", {"x.c": b"int x;\n"})
    assert _mode(bundle) == 0o777 & ~mask and _mode(bundle / "x.c") == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "bundle", "deep", "plain.txt"]


def test_a_replaced_file_keeps_its_own_permissions(tmp_path: Path, umask) -> None:
    umask(0o022)
    private, shared = tmp_path / "private.json", tmp_path / "shared.json"
    write_json_atomic(private, {"v": 1})
    private.chmod(0o600)
    write_json_atomic(shared, {"v": 1})
    shared.chmod(0o664)
    write_json_atomic(private, {"v": 2})
    write_json_atomic(shared, {"v": 2})
    assert _mode(private) == 0o600 and _mode(shared) == 0o664
    assert private.read_text() == shared.read_text() == '{\n  "v": 2\n}\n'
    assert os.umask(0o022) == 0o022  # reading the umask left it as it was
