"""Float pre-training: learns digits, is deterministic per seed, and rejects bad inputs at the edge."""

from __future__ import annotations

import time

import numpy as np
import pytest

from explore.data import load_digits_split
from explore.train.floatnet import float_forward
from explore.model.spec import paper_cnn
from explore.train.pretrain import VALIDATION_EVERY, accuracy, pretrain_float

SPEC = paper_cnn((8, 8, 1), 10)


def small_data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int32)


@pytest.mark.slow
def test_pretrain_learns_digits() -> None:
    split = load_digits_split(seed=0)
    start = time.perf_counter()
    result = pretrain_float(SPEC, split.x_train, split.y_train, epochs=15, seed=0,
                            x_val=split.x_test, y_val=split.y_test)
    elapsed = time.perf_counter() - start
    acc = accuracy(result.model, split.x_test, split.y_test)
    print(f"digits paper_cnn: test accuracy {acc:.4f} after 15 epochs in {elapsed:.1f} s")
    assert acc >= 0.95
    assert len(result.history) == 15
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]
    assert result.history[-1]["val_accuracy"] == pytest.approx(acc)
    assert sorted(result.model.params) == list(SPEC.param_layers())
    assert all(p["w"].dtype == np.float32 for p in result.model.params.values())


def test_pretrain_is_deterministic_per_seed() -> None:
    x, y = small_data()
    a, b, c = (pretrain_float(SPEC, x, y, epochs=2, batch_size=16, seed=s) for s in (3, 3, 4))
    for i in SPEC.param_layers():
        np.testing.assert_array_equal(a.model.params[i]["w"], b.model.params[i]["w"])
        np.testing.assert_array_equal(a.model.params[i]["b"], b.model.params[i]["b"])
    assert not np.array_equal(a.model.params[0]["w"], c.model.params[0]["w"])
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.history[0]["val_accuracy"] is None


def test_validation_accuracy_is_sampled_every_few_epochs_and_at_the_last() -> None:
    """Only the history reads it, so it is measured where the history samples it; elsewhere None."""
    x, y = small_data()
    x_val, y_val = small_data(n=20, seed=1)
    epochs = VALIDATION_EVERY + 2
    result = pretrain_float(SPEC, x, y, epochs=epochs, batch_size=16, seed=0, x_val=x_val, y_val=y_val)
    validated = [h["epoch"] for h in result.history if h["val_accuracy"] is not None]
    assert validated == [VALIDATION_EVERY, epochs]
    assert all(set(h) == {"epoch", "loss", "val_accuracy", "sparsity"} for h in result.history)
    assert result.history[-1]["val_accuracy"] == pytest.approx(accuracy(result.model, x_val, y_val))


def test_batch_larger_than_data_still_trains() -> None:
    x, y = small_data(n=10)
    result = pretrain_float(SPEC, x, y, epochs=3, batch_size=64)
    assert len(result.history) == 3 and all(np.isfinite(h["loss"]) for h in result.history)


def _bad_inputs() -> list:
    x, y = small_data()
    return [
        ("x_train", x[..., 0], y),                      # missing channel axis
        ("x_train", (x * 16).astype(np.int32), y),      # not float
        ("x_train", np.where(x > 0.5, np.nan, x), y),   # NaN
        ("y_train", x, np.where(y == 3, 10, y)),        # label == num_classes
        ("y_train", x, np.where(y == 3, -1, y)),        # negative label
        ("y_train", x, y[:-1]),                         # length mismatch
        ("y_train", x, y.astype(np.float32)),           # float labels
    ]


@pytest.mark.parametrize("name, x, y", _bad_inputs())
def test_pretrain_rejects_bad_inputs(name: str, x: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(ValueError, match=name):
        pretrain_float(SPEC, x, y, epochs=1)


def test_pretrain_rejects_bad_validation_and_hyperparameters() -> None:
    x, y = small_data()
    with pytest.raises(ValueError, match="x_val and y_val"):
        pretrain_float(SPEC, x, y, epochs=1, x_val=x)
    with pytest.raises(ValueError, match="y_val"):
        pretrain_float(SPEC, x, y, epochs=1, x_val=x, y_val=y + 10)
    with pytest.raises(ValueError, match="epochs"):
        pretrain_float(SPEC, x, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        pretrain_float(SPEC, x, y, batch_size=0)


def test_accuracy_counts_correct_predictions() -> None:
    x, y = small_data(n=30)
    model = pretrain_float(SPEC, x, y, epochs=1).model
    predicted = np.asarray(float_forward(model, x)).argmax(axis=-1).astype(np.int32)
    assert accuracy(model, x, predicted, batch_size=7) == 1.0
    assert accuracy(model, x, (predicted + 1) % 10, batch_size=7) == 0.0
    with pytest.raises(ValueError, match="x "):
        accuracy(model, x[:, :4], y)


def test_digits_split_is_stratified_and_deterministic() -> None:
    a, b, c = load_digits_split(0), load_digits_split(0), load_digits_split(1)
    assert a.input_shape == (8, 8, 1) and a.num_classes == 10
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int32
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0 and a.x_train.max() > 0.9
    assert len(a.x_test) == pytest.approx(0.25 * (len(a.x_train) + len(a.x_test)), abs=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train)
    train_share = np.bincount(a.y_train, minlength=10) / len(a.y_train)
    test_share = np.bincount(a.y_test, minlength=10) / len(a.y_test)
    assert np.abs(train_share - test_share).max() < 0.01
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.0)
