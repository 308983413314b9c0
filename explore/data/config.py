"""The ``dataset:`` section of a campaign file, and the checks of its settings that need no file."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from explore.config import MAX_CHANNELS, MAX_CLASSES, MAX_COUNT, StrictModel
from explore.data.layout import Layout
from explore.errors import BadInput

BUILTINS = ("mnist1d", "digits")
#: Samples a builtin generator may make (mnist1d's published set has 5000).
MAX_GENERATED_SAMPLES = 10_000_000
FORMATS = ("builtin", "npz", "npy", "idx", "cifar", "csv")

# Settings that only one or a few formats read; setting one for another format is reported, since it
# is almost always a typo or a copy-paste leftover that would otherwise be silently ignored.
_FORMAT_KEYS: dict[str, tuple[str, ...]] = {
    "builtin": ("num_samples", "generator_seed"),
    "npz": ("path", "test_path", "layout"),
    "npy": ("x", "y", "test_x", "test_y", "layout"),
    "idx": ("images", "labels", "test_images", "test_labels", "layout"),
    "cifar": ("path", "cifar_labels"),
    "csv": ("path", "test_path", "label_column", "channels"),
}
_PAIRED_KEYS = {
    "npy": (("x", "y"), ("test_x", "test_y")),
    "idx": (("images", "labels"), ("test_images", "test_labels")),
}
_PATH_KEYS = ("path", "x", "y", "images", "labels", "test_path", "test_x", "test_y", "test_images", "test_labels")


class TransferConfig(StrictModel):
    """How to carve a source task (for pre-training) and a target task out of one data set."""

    target_classes: list[int] | None = None
    target_fraction: float | None = None

    @field_validator("target_classes")
    @classmethod
    def _classes(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("target_classes must name at least one class")
        if min(v) < 0 or max(v) >= MAX_CLASSES:
            raise ValueError(f"target_classes must be class labels in [0, {MAX_CLASSES})")
        if len(set(v)) != len(v):
            raise ValueError("target_classes must not repeat a class")
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


class DatasetConfig(StrictModel):
    """The ``dataset:`` section of a campaign file; relative paths are resolved by :func:`load_dataset`."""

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
    #: how the arrays are stored: nlc/ncl (series, channels last/first), nhwc/nchw (images); None:
    #: channel-last where that reading is plausible (explore.data.layout)
    layout: Layout | None = None
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
        if isinstance(v, int) and not 0 <= v <= MAX_COUNT:
            raise ValueError(f"label_column as a column index must lie in [0, {MAX_COUNT}]")
        if isinstance(v, str) and not v.strip():
            raise ValueError("label_column must not be empty")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: int) -> int:
        if not 1 <= v <= MAX_CHANNELS:
            raise ValueError(f"channels must lie in [1, {MAX_CHANNELS}]")
        return v

    @field_validator("num_samples")
    @classmethod
    def _num_samples(cls, v: int) -> int:
        if not 10 <= v <= MAX_GENERATED_SAMPLES:
            raise ValueError(f"num_samples must lie in [10, {MAX_GENERATED_SAMPLES}] (mnist1d has 10 classes)")
        return v

    @field_validator("generator_seed")
    @classmethod
    def _generator_seed(cls, v: int) -> int:
        if not 0 <= v < 2**32:
            raise ValueError("generator_seed must lie in [0, 2**32)")
        return v

    @field_validator("num_classes")
    @classmethod
    def _num_classes(cls, v: int | None) -> int | None:
        if v is not None and not 2 <= v <= MAX_CLASSES:
            raise ValueError(f"num_classes must lie in [2, {MAX_CLASSES}]")
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


def check_keys(config: DatasetConfig) -> None:
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
