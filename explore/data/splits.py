"""Stratified splits, the transfer source/target carve-up, and normalization by training statistics."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from explore.data.config import TransferConfig
from explore.data.samples import Part, one_line
from explore.errors import BadInput


def sub_seed(seed: int, k: int) -> int:
    """A distinct, valid sklearn ``random_state`` per split, so the splits are not correlated."""
    return (int(seed) * 3 + k) % 2**32


def stratified_split(part: Part, fraction: float, seed: int, key: str) -> tuple[Part, Part]:
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
        raise BadInput(f"{key}: cannot split {part.y_name} stratified by class: {one_line(e)}") from None
    return part.take(np.sort(keep)), part.take(np.sort(take))


def apply_transfer(transfer: TransferConfig | None, pool: Part, test: Part, num_classes: int,
                   seed: int) -> tuple[Part, Part, Part | None, int]:
    """``(target pool, test, source, num_classes)``; without transfer the source is None."""
    if transfer is None:
        return pool, test, None, num_classes
    if transfer.target_fraction is not None:
        source, target = stratified_split(pool, transfer.target_fraction, sub_seed(seed, 2),
                                          "dataset.transfer.target_fraction")
        return target, test, source, num_classes
    return _class_transfer(sorted(transfer.target_classes), pool, test)


def _class_transfer(targets: list[int], pool: Part, test: Part) -> tuple[Part, Part, Part, int]:
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


def _relabelled(part: Part, classes: list[int]) -> Part:
    """The samples of ``classes`` only, with labels renumbered 0..k-1 in ascending original order."""
    lookup = np.full(max(int(part.y.max()) if part.y.size else 0, max(classes)) + 1, -1, np.int32)
    lookup[classes] = np.arange(len(classes), dtype=np.int32)
    kept = part.take(np.flatnonzero(np.isin(part.y, classes)))
    return replace(kept, y=lookup[kept.y])


def normalizer(x_train: np.ndarray, mode: str) -> Callable[[np.ndarray], np.ndarray]:
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
