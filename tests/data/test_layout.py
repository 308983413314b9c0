"""dataset.layout: channel-first arrays are read correctly when the key says so, and an implausible
channel-last reading is refused naming the shape and the key, never guessed in silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest

from explore.data import DatasetConfig, load_dataset
from explore.errors import BadInput


def labelled(shape: tuple[int, ...], n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n,) + shape).astype(np.float32), (np.arange(n) % 4).astype(np.int64)


def load_npz(tmp_path: Path, x: np.ndarray, y: np.ndarray, **fields):
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return load_dataset(DatasetConfig(name="d", format="npz", path="d.npz", normalize="none",
                                      validation_fraction=0.0, **fields), tmp_path, 0)


def refused(tmp_path: Path, x: np.ndarray, y: np.ndarray, **fields) -> str:
    with pytest.raises(BadInput) as info:
        load_npz(tmp_path, x, y, **fields)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    return message


def test_a_one_channel_series_stored_channel_first_is_refused_without_the_key(tmp_path):
    x, y = labelled((1, 512))
    message = refused(tmp_path, x, y)
    for needed in ("d.npz[x]", "(40, 1, 512)", "dataset.layout", "ncl", "1 position × 512 channels"):
        assert needed in message, (needed, message)


def test_a_one_channel_series_read_as_ncl_is_512_positions_of_one_channel(tmp_path):
    x, y = labelled((1, 512))
    d = load_npz(tmp_path, x, y, layout="ncl")
    assert d.input_shape == (512, 1)
    same = load_npz(tmp_path, x.transpose(0, 2, 1), y)  # the same data stored channel-last
    np.testing.assert_array_equal(d.x_train, same.x_train)
    np.testing.assert_array_equal(d.x_test, same.x_test)
    (reading,) = d.readings
    assert reading.describe().endswith("(40, 1, 512) read as ncl (dataset.layout) → 512 positions × 1 channel")
    assert "read as nlc (assumed" in same.readings[0].describe()


def test_images_stored_nchw_are_refused_without_the_key_and_transposed_with_it(tmp_path):
    x, y = labelled((3, 32, 32))
    message = refused(tmp_path, x, y)
    for needed in ("(40, 3, 32, 32)", "dataset.layout", "nchw"):
        assert needed in message, (needed, message)
    d = load_npz(tmp_path, x, y, layout="nchw")
    assert d.input_shape == (32, 32, 3)
    same = load_npz(tmp_path, x.transpose(0, 2, 3, 1), y)
    assert same.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(d.x_train, same.x_train)
    assert d.readings[0].describe().endswith("read as nchw (dataset.layout) → 32×32 pixels × 3 channels")


def test_more_channels_than_positions_is_refused_and_nlc_keeps_that_reading(tmp_path):
    x, y = labelled((3, 10))
    assert "10 positions × 3 channels" in refused(tmp_path, x, y)
    assert load_npz(tmp_path, x, y, layout="nlc").input_shape == (3, 10)
    assert load_npz(tmp_path, x, y, layout="ncl").input_shape == (10, 3)


def test_plausible_channel_last_arrays_read_as_before(tmp_path):
    for shape, seen in (((512, 1), (512, 1)), ((20, 3), (20, 3)), ((7,), (7, 1)), ((8, 8, 1), (8, 8, 1)),
                        ((32, 32, 3), (32, 32, 3))):
        x, y = labelled(shape)
        assert load_npz(tmp_path, x, y).input_shape == seen, shape


def test_three_axes_read_as_images_are_grey(tmp_path):
    x, y = labelled((6, 5))
    d = load_npz(tmp_path, x, y, layout="nhwc")
    assert d.input_shape == (6, 5, 1)
    np.testing.assert_array_equal(load_npz(tmp_path, x, y, layout="nchw").x_train, d.x_train)


@pytest.mark.parametrize("shape, layout, allowed", [
    ((12,), "nhwc", "nlc, ncl"),
    ((4, 4, 2), "ncl", "nhwc, nchw"),
    ((2, 2, 2, 2), "nlc", "applies to arrays of 2 to 4 axes"),
])
def test_a_layout_that_does_not_fit_the_rank_is_refused(tmp_path, shape, layout, allowed):
    x, y = labelled(shape)
    message = refused(tmp_path, x, y, layout=layout)
    assert "dataset.layout" in message and allowed in message and str((40,) + shape) in message


def test_the_own_test_set_is_read_in_the_same_layout(tmp_path):
    x, y = labelled((2, 30))
    xt, yt = labelled((2, 30), n=8, seed=1)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt)
    d = load_dataset(DatasetConfig(name="d", format="npz", path="d.npz", layout="ncl", normalize="none"),
                     tmp_path, 0)
    np.testing.assert_array_equal(d.x_test, xt.transpose(0, 2, 1))
    assert d.own_test and [r.layout for r in d.readings] == ["ncl", "ncl"]


def test_npy_and_idx_take_the_layout_too(tmp_path):
    x, y = labelled((1, 64))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    config = dict(name="n", format="npy", x="x.npy", y="y.npy")
    with pytest.raises(BadInput, match="dataset.layout"):
        load_dataset(DatasetConfig(**config), tmp_path, 0)
    assert load_dataset(DatasetConfig(**config, layout="ncl"), tmp_path, 0).input_shape == (64, 1)


@pytest.mark.parametrize("fields", [
    {"name": "digits"},
    {"name": "c", "format": "csv", "path": "t.csv"},
    {"name": "c", "format": "cifar", "path": "."},
])
def test_formats_with_a_fixed_layout_refuse_the_key(tmp_path, fields):
    with pytest.raises(BadInput, match="dataset.layout is not used by format"):
        load_dataset(DatasetConfig(**fields, layout="ncl"), tmp_path, 0)


def test_builtin_readings_say_how_they_are_read():
    d = load_dataset(DatasetConfig(name="digits"), Path("."), 0)
    assert [r.describe() for r in d.readings] == [
        "builtin digits (1797, 8, 8, 1) read as nhwc (builtin) → 8×8 pixels × 1 channel"]


def test_an_unknown_layout_names_the_key_and_the_allowed_values():
    with pytest.raises(pydantic.ValidationError) as info:
        DatasetConfig(name="d", format="npz", path="d.npz", layout="chw")
    assert "layout" in str(info.value) and "nchw" in str(info.value)
