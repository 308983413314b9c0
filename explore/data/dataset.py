"""The loaded data set of a campaign: :func:`load_dataset` reads, checks, splits and normalizes it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from explore.data.builtin import load_builtin
from explore.data.config import DatasetConfig, check_keys
from explore.data.files import load_cifar, load_csv, load_idx, load_npy, load_npz
from explore.data.layout import Reading
from explore.data.samples import Loaded, count_classes
from explore.data.splits import apply_transfer, normalizer, stratified_split, sub_seed
from explore.errors import BadInput


@dataclass(frozen=True)
class Dataset:
    """A loaded, split and normalized data set: ``x`` float32 ``(n,) + input_shape``, ``y`` int32.

    ``x_source``/``y_source`` hold the source task for transfer pre-training (normalized with the
    target's statistics), or are None without transfer.  ``readings`` say how the stored arrays
    (the training pool's, then the own test set's) were read into the networks' layout;
    ``own_test`` whether the test split came with the data (else ``test_fraction`` was held out).
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
    readings: tuple[Reading, ...] = ()
    own_test: bool = False

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


_LOADERS: dict[str, Callable[[DatasetConfig, Path], Loaded]] = {
    "builtin": load_builtin,
    "npz": load_npz,
    "npy": load_npy,
    "idx": load_idx,
    "cifar": load_cifar,
    "csv": load_csv,
}


def load_dataset(config: DatasetConfig, base_dir: Path, seed: int) -> Dataset:
    """Load, check, split (stratified, deterministic in ``seed``) and normalize ``config``'s data set.

    Relative paths in ``config`` are resolved against ``base_dir`` (the campaign file's directory).
    Without an own test set, ``test_fraction`` of the data is held out first; ``validation_fraction``
    of the (target) training pool then becomes the validation split.  The caller's global random
    streams are left as they were.
    """
    # mnist1d's generator reseeds numpy's and python's global RNGs, and importing scikit-learn
    # draws from python's: callers' random streams must not depend on whether data was loaded.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        return _load(config, base_dir, seed)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _load(config: DatasetConfig, base_dir: Path, seed: int) -> Dataset:
    check_keys(config)
    pool, test = _LOADERS[config.format](config, Path(base_dir).expanduser())
    if test is not None and test.x.shape[1:] != pool.x.shape[1:]:
        raise BadInput(f"{test.x_name} has sample shape {test.x.shape[1:]}, but the training data "
                       f"{pool.x_name} has {pool.x.shape[1:]}; they must match")
    num_classes = count_classes(config.num_classes, pool, test)
    readings = tuple(part.reading for part in (pool, test) if part is not None and part.reading is not None)
    own_test = test is not None
    if test is None:
        pool, test = stratified_split(pool, config.test_fraction, sub_seed(seed, 0), "dataset.test_fraction")
    pool, test, source, num_classes = apply_transfer(config.transfer, pool, test, num_classes, seed)
    train, val = stratified_split(pool, config.validation_fraction, sub_seed(seed, 1), "dataset.validation_fraction")
    norm = normalizer(train.x, config.normalize)
    return Dataset(
        name=config.name,
        num_classes=num_classes,
        x_train=norm(train.x), y_train=train.y,
        x_val=norm(val.x), y_val=val.y,
        x_test=norm(test.x), y_test=test.y,
        x_source=None if source is None else norm(source.x),
        y_source=None if source is None else source.y,
        readings=readings,
        own_test=own_test,
    )
