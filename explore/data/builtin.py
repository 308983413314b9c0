"""The bundled data sets: scikit-learn's 8x8 digits and the generated mnist1d; nothing is downloaded."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explore.data.config import BUILTINS, DatasetConfig
from explore.data.samples import Loaded, checked
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
    if not 0.0 < test_fraction < 1.0:
        raise BadInput(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    images, labels = _digits()
    x, y = images.astype(np.float32), labels.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_test, y_test, num_classes=int(y.max()) + 1)


def load_builtin(config: DatasetConfig, base_dir: Path) -> Loaded:
    if config.name not in BUILTINS:
        raise BadInput(f"dataset.name '{config.name}' is not a builtin data set; "
                       f"allowed: {', '.join(BUILTINS)} (or set dataset.format for a file)")
    if config.name == "digits":
        for key in ("num_samples", "generator_seed"):
            if getattr(config, key) != DatasetConfig.model_fields[key].default:
                raise BadInput(f"dataset.{key} only applies to the mnist1d generator, not to digits")
        return checked(*_digits(), "builtin digits", "builtin digits labels"), None
    return _load_mnist1d(config.num_samples, config.generator_seed)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (n, 8, 8, 1) float64 images in [0, 1], and their labels."""
    from sklearn.datasets import load_digits  # lazily: sklearn adds ~1 s to every CLI start
    digits = load_digits()
    # Pixel values are counts 0..16 of the original 4x4 blocks.
    return (digits.images / 16.0)[..., np.newaxis], digits.target


def _load_mnist1d(num_samples: int, generator_seed: int) -> Loaded:
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
    train = checked(data["x"][..., np.newaxis], data["y"], "builtin mnist1d", "builtin mnist1d labels")
    test = checked(data["x_test"][..., np.newaxis], data["y_test"], "builtin mnist1d test set",
                   "builtin mnist1d test labels")
    return train, test
