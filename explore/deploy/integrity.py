"""A bundle checked before anything uses it.

``manifest.json`` must be a JSON object of format ``explore.bundle/1`` that follows the schema and
lists at least ``model.h`` and ``model.c``, and every file it lists must have the size and sha256 it
records.  Anything else is one :class:`~explore.errors.BadInput` line naming the file and what is
wrong with it, so a tampered or broken bundle never reaches the compiler or a verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from explore.deploy.manifest import FORMAT, load_schema, sha256
from explore.errors import BadInput

MANIFEST = "manifest.json"
#: Written by every explore; without their sha256 an edited model would go unnoticed.
ALWAYS_LISTED = ("model.h", "model.c")
#: A real manifest is some tens of KB; anything this large is not one (and is not read whole).
MAX_MANIFEST_BYTES = 8 * 2**20
_SHOWN = 80


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "true or false", int: "a number", float: "a number",
             type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    repeated = next((key for key in keys if keys.count(key) > 1), None)
    if repeated is not None:
        raise ValueError(f"the key {_cut(repr(repeated))} appears twice in one object")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def read_manifest(bundle_dir: Path) -> dict:
    """``manifest.json`` of ``bundle_dir`` as a dict; BadInput unless it is a readable JSON object."""
    path = Path(bundle_dir) / MANIFEST
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise BadInput(f"{path}: {size:,} bytes is too large for a bundle manifest")
        manifest = json.loads(path.read_bytes(), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except FileNotFoundError:
        raise BadInput(f"{bundle_dir}: not a bundle (no {MANIFEST}); make one with explore export") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON (line {e.lineno} column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not valid JSON (not UTF-8 text)") from None
    except ValueError as e:
        raise BadInput(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise BadInput(f"{path}: not a bundle manifest (nested too deeply)") from None
    except OSError as e:
        raise BadInput(f"{path}: unreadable ({e.strerror or e})") from None
    if not isinstance(manifest, dict):
        raise BadInput(f"{path}: must be a JSON object with the keys of {FORMAT}, not {_kind(manifest)}")
    return manifest


def _where(error: Any) -> str:
    where = ""
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "top level"


def check_schema(path: Path, manifest: dict) -> None:
    """BadInput naming ``path``, the key and the problem unless ``manifest`` follows the schema."""
    import jsonschema

    if "format" in manifest and manifest["format"] != FORMAT:
        raise BadInput(f"{path}: format {_cut(repr(manifest['format']))} is not {FORMAT!r}, "
                       f"the bundle format this explore reads")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(load_schema()).iter_errors(manifest))
    if error is not None:
        # the message quotes the offending value, which may be any size: cut the value, keep the reason
        value = repr(error.instance)
        message = error.message.replace(value, _cut(value)) if len(value) > _SHOWN else error.message
        raise BadInput(f"{path}: {_where(error)}: {_cut(message) if len(message) > 4 * _SHOWN else message} "
                       f"(schema {FORMAT})")
    listed = {entry["path"] for entry in manifest["files"]}
    missing = [name for name in ALWAYS_LISTED if name not in listed]
    if missing:
        raise BadInput(f"{path}: files: does not list {', '.join(missing)}, so changes to it would go unnoticed")


def file_problem(bundle_dir: Path, entry: dict) -> str | None:
    """What is wrong with the listed file ``entry`` (``path``, ``bytes``, ``sha256``), or None."""
    try:
        data = (Path(bundle_dir) / entry["path"]).read_bytes()
    except FileNotFoundError:
        return f"listed in {MANIFEST} but missing"
    except IsADirectoryError:
        return f"a directory, where {MANIFEST} lists a file"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if len(data) != entry["bytes"]:
        return f"{len(data):,} bytes where {MANIFEST} lists {entry['bytes']:,}: changed after export"
    if sha256(data) != entry["sha256"]:
        return f"its sha256 differs from the one in {MANIFEST}: changed after export"
    return None


def verify_files(bundle_dir: Path) -> list[str]:
    """Files listed in the manifest of ``bundle_dir`` that are missing or differ from it (empty: all match)."""
    manifest = json.loads((Path(bundle_dir) / MANIFEST).read_text())
    return [entry["path"] for entry in manifest["files"] if file_problem(bundle_dir, entry) is not None]


def checked_manifest(bundle_dir: Path) -> dict:
    """The manifest of ``bundle_dir`` once the manifest and every file it lists are as exported;
    BadInput (one line naming the first file that is not, and how many more are not) otherwise."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    check_schema(bundle_dir / MANIFEST, manifest)
    problems = [(entry["path"], problem) for entry in manifest["files"]
                if (problem := file_problem(bundle_dir, entry)) is not None]
    if problems:
        name, problem = problems[0]
        more = f" (and {len(problems) - 1} more listed files)" if len(problems) > 1 else ""
        raise BadInput(f"{bundle_dir / name}: {problem}{more}")
    return manifest
