"""Data sets: the small bundled ones for tests and demos, and campaign data sets loaded from files.

A campaign's ``dataset:`` section is a :class:`DatasetConfig`; :func:`load_dataset` turns it into a
:class:`Dataset` in the network's layout (images NHWC, time series ``(n, T, channels)``), split
stratified by label and normalized with training-split statistics.  Nothing is ever downloaded and
no file is written.  Every problem with the user's files or settings raises :class:`BadInput` with
one line naming the file or the config key.
"""

from __future__ import annotations

import csv
import gzip
import math
import pickle
import random
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from explore.errors import BadInput


@dataclass(frozen=True)
class Split:
    """A train/test split in the network's layout: ``x`` float32 ``(n,) + input_shape``, ``y`` int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> Split:
    """scikit-learn's 8x8 digits as (n, 8, 8, 1) images in [0, 1], split stratified by ``seed``."""
    from sklearn.model_selection import train_test_split  # lazily: sklearn adds ~1 s to every CLI start
    from sklearn.datasets import load_digits
    if not 0.0 < test_fraction < 1.0:
        raise BadInput(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    digits = load_digits()
    # Pixel values are counts 0..16 of the original 4x4 blocks.
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_test, y_test, num_classes=int(y.max()) + 1)


# --------------------------------------------------------------------------- configuration

BUILTINS = ("mnist1d", "digits")
FORMATS = ("builtin", "npz", "npy", "idx", "cifar", "csv")

# Settings that only one or a few formats read; setting one for another format is reported, since it
# is almost always a typo or a copy-paste leftover that would otherwise be silently ignored.
_FORMAT_KEYS: dict[str, tuple[str, ...]] = {
    "builtin": ("num_samples", "generator_seed"),
    "npz": ("path", "test_path"),
    "npy": ("x", "y", "test_x", "test_y"),
    "idx": ("images", "labels", "test_images", "test_labels"),
    "cifar": ("path", "cifar_labels"),
    "csv": ("path", "test_path", "label_column", "channels"),
}
_PAIRED_KEYS = {
    "npy": (("x", "y"), ("test_x", "test_y")),
    "idx": (("images", "labels"), ("test_images", "test_labels")),
}
_PATH_KEYS = ("path", "x", "y", "images", "labels", "test_path", "test_x", "test_y", "test_images", "test_labels")


