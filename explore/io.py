"""Atomic output: a reader, a crash or Ctrl-C never sees a half-written file.

Files are written to a private temporary file and renamed into place; they end with the permissions
a plain ``open(path, "w")`` would give them (an existing file's, else 0666 less the umask), not the
temporary file's 0600.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from explore.errors import BadInput, YamlLines


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The permissions ``open(path, "w")`` leaves: those of the file it replaces, else 0666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask.  Linux shows it in /proc; elsewhere it can only be read by setting it, and
    for that instant a restrictive one is set (another thread's new file is then private, never open)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


#: Values a YAML document may hold once its aliases are expanded; a campaign or a board profile
#: holds a few hundred, a "billion laughs" alias bomb 10**9.
MAX_YAML_VALUES = 100_000
#: Nesting of YAML collections; a campaign nests five deep, and the parser recurses per level.
MAX_YAML_DEPTH = 64
#: Digits of a YAML integer; Python refuses to read more than 4300, and no setting needs 30.
MAX_YAML_DIGITS = 1000
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
# libyaml reads a multi-megabyte value in milliseconds where the pure-Python parser takes seconds
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_mapping(path: Path, what: str, expected: str) -> dict:
    """The YAML mapping in ``path``; BadInput names the file when it is missing, unreadable, not
    YAML, not a mapping, repeats a key, or expands aliases beyond MAX_YAML_VALUES values (``what``:
    "campaign file"; ``expected``: the keys to hint at)."""
    return read_yaml_document(path, what, expected)[0]


def read_yaml_document(path: Path, what: str, expected: str) -> tuple[dict, YamlLines]:
    """As :func:`read_yaml_mapping`, with the line of every key of the document."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BadInput(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read the {what} ({e})") from None
    node = compose_yaml(text, path)
    raw = _construct(node, path)
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: a {what} must be a YAML mapping with keys {expected}")
    return raw, YamlLines(node)


def yaml_lines(path: Path) -> YamlLines:
    """The key lines of the YAML file ``path``, or none if it can no longer be read."""
    try:
        return YamlLines(compose_yaml(Path(path).read_text(), path))
    except (OSError, UnicodeDecodeError, BadInput):
        return YamlLines(None)


def compose_yaml(text: str, path: Path) -> yaml.Node | None:
    """The node graph of the document in ``text`` (read from ``path``), checked before anything is
    built from it: nesting at most MAX_YAML_DEPTH deep, no key twice in a mapping, no alias that
    refers to itself, at most MAX_YAML_VALUES values with aliases expanded."""
    try:
        _check_depth(text, path)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise BadInput(f"{path}: not valid YAML{_at_line(e)}: {getattr(e, 'problem', None) or e}") from None
    if node is not None:
        _expanded_size(node, path, [], {}, set())
    return node


def _check_depth(text: str, path: Path) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise BadInput(f"{path}:{event.start_mark.line + 1}: collections nested more than "
                               f"{MAX_YAML_DEPTH} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _construct(node: yaml.Node | None, path: Path) -> Any:
    if node is None:
        return None
    loader = _LOADER("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise BadInput(f"{path}: not valid YAML{_at_line(e)}: {getattr(e, 'problem', None) or e}") from None
    except ValueError as e:  # a date such as 2024-13-45
        raise BadInput(f"{path}: not valid YAML: {e}") from None
    finally:
        loader.dispose()


def _at_line(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark else ""


def _expanded_size(node: yaml.Node, path: Path, keys: list[str | int], sizes: dict[int, int],
                   open_: set[int]) -> int:
    """How many values ``node`` holds with its aliases expanded; each node is counted once, so an alias
    bomb is measured without being expanded.  ``keys`` lead to ``node`` (for messages)."""
    if id(node) in sizes:
        return sizes[id(node)]
    at = f"{path}:{node.start_mark.line + 1}: {_dotted(keys)}"
    if id(node) in open_:
        raise BadInput(f"{at}: a YAML alias refers to the value that contains it")
    open_.add(id(node))
    size = 1
    if isinstance(node, yaml.MappingNode):
        _check_unique_keys(node, path, keys)
        for key, value in node.value:
            size += _expanded_size(key, path, keys, sizes, open_)
            size += _expanded_size(value, path, [*keys, str(key.value)[:40]], sizes, open_)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, path, [*keys, i], sizes, open_) for i, item in enumerate(node.value))
    elif node.tag == _INT and len(node.value) > MAX_YAML_DIGITS:
        raise BadInput(f"{at}: an integer of {len(node.value)} digits is too large")
    if size > MAX_YAML_VALUES:
        raise BadInput(f"{at}: holds more than {MAX_YAML_VALUES:,} values once its YAML aliases are expanded; "
                       "write the values out instead")
    open_.discard(id(node))
    sizes[id(node)] = size
    return size


def _check_unique_keys(node: yaml.MappingNode, path: Path, keys: list[str | int]) -> None:
    first_line: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue  # "<<: *defaults" then a key of its own overrides the default, as YAML intends
        line = key.start_mark.line + 1
        if (key.tag, key.value) in first_line:
            raise BadInput(f"{path}:{line}: {_dotted([*keys, key.value[:40]])}: duplicate key (first at line "
                           f"{first_line[key.tag, key.value]}); keep one")
        first_line[key.tag, key.value] = line


def _dotted(keys: list[str | int]) -> str:
    text = ""
    for part in keys:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(top level)"


def write_directory_atomic(target: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (name -> contents) as the directory ``target`` and return it.  The directory is
    built next to ``target`` and renamed into place, so a failure leaves no half-written directory; an
    existing ``target`` is replaced."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _make_public(tmp)
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        _replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _make_public(directory: Path) -> None:
    # mkdtemp makes it private; the result is an ordinary directory
    os.chmod(directory, 0o777 & ~current_umask())


def _replace_directory(new: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old.{os.getpid()}"
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
