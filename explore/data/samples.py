"""The checked samples a format loader returns, and the checks every loader shares.

Every problem raises :class:`BadInput` with one line naming the file (or array, or config key).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from explore.data.config import DatasetConfig
from explore.data.layout import Reading
from explore.errors import BadInput, shown

MAX_PATH_SHOWN = 4096   # PATH_MAX on Linux


@dataclass(frozen=True)
class Part:
    """Checked samples plus the names (file or key) their problems are reported under, and how the
    samples' layout was read."""

    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str
    reading: Reading | None = None

    def take(self, index: np.ndarray) -> Part:
        return replace(self, x=self.x[index], y=self.y[index])


Loaded = tuple[Part, "Part | None"]  # training pool, and the source's own test set if it has one


def resolve_path(config: DatasetConfig, key: str, base_dir: Path, *, required: bool, kind: str = "file") -> Path | None:
    value = getattr(config, key)
    if value is None:
        if required:
            raise BadInput(f"dataset.{key} is required for format '{config.format}'")
        return None
    path = (base_dir / Path(value).expanduser()).absolute()
    # a path as long as a file system allows is shown whole; a longer value is cut
    where = f"{path if len(str(path)) <= MAX_PATH_SHOWN else shown(str(path))} (dataset.{key})"
    try:
        exists, is_file, is_dir = path.exists(), path.is_file(), path.is_dir()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise BadInput(f"{where}: cannot be read: {e.strerror}") from None
    if not exists:
        raise BadInput(f"{where} does not exist")
    if kind == "file" and not is_file:
        raise BadInput(f"{where} is not a file")
    if kind == "dir" and not is_dir:
        raise BadInput(f"{where} is not a directory; give the directory holding the CIFAR batches")
    return path


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def checked(x: object, y: object, x_name: str, y_name: str, reading: Reading | None = None) -> Part:
    """Samples as float32 (n, ...) and labels as int32 (n,), or BadInput naming the offending file."""
    x = np.asarray(x)
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise BadInput(f"{x_name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise BadInput(f"{x_name} has shape {x.shape}; expected (samples, features...) with at least 2 axes")
    if x.shape[0] == 0 or x[0].size == 0:
        raise BadInput(f"{x_name} is empty (shape {x.shape})")
    # Integer pixels (uint8) become floats here so that normalization works in float32.
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise BadInput(f"{x_name} contains NaN or infinity (or values beyond the float32 range)")
    return Part(x, _checked_labels(y, x.shape[0], x_name, y_name), x_name, y_name, reading)


def _checked_labels(y: object, n: int, x_name: str, y_name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras-style (n, 1) label columns
        y = y[:, 0]
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise BadInput(f"{y_name} must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise BadInput(f"{y_name} has shape {y.shape}; expected one label per sample, shape ({n},)")
    if y.shape[0] != n:
        raise BadInput(f"{y_name} has {y.shape[0]} labels but {x_name} has {n} samples; they must match")
    if np.issubdtype(y.dtype, np.floating):
        # CSV columns arrive as floats; whole numbers are fine, anything else is not a class.
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise BadInput(f"{y_name} has a non-integer label {y[bad][0]!r}; labels must be whole numbers >= 0")
    if y.min() < 0:
        raise BadInput(f"{y_name} has a negative label {y.min()}; labels must be whole numbers >= 0")
    if y.max() >= 2**31:
        raise BadInput(f"{y_name} has a label {y.max()} too large to be a class index")
    return y.astype(np.int32)


def count_classes(declared: int | None, pool: Part, test: Part | None) -> int:
    parts = [pool] if test is None else [pool, test]
    if declared is None:
        inferred = max(int(p.y.max()) for p in parts) + 1
        if inferred < 2:
            raise BadInput(f"{pool.y_name} holds only class 0; classification needs at least 2 classes")
        return inferred
    for part in parts:
        if part.y.max() >= declared:
            raise BadInput(f"{part.y_name} has label {part.y.max()}, but dataset.num_classes is {declared} "
                           f"so labels must lie in [0, {declared})")
    return declared
