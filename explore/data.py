"""Small bundled data sets for learning tests and demos (no downloads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
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
    if not 0.0 < test_fraction < 1.0:
        raise BadInput(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    digits = load_digits()
    # Pixel values are counts 0..16 of the original 4x4 blocks.
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_test, y_test, num_classes=int(y.max()) + 1)