class TransferConfig(BaseModel):
    """How to carve a source task (for pre-training) and a target task out of one data set."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    target_classes: list[int] | None = None
    target_fraction: float | None = None

    @field_validator("target_classes")
    @classmethod
    def _classes(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("target_classes must name at least one class")
        if min(v) < 0:
            raise ValueError(f"target_classes must be non-negative class labels, got {v}")
        if len(set(v)) != len(v):
            raise ValueError(f"target_classes must not repeat a class, got {v}")
        return v

    @field_validator("target_fraction")
    @classmethod
    def _fraction(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v < 1.0:
            raise ValueError(f"target_fraction must lie strictly between 0 and 1, got {v}")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> TransferConfig:
        if (self.target_classes is None) == (self.target_fraction is None):
            raise ValueError("transfer needs exactly one of target_classes (class split) "
                             "or target_fraction (sample split)")
        return self


class DatasetConfig(BaseModel):
    """The ``dataset:`` section of a campaign file; relative paths are resolved by :func:`load_dataset`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str
    format: Literal["builtin", "npz", "npy", "idx", "cifar", "csv"] = "builtin"
    path: str | None = None
    x: str | None = None
    y: str | None = None
    images: str | None = None
    labels: str | None = None
    test_path: str | None = None
    test_x: str | None = None
    test_y: str | None = None
    test_images: str | None = None
    test_labels: str | None = None
    label_column: str | int = "label"
    channels: int = 1
    cifar_labels: Literal["fine", "coarse"] = "fine"
    num_samples: int = 5000
    generator_seed: int = 42
    num_classes: int | None = None
    normalize: Literal["standard", "minmax", "none"] = "standard"
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    transfer: TransferConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v

    @field_validator(*_PATH_KEYS)
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("a file path must not be empty")
        return v

    @field_validator("label_column")
    @classmethod
    def _label_column(cls, v: str | int) -> str | int:
        if isinstance(v, int) and v < 0:
            raise ValueError(f"label_column as a column index must be >= 0, got {v}")
        if isinstance(v, str) and not v.strip():
            raise ValueError("label_column must not be empty")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"channels must be >= 1, got {v}")
        return v

    @field_validator("num_samples")
    @classmethod
    def _num_samples(cls, v: int) -> int:
        if v < 10:
            raise ValueError(f"num_samples must be >= 10 (mnist1d has 10 classes), got {v}")
        return v

    @field_validator("generator_seed")
    @classmethod
    def _generator_seed(cls, v: int) -> int:
        if not 0 <= v < 2**32:
            raise ValueError(f"generator_seed must lie in [0, 2**32), got {v}")
        return v

    @field_validator("num_classes")
    @classmethod
    def _num_classes(cls, v: int | None) -> int | None:
        if v is not None and v < 2:
            raise ValueError(f"num_classes must be >= 2, got {v}")
        return v

    @field_validator("validation_fraction")
    @classmethod
    def _validation_fraction(cls, v: float) -> float:
        if not 0.0 <= v < 0.5:
            raise ValueError(f"validation_fraction must lie in [0, 0.5), got {v}")
        return v

    @field_validator("test_fraction")
    @classmethod
    def _test_fraction(cls, v: float) -> float:
        if not 0.0 < v < 0.5:
            raise ValueError(f"test_fraction must lie in (0, 0.5), got {v}")
        return v


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Dataset:
    """A loaded, split and normalized data set: ``x`` float32 ``(n,) + input_shape``, ``y`` int32.

    ``x_source``/``y_source`` hold the source task for transfer pre-training (normalized with the
    target's statistics), or are None without transfer.
    """

    name: str
    num_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_source: np.ndarray | None = None
    y_source: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict:
        """Plain data (lists and ints) so it can go straight into YAML or JSON reports."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": int(self.x_train.shape[0]),
            "val": int(self.x_val.shape[0]),
            "test": int(self.x_test.shape[0]),
            "source": 0 if self.x_source is None else int(self.x_source.shape[0]),
        }


@dataclass(frozen=True)
class _Part:
    """Checked samples plus the names (file or key) their problems are reported under."""

    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str

    def take(self, index: np.ndarray) -> _Part:
        return _Part(self.x[index], self.y[index], self.x_name, self.y_name)


_Loaded = tuple[_Part, "_Part | None"]  # training pool, and the source's own test set if it has one


# --------------------------------------------------------------------------- entry point


def load_dataset(config: DatasetConfig, base_dir: Path, seed: int) -> Dataset:
    """Load, check, split (stratified, deterministic in ``seed``) and normalize ``config``'s data set.

    Relative paths in ``config`` are resolved against ``base_dir`` (the campaign file's directory).
    Without an own test set, ``test_fraction`` of the data is held out first; ``validation_fraction``
    of the (target) training pool then becomes the validation split.
    """
    _check_keys(config)
    pool, test = _LOADERS[config.format](config, Path(base_dir).expanduser())
    if test is not None and test.x.shape[1:] != pool.x.shape[1:]:
        raise BadInput(f"{test.x_name} has sample shape {test.x.shape[1:]}, but the training data "
                       f"{pool.x_name} has {pool.x.shape[1:]}; they must match")
    num_classes = _num_classes(config.num_classes, pool, test)
    if test is None:
        pool, test = _split(pool, config.test_fraction, _sub_seed(seed, 0), "dataset.test_fraction")
    pool, test, source, num_classes = _apply_transfer(config.transfer, pool, test, num_classes, seed)
    train, val = _split(pool, config.validation_fraction, _sub_seed(seed, 1), "dataset.validation_fraction")
    norm = _normalizer(train.x, config.normalize)
    return Dataset(
        name=config.name,
        num_classes=num_classes,
        x_train=norm(train.x), y_train=train.y,
        x_val=norm(val.x), y_val=val.y,
        x_test=norm(test.x), y_test=test.y,
        x_source=None if source is None else norm(source.x),
        y_source=None if source is None else source.y,
    )


def _sub_seed(seed: int, k: int) -> int:
    """A distinct, valid sklearn ``random_state`` per split, so the splits are not correlated."""
    return (int(seed) * 3 + k) % 2**32


def _check_keys(config: DatasetConfig) -> None:
    """Settings problems are reported before any file is opened."""
    wanted = _FORMAT_KEYS[config.format]
    for key in sorted({k for keys in _FORMAT_KEYS.values() for k in keys} - set(wanted)):
        if getattr(config, key) != DatasetConfig.model_fields[key].default:
            raise BadInput(f"dataset.{key} is not used by format '{config.format}' "
                           f"(its settings: {', '.join(wanted)})")
    for a, b in _PAIRED_KEYS.get(config.format, ()):
        if (getattr(config, a) is None) != (getattr(config, b) is None):
            given, missing = (a, b) if getattr(config, a) is not None else (b, a)
            raise BadInput(f"dataset.{given} is given without dataset.{missing}; give both or neither")


def _resolve(config: DatasetConfig, key: str, base_dir: Path, *, required: bool, kind: str = "file") -> Path | None:
    value = getattr(config, key)
    if value is None:
        if required:
            raise BadInput(f"dataset.{key} is required for format '{config.format}'")
        return None
    path = (base_dir / Path(value).expanduser()).absolute()
    if not path.exists():
        raise BadInput(f"{path} (dataset.{key}) does not exist")
    if kind == "file" and not path.is_file():
        raise BadInput(f"{path} (dataset.{key}) is not a file")
    if kind == "dir" and not path.is_dir():
        raise BadInput(f"{path} (dataset.{key}) is not a directory; give the directory holding the CIFAR batches")
    return path


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# --------------------------------------------------------------------------- checks


def _checked(x: object, y: object, x_name: str, y_name: str) -> _Part:
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
    return _Part(x, _checked_labels(y, x.shape[0], x_name, y_name), x_name, y_name)


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


def _num_classes(declared: int | None, pool: _Part, test: _Part | None) -> int:
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


# --------------------------------------------------------------------------- splitting


def _split(part: _Part, fraction: float, seed: int, key: str) -> tuple[_Part, _Part]:
    """Stratified ``(rest, fraction)`` split of ``part``; an empty second part when ``fraction`` is 0."""
    from sklearn.model_selection import train_test_split  # lazily: sklearn adds ~1 s to every CLI start
    if fraction == 0.0:
        return part, part.take(np.arange(0))
    classes, counts = np.unique(part.y, return_counts=True)
    if counts.min() < 2:
        raise BadInput(f"{key}: class {classes[counts.argmin()]} has only {counts.min()} sample in "
                       f"{part.y_name}; a stratified split needs at least 2 samples per class")
    n = part.y.shape[0]
    n_take = math.ceil(fraction * n)  # sklearn's rounding for a float test_size
    if min(n_take, n - n_take) < len(classes):
        raise BadInput(f"{key}={fraction} splits the {n} samples of {part.y_name} into {n - n_take} and "
                       f"{n_take}, but a stratified split needs at least one sample of each of its "
                       f"{len(classes)} classes on both sides; too few samples per class")
    try:
        keep, take = train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=part.y)
    except ValueError as e:
        raise BadInput(f"{key}: cannot split {part.y_name} stratified by class: {_one_line(e)}") from None
    return part.take(np.sort(keep)), part.take(np.sort(take))


def _apply_transfer(transfer: TransferConfig | None, pool: _Part, test: _Part, num_classes: int,
                    seed: int) -> tuple[_Part, _Part, _Part | None, int]:
    """``(target pool, test, source, num_classes)``; without transfer the source is None."""
    if transfer is None:
        return pool, test, None, num_classes
    if transfer.target_fraction is not None:
        source, target = _split(pool, transfer.target_fraction, _sub_seed(seed, 2), "dataset.transfer.target_fraction")
        return target, test, source, num_classes
    return _class_transfer(sorted(transfer.target_classes), pool, test)


def _class_transfer(targets: list[int], pool: _Part, test: _Part) -> tuple[_Part, _Part, _Part, int]:
    present = np.unique(pool.y).tolist()
    for c in targets:
        if c not in present:
            raise BadInput(f"dataset.transfer.target_classes: class {c} is not present in the training data "
                           f"{pool.y_name} (classes present: {present})")
    sources = [c for c in present if c not in targets]
    if not sources:
        raise BadInput("dataset.transfer.target_classes names every class in the training data; "
                       "leave at least one class for the source task")
    test_t = _relabelled(test, targets)
    if test_t.y.shape[0] == 0:
        raise BadInput(f"{test.y_name} has no samples of dataset.transfer.target_classes {targets}")
    # One head shape serves both tasks, so pre-trained weights load into the target network unchanged.
    return _relabelled(pool, targets), test_t, _relabelled(pool, sources), max(len(sources), len(targets))


def _relabelled(part: _Part, classes: list[int]) -> _Part:
    """The samples of ``classes`` only, with labels renumbered 0..k-1 in ascending original order."""
    lookup = np.full(max(int(part.y.max()) if part.y.size else 0, max(classes)) + 1, -1, np.int32)
    lookup[classes] = np.arange(len(classes), dtype=np.int32)
    kept = part.take(np.flatnonzero(np.isin(part.y, classes)))
    return _Part(kept.x, lookup[kept.y], kept.x_name, kept.y_name)


# --------------------------------------------------------------------------- normalization


def _normalizer(x_train: np.ndarray, mode: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function applying the training split's statistics (never val/test/source statistics)."""
    if mode == "none":
        return lambda a: a.astype(np.float32)
    if mode == "minmax":
        lo, hi = float(x_train.min()), float(x_train.max())
        scale = hi - lo if hi > lo else 1.0  # a constant input maps to 0 instead of dividing by zero
        return lambda a: ((a - lo) / scale).astype(np.float32)
    axes = tuple(range(x_train.ndim - 1))  # all but the trailing channel axis
    mean = x_train.mean(axis=axes, dtype=np.float64)
    std = x_train.std(axis=axes, dtype=np.float64)
    # A constant channel's std is 0 up to float64 rounding of its mean; dividing by that rounding
    # noise would blow it up, so such channels are only centred.
    std = np.where(std <= 1e-10 * np.abs(mean), 1.0, std)
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    return lambda a: ((a - mean32) / std32).astype(np.float32)


# --------------------------------------------------------------------------- builtin


def _load_builtin(config: DatasetConfig, base_dir: Path) -> _Loaded:
    from sklearn.datasets import load_digits
    if config.name not in BUILTINS:
        raise BadInput(f"dataset.name '{config.name}' is not a builtin data set; "
                       f"allowed: {', '.join(BUILTINS)} (or set dataset.format for a file)")
    if config.name == "digits":
        for key in ("num_samples", "generator_seed"):
            if getattr(config, key) != DatasetConfig.model_fields[key].default:
                raise BadInput(f"dataset.{key} only applies to the mnist1d generator, not to digits")
        digits = load_digits()
        # Pixel values are counts 0..16 of the original 4x4 blocks.
        x = (digits.images / 16.0)[..., np.newaxis]
        return _checked(x, digits.target, "builtin digits", "builtin digits labels"), None
    return _load_mnist1d(config.num_samples, config.generator_seed)


def _load_mnist1d(num_samples: int, generator_seed: int) -> _Loaded:
    import mnist1d.data  # imported lazily: it pulls in requests, which nothing else needs

    args = mnist1d.data.get_dataset_args()
    args.num_samples, args.seed = num_samples, generator_seed
    # make_dataset reseeds numpy's and python's global RNGs; callers' random streams must not change.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = mnist1d.data.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    train = _checked(data["x"][..., np.newaxis], data["y"], "builtin mnist1d", "builtin mnist1d labels")
    test = _checked(data["x_test"][..., np.newaxis], data["y_test"], "builtin mnist1d test set",
                    "builtin mnist1d test labels")
    return train, test


# --------------------------------------------------------------------------- npz / npy

_NPZ_X = ("x", "x_train")
_NPZ_Y = ("y", "y_train")


def _load_npz(config: DatasetConfig, base_dir: Path) -> _Loaded:
    path = _resolve(config, "path", base_dir, required=True)
    test_path = _resolve(config, "test_path", base_dir, required=False)
    arrays = _read_npz(path)
    has_own_test = "x_test" in arrays or "y_test" in arrays
    if has_own_test and test_path is not None:
        raise BadInput(f"{path} holds x_test/y_test and dataset.test_path is also given; use only one test set")
    train = _npz_pair(arrays, path, _NPZ_X, _NPZ_Y)
    if test_path is not None:
        return train, _npz_pair(_read_npz(test_path), test_path, _NPZ_X + ("x_test",), _NPZ_Y + ("y_test",))
    if has_own_test:
        return train, _npz_pair(arrays, path, ("x_test",), ("y_test",))
    return train, None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise BadInput(f"{path} is not a readable .npz archive: {_one_line(e)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BadInput(f"{path} is a single .npy array, not an .npz archive; use format 'npy'")
    with archive:
        try:
            return {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise BadInput(f"{path} is not a readable .npz archive: {_one_line(e)}") from None


def _npz_pair(arrays: dict[str, np.ndarray], path: Path, x_keys: tuple[str, ...], y_keys: tuple[str, ...]) -> _Part:
    def pick(keys: tuple[str, ...]) -> str:
        for key in keys:
            if key in arrays:
                return key
        raise BadInput(f"{path} has no array named {' or '.join(keys)} (it holds: {', '.join(arrays) or 'nothing'})")

    xk, yk = pick(x_keys), pick(y_keys)
    return _checked(_with_channel_axis(arrays[xk]), arrays[yk], f"{path}[{xk}]", f"{path}[{yk}]")


def _load_npy(config: DatasetConfig, base_dir: Path) -> _Loaded:
    train = _npy_pair(config, base_dir, "x", "y", required=True)
    return train, _npy_pair(config, base_dir, "test_x", "test_y", required=False)


def _npy_pair(config: DatasetConfig, base_dir: Path, x_key: str, y_key: str, *, required: bool) -> _Part | None:
    x_path = _resolve(config, x_key, base_dir, required=required)
    y_path = _resolve(config, y_key, base_dir, required=required)
    if x_path is None:
        return None
    return _checked(_with_channel_axis(_read_npy(x_path)), _read_npy(y_path), str(x_path), str(y_path))


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadInput(f"{path} is not a readable .npy array: {_one_line(e)}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise BadInput(f"{path} is an .npz archive, not a single .npy array; use format 'npz'")
    return array


def _with_channel_axis(x: np.ndarray) -> np.ndarray:
    """(n, T) feature rows become (n, T, 1) single-channel series, the network's 1-D layout."""
    return x[..., np.newaxis] if x.ndim == 2 else x


# --------------------------------------------------------------------------- IDX

# IDX type codes -> big-endian dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _load_idx(config: DatasetConfig, base_dir: Path) -> _Loaded:
    train = _idx_pair(config, base_dir, "images", "labels", required=True)
    return train, _idx_pair(config, base_dir, "test_images", "test_labels", required=False)


def _idx_pair(config: DatasetConfig, base_dir: Path, x_key: str, y_key: str, *, required: bool) -> _Part | None:
    x_path = _resolve(config, x_key, base_dir, required=required)
    y_path = _resolve(config, y_key, base_dir, required=required)
    if x_path is None:
        return None
    images, labels = read_idx(x_path), read_idx(y_path)
    if images.ndim == 3:  # (n, H, W) grey images -> NHWC with one channel
        images = images[..., np.newaxis]
    return _checked(_with_channel_axis(images), labels, str(x_path), str(y_path))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or gzip, detected by content) as a native-endian array; BadInput if corrupt."""
    raw = _read_maybe_gzip(Path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise BadInput(f"{path} is not an IDX file: it must start with two zero bytes, a type code and a rank")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise BadInput(f"{path} has IDX type code 0x{code:02X}; allowed: {allowed}")
    if ndim == 0:
        raise BadInput(f"{path} declares an IDX array of rank 0; expected at least 1 dimension")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BadInput(f"{path} is truncated: its IDX header declares {ndim} dimensions but the file ends early")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        problem = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise BadInput(f"{path} is {problem}: dimensions {dims} need {expected} data bytes, "
                       f"found {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BadInput(f"{path} cannot be read: {_one_line(e)}") from None
    if raw[:2] != b"\x1f\x8b":  # the gzip magic; file names are not trusted to tell
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise BadInput(f"{path} starts like a gzip file but is not a valid one: {_one_line(e)}") from None


# --------------------------------------------------------------------------- CIFAR

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))

# The CIFAR python batches are pickled dicts of numpy arrays and lists; nothing else may be
# unpickled, so a stray or malicious file cannot run code while being loaded.
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _load_cifar(config: DatasetConfig, base_dir: Path) -> _Loaded:
    root = _resolve(config, "path", base_dir, required=True, kind="dir")
    if (root / "data_batch_1").exists():
        if config.cifar_labels != "fine":
            raise BadInput(f"dataset.cifar_labels applies to CIFAR-100 only; {root} holds CIFAR-10")
        return _cifar_part(root, _CIFAR10_TRAIN, b"labels"), _cifar_part(root, ("test_batch",), b"labels")
    if (root / "train").exists():
        key = b"fine_labels" if config.cifar_labels == "fine" else b"coarse_labels"
        return _cifar_part(root, ("train",), key), _cifar_part(root, ("test",), key)
    raise BadInput(f"{root} is not a CIFAR python-batches directory: expected data_batch_1..5 and test_batch "
                   "(CIFAR-10) or train and test (CIFAR-100)")


def _cifar_part(root: Path, names: tuple[str, ...], label_key: bytes) -> _Part:
    xs, ys = [], []
    for name in names:
        x, y = _read_cifar_batch(root / name, label_key)
        xs.append(x)
        ys.append(y)
    where = str(root / names[0]) if len(names) == 1 else f"{root}/{{{','.join(names)}}}"
    return _checked(np.concatenate(xs), np.concatenate(ys), where, f"{where} labels")


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise BadInput(f"{path} does not exist; a CIFAR directory needs all of its batch files")
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as e:  # unpickling garbage can raise almost anything
        raise BadInput(f"{path} is not a readable CIFAR batch (python pickle): {_one_line(e)}") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in batch) \
            if isinstance(batch, dict) else []
        raise BadInput(f"{path} is not a CIFAR batch: expected a dict with keys 'data' and "
                       f"'{label_key.decode()}', found {keys or type(batch).__name__}")
    data = np.asarray(batch[b"data"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise BadInput(f"{path} has data of shape {data.shape}; a CIFAR batch holds (n, 3072) rows")
    # Rows are the red, green and blue 32x32 planes in turn; the network wants NHWC.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(batch[label_key])


# --------------------------------------------------------------------------- CSV


def _load_csv(config: DatasetConfig, base_dir: Path) -> _Loaded:
    path = _resolve(config, "path", base_dir, required=True)
    test_path = _resolve(config, "test_path", base_dir, required=False)
    train = _read_csv(path, config.label_column, config.channels)
    return train, None if test_path is None else _read_csv(test_path, config.label_column, config.channels)


def _read_csv(path: Path, label_column: str | int, channels: int) -> _Part:
    header = _csv_header(path)
    column = _label_index(path, header, label_column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loadtxt warns on an empty file; emptiness is reported below
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=int(header is not None), ndmin=2,
                               dtype=np.float64, encoding="utf-8-sig")
        except ValueError as e:  # includes UnicodeDecodeError for binary files
            reason = _one_line(e).split("; use `usecols`")[0]
            raise BadInput(f"{path} is not a numeric CSV table: {reason}") from None
    if table.shape[0] == 0:
        raise BadInput(f"{path} is empty: it has no data rows")
    if column >= table.shape[1]:
        raise BadInput(f"{path} has {table.shape[1]} columns, so label column index {column} does not exist")
    features = np.delete(table, column, axis=1)
    if features.shape[1] == 0 or features.shape[1] % channels:
        raise BadInput(f"{path} has {features.shape[1]} feature columns, not a positive multiple of "
                       f"dataset.channels={channels}")
    # Columns are time-major (t0c0, t0c1, t1c0, ...), so a row reshapes straight to (T, channels).
    x = features.reshape(features.shape[0], -1, channels)
    return _checked(x, table[:, column], str(path), f"{path} label column")


def _csv_header(path: Path) -> list[str] | None:
    """The first row's cells if any of them is not a number (a header), else None."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            first = next((row for row in csv.reader(f) if any(cell.strip() for cell in row)), None)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"{path} is not a readable CSV text file: {_one_line(e)}") from None
    if first is None:
        raise BadInput(f"{path} is empty: it has no data rows")
    cells = [cell.strip() for cell in first]
    try:
        for cell in cells:
            float(cell)
    except ValueError:
        return cells
    return None


def _label_index(path: Path, header: list[str] | None, label_column: str | int) -> int:
    if isinstance(label_column, int):
        return label_column
    if header is None:
        raise BadInput(f"{path} has no header row, so dataset.label_column must be a 0-based column index, "
                       f"not '{label_column}'")
    if label_column not in header:
        raise BadInput(f"{path} has no column '{label_column}' (dataset.label_column); its header: {', '.join(header)}")
    return header.index(label_column)


_LOADERS: dict[str, Callable[[DatasetConfig, Path], _Loaded]] = {
    "builtin": _load_builtin,
    "npz": _load_npz,
    "npy": _load_npy,
    "idx": _load_idx,
    "cifar": _load_cifar,
    "csv": _load_csv,
}
