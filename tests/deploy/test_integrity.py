"""``explore validate`` checks the bundle first (issue 18, item 6): manifest.json against the schema and
every file it lists against its sha256.

One test per class of broken bundle: a tampered file, a manifest missing a required key, a manifest
that is not a JSON object, a manifest that is not valid JSON, a listed file that is missing (and a few
neighbours: a manifest that stops listing a file, or lists one outside the bundle).  Each is refused
through the real command line with exit status 2 and exactly one line on stderr naming the file, no
traceback, no verdict on stdout, and nothing written anywhere in the directory it ran in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from explore.deploy import checked_manifest, verify_files
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.validate import read_bundle


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    return synthetic_bundle(random_design(6, "uint8"), tmp_path_factory.mktemp("exported"))


@pytest.fixture
def bundle(exported: Path, tmp_path: Path) -> Path:
    """A fresh copy of the exported bundle, which passes the check as it is."""
    copy = tmp_path / "bundle"
    shutil.copytree(exported, copy)
    assert checked_manifest(copy)["files"] and verify_files(copy) == []
    return copy


def _everything(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _refused(bundle: Path, *fragments: str) -> str:
    """Run ``explore validate`` on ``bundle``: exit 2, one stderr line holding ``fragments``, nothing else."""
    before = _everything(bundle.parent)
    done = subprocess.run([sys.executable, "-m", "explore", "validate", str(bundle), "--steps", "1"],
                          cwd=bundle.parent, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stdout == ""                               # no verdict
    assert _everything(bundle.parent) == before            # nothing written: no validation.json, no build
    line = done.stderr.strip()
    for fragment in fragments:
        assert fragment in line, line
    return line


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _write_manifest(bundle: Path, manifest) -> None:
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _flip_a_digit(text: str, after: str) -> str:
    """``text`` with the first digit following ``after`` replaced by another (the size stays the same)."""
    match = re.compile(re.escape(after) + r"\D*?(\d)").search(text)
    assert match, after
    k = match.start(1)
    return text[:k] + str((int(text[k]) + 1) % 10) + text[k + 1:]


TAMPERED = {
    "model.c": lambda text: _flip_a_digit(text, "explore_l0_w_q["),              # a weight, same size
    "model.h": lambda text: _flip_a_digit(text, "#define EXPLORE_ARENA_BYTES"),  # the arena plan, same size
    "runtime/src/update.c": lambda text: text + "/* edited */\n",
    "explore_bundle.h": lambda text: text.replace("uint8_t", "int8_t", 1),
    "example/main.c": lambda text: text.replace("EXAMPLE_EPOCHS 30", "EXAMPLE_EPOCHS 99"),
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_a_tampered_file_is_refused(bundle: Path, name: str) -> None:
    path = bundle / name
    edited = TAMPERED[name](path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    _refused(bundle, str(path), "changed after export")


def test_two_tampered_files_name_the_first_and_count_the_rest(bundle: Path) -> None:
    for name in ("model.c", "runtime/src/update.c"):
        (bundle / name).write_text(TAMPERED[name]((bundle / name).read_text()))
    _refused(bundle, str(bundle / "model.c"), "and 1 more listed files")


@pytest.mark.parametrize("key", ["format", "memory", "training", "files", "training.lr", "model.layers",
                                 "files.0.sha256"])
def test_a_manifest_missing_a_required_key_is_refused(bundle: Path, key: str) -> None:
    manifest = _manifest(bundle)
    *parents, last = key.split(".")
    inner = manifest
    for part in parents:
        inner = inner[int(part)] if part.isdigit() else inner[part]
    del inner[int(last) if last.isdigit() else last]
    _write_manifest(bundle, manifest)
    _refused(bundle, str(bundle / "manifest.json"), f"'{last}' is a required property")


@pytest.mark.parametrize("value, kind", [([], "an array"), ([{"format": "explore.bundle/1"}], "an array"),
                                         ("explore.bundle/1", "a string"), (42, "a number"), (None, "null")])
def test_a_manifest_that_is_not_an_object_is_refused(bundle: Path, value, kind: str) -> None:
    _write_manifest(bundle, value)
    _refused(bundle, str(bundle / "manifest.json"), "must be a JSON object", kind)


INVALID_JSON = {
    "cut short": lambda text: text[:len(text) // 2],
    "empty": lambda text: "",
    "NaN": lambda text: text.replace('"feasible": true', '"feasible": NaN').replace('"feasible": false',
                                                                                     '"feasible": NaN'),
    "duplicate key": lambda text: text.replace('"trial":', '"trial": 1, "trial":', 1),
    "not UTF-8": lambda text: "\udcff" + text,
}


@pytest.mark.parametrize("case", sorted(INVALID_JSON))
def test_a_manifest_that_is_not_valid_json_is_refused(bundle: Path, case: str) -> None:
    path = bundle / "manifest.json"
    edited = INVALID_JSON[case](path.read_text())
    assert edited != path.read_text()
    path.write_bytes(edited.encode("utf-8", "surrogateescape"))
    _refused(bundle, str(path), "not valid JSON")


@pytest.mark.parametrize("name", ["model.c", "runtime/include/explore_rt.h", "CMakeLists.txt"])
def test_a_missing_listed_file_is_refused(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    _refused(bundle, str(bundle / name), "listed in manifest.json but missing")


def test_a_listed_file_that_is_a_directory_is_refused(bundle: Path) -> None:
    (bundle / "example" / "main.c").unlink()
    (bundle / "example" / "main.c").mkdir()
    _refused(bundle, str(bundle / "example" / "main.c"), "a directory")


def test_a_manifest_that_stops_listing_the_model_is_refused(bundle: Path) -> None:
    """Unlisting model.c must not make an edit to it go unnoticed."""
    manifest = _manifest(bundle)
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "model.c"]
    _write_manifest(bundle, manifest)
    _refused(bundle, str(bundle / "manifest.json"), "does not list model.c")


@pytest.mark.parametrize("path", ["../outside.c", "/etc/passwd", "runtime/../../outside.c"])
def test_a_manifest_listing_a_file_outside_the_bundle_is_refused(bundle: Path, path: str) -> None:
    manifest = _manifest(bundle)
    manifest["files"][0]["path"] = path
    _write_manifest(bundle, manifest)
    _refused(bundle, str(bundle / "manifest.json"), "files[0].path")


def test_a_huge_value_is_not_echoed(bundle: Path) -> None:
    manifest = _manifest(bundle)
    manifest["trial"] = "9" * 100_000
    _write_manifest(bundle, manifest)
    line = _refused(bundle, str(bundle / "manifest.json"), "trial")
    assert len(line) < 300


def test_the_library_refuses_the_same_bundles(bundle: Path) -> None:
    """read_bundle, which every validation, calibration and benchmark starts with, checks too."""
    from explore.errors import BadInput

    (bundle / "model.c").write_text(TAMPERED["model.c"]((bundle / "model.c").read_text()))
    with pytest.raises(BadInput, match="model.c: its sha256 differs"):
        read_bundle(bundle)
