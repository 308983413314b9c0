"""Campaign data sets: every file format round-trips, splits and normalization behave, bad input is named."""

from __future__ import annotations

import gzip
import pickle
import random
from pathlib import Path

import numpy as np
import pydantic
import pytest

from explore.data import DatasetConfig, TransferConfig, load_dataset
from explore.errors import BadInput

# --------------------------------------------------------------------------- writers for real files


def blobs(per_class: list[int], shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class-dependent data whose first feature is a unique sample id, so samples can be tracked."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(k, c) for c, k in enumerate(per_class)]).astype(np.int64)
    x = rng.normal(y.reshape((-1,) + (1,) * len(shape)), 1.0, size=(len(y),) + shape).astype(np.float32)
    x.reshape(len(y), -1)[:, 0] = np.arange(len(y))
    return x, y


def write_idx(path: Path, array: np.ndarray, code: int, compress: bool) -> Path:
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + array.astype(dtypes[code]).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_cifar_batch(path: Path, images: np.ndarray, labels: dict[bytes, list[int]]) -> None:
    """``images`` NHWC uint8 -> the python batch layout: rows of R, G, B 32x32 planes."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"batch_label": b"test", b"data": data, b"filenames": [b"f"] * len(images), **labels}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def cifar_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def load(tmp_path: Path, seed: int = 0, **fields) -> object:
    return load_dataset(DatasetConfig(**fields), tmp_path, seed)


def files_in(path: Path) -> set[Path]:
    return set(path.rglob("*"))


# --------------------------------------------------------------------------- formats round-trip


def test_npz_with_own_test_set_round_trips_in_order(tmp_path):
    x, y = blobs([6, 6, 6], (4, 4, 2))
    xt, yt = blobs([2, 2, 2], (4, 4, 2), seed=1)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt)
    before = files_in(tmp_path)
    d = load(tmp_path, name="blobs", format="npz", path="d.npz", normalize="none", validation_fraction=0.0)
    assert files_in(tmp_path) == before  # the loader writes nothing
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_train, y)
    np.testing.assert_array_equal(d.x_test, xt)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert d.x_val.shape == (0, 4, 4, 2) and d.y_val.shape == (0,)
    assert d.summary() == {"name": "blobs", "input_shape": [4, 4, 2], "num_classes": 3,
                           "train": 18, "val": 0, "test": 6, "source": 0}


def test_npz_without_test_set_is_split_and_test_path_is_used(tmp_path):
    x, y = blobs([10, 10], (5,))
    np.savez(tmp_path / "train.npz", x_train=x, y_train=y)
    d = load(tmp_path, name="b", format="npz", path="train.npz", test_fraction=0.2, validation_fraction=0.25)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (12, 4, 4)
    assert d.input_shape == (5, 1)  # (n, T) rows gain a channel axis
    xt, yt = blobs([3, 3], (5,), seed=2)
    np.savez(tmp_path / "test.npz", x=xt, y=yt)
    d = load(tmp_path, name="b", format="npz", path="train.npz", test_path="test.npz", normalize="none")
    np.testing.assert_array_equal(d.x_test[..., 0], xt)
    assert len(d.y_train) + len(d.y_val) == 20


def test_npy_round_trips_with_test_files(tmp_path):
    x, y = blobs([5, 5], (3, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y.astype(np.uint8))
    np.save(tmp_path / "tx.npy", x[:4])
    np.save(tmp_path / "ty.npy", y[:4])
    d = load(tmp_path, name="n", format="npy", x="x.npy", y="y.npy", test_x="tx.npy", test_y="ty.npy",
             normalize="none", validation_fraction=0.0)
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_train, y)
    np.testing.assert_array_equal(d.x_test, x[:4])
    assert d.input_shape == (3, 2)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("code", [0x08, 0x0B, 0x0D, 0x0E])
def test_idx_round_trips_plain_and_gzipped(tmp_path, compress, code):
    rng = np.random.default_rng(code)
    images = rng.integers(0, 100, size=(12, 5, 6)).astype(np.uint8)
    labels = np.repeat(np.arange(3), 4).astype(np.uint8)
    # Names without .gz on purpose: compression is detected from the content.
    write_idx(tmp_path / "train-images", images, code, compress)
    write_idx(tmp_path / "train-labels", labels, 0x08, compress)
    write_idx(tmp_path / "test-images", images[:6], code, not compress)
    write_idx(tmp_path / "test-labels", labels[:6], 0x08, not compress)
    d = load(tmp_path, name="idx", format="idx", images="train-images", labels="train-labels",
             test_images="test-images", test_labels="test-labels", normalize="none", validation_fraction=0.0)
    assert d.input_shape == (5, 6, 1)
    np.testing.assert_array_equal(d.x_train[..., 0], images.astype(np.float32))
    np.testing.assert_array_equal(d.y_train, labels)
    np.testing.assert_array_equal(d.x_test[..., 0], images[:6])
    assert d.num_classes == 3


def test_cifar10_batches_become_nhwc(tmp_path):
    images = cifar_images(20, 0)
    labels = np.tile(np.arange(2), 10)
    for i in range(5):
        part = slice(4 * i, 4 * i + 4)
        write_cifar_batch(tmp_path / f"data_batch_{i + 1}", images[part], {b"labels": labels[part].tolist()})
    write_cifar_batch(tmp_path / "test_batch", images[:4], {b"labels": labels[:4].tolist()})
    d = load(tmp_path, name="c10", format="cifar", path=".", normalize="none", validation_fraction=0.0)
    assert d.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(d.x_train, images.astype(np.float32))
    np.testing.assert_array_equal(d.y_train, labels)
    # Pixel (h=1, w=2) of the green plane sits at offset 1024 + 32 + 2 of a row.
    row = images.transpose(0, 3, 1, 2).reshape(20, 3072)
    assert d.x_train[3, 1, 2, 1] == row[3, 1024 + 32 + 2]


@pytest.mark.parametrize("which, key", [("fine", b"fine_labels"), ("coarse", b"coarse_labels")])
def test_cifar100_fine_and_coarse_labels(tmp_path, which, key):
    images = cifar_images(12, 1)
    labels = {b"fine_labels": np.tile([0, 1, 2, 3], 3).tolist(), b"coarse_labels": np.tile([0, 1], 6).tolist()}
    write_cifar_batch(tmp_path / "train", images, labels)
    write_cifar_batch(tmp_path / "test", images[:4], {k: v[:4] for k, v in labels.items()})
    d = load(tmp_path, name="c100", format="cifar", path=".", cifar_labels=which, normalize="none",
             validation_fraction=0.0)
    np.testing.assert_array_equal(d.y_train, labels[key])
    assert d.num_classes == max(labels[key]) + 1
    np.testing.assert_array_equal(d.x_test, images[:4])


def test_csv_with_header_named_label_and_time_major_channels(tmp_path):
    # Rows: t0c0, t0c1, label, t1c0, t1c1, t2c0, t2c1; the label sits in the middle on purpose.
    rows = [[10 * i + 0, 10 * i + 1, i % 2, 10 * i + 2, 10 * i + 3, 10 * i + 4, 10 * i + 5] for i in range(8)]
    text = "a,b,label,c,d,e,f\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    (tmp_path / "s.csv").write_text(text)
    d = load(tmp_path, name="s", format="csv", path="s.csv", channels=2, normalize="none",
             validation_fraction=0.0, test_path="s.csv")
    assert d.input_shape == (3, 2)
    np.testing.assert_array_equal(d.x_train[1], [[10, 11], [12, 13], [14, 15]])
    np.testing.assert_array_equal(d.y_train, [i % 2 for i in range(8)])


def test_csv_without_header_uses_column_index(tmp_path):
    (tmp_path / "s.csv").write_text("".join(f"{i % 3},{i}.5,{-i}\n" for i in range(9)))
    d = load(tmp_path, name="s", format="csv", path="s.csv", label_column=0, normalize="none",
             validation_fraction=0.0, test_path="s.csv")
    assert d.input_shape == (2, 1)
    np.testing.assert_array_equal(d.x_train[4, :, 0], [4.5, -4])
    np.testing.assert_array_equal(d.y_train, np.arange(9) % 3)


# --------------------------------------------------------------------------- splitting


def test_splits_are_stratified_disjoint_and_deterministic(tmp_path):
    x, y = blobs([40, 20, 60], (3,))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = dict(name="b", format="npz", path="d.npz", normalize="none", test_fraction=0.25, validation_fraction=0.2)
    a, b, c = load(tmp_path, 3, **cfg), load(tmp_path, 3, **cfg), load(tmp_path, 4, **cfg)
    ids = [set(s[:, 0, 0].astype(int)) for s in (a.x_train, a.x_val, a.x_test)]
    assert sum(map(len, ids)) == 120 and set.union(*ids) == set(range(120))  # disjoint and complete
    for ys, n in ((a.y_test, 30), (a.y_val, 18)):
        assert len(ys) == n
        # Class shares of 1/3, 1/6, 1/2 are kept up to rounding.
        np.testing.assert_allclose(np.bincount(ys, minlength=3) / n, [1 / 3, 1 / 6, 1 / 2], atol=1.5 / n)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert set(c.x_test[:, 0, 0]) != set(a.x_test[:, 0, 0])


def test_digits_builtin_has_no_own_test_set(tmp_path):
    d = load(tmp_path, name="digits", test_fraction=0.2, validation_fraction=0.1, normalize="none")
    assert d.input_shape == (8, 8, 1) and d.num_classes == 10
    assert len(d.y_test) == 360 and len(d.y_train) + len(d.y_val) == 1797 - 360
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0


def test_mnist1d_matches_published_split_and_keeps_global_rng(tmp_path):
    np.random.seed(123)
    random.seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()
    d = load(tmp_path, name="mnist1d", validation_fraction=0.1)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state
    assert len(d.y_test) == 1000 and len(d.y_train) + len(d.y_val) == 4000 and len(d.y_val) == 400
    assert d.input_shape == (40, 1) and d.x_test.shape == (1000, 40, 1) and d.num_classes == 10


def test_mnist1d_is_generated_once_then_read_from_the_cache_and_remade_when_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORE_CACHE_DIR", str(tmp_path / "cache"))
    fresh = load(tmp_path, name="mnist1d", num_samples=600, generator_seed=3)
    (cached_file,) = (tmp_path / "cache").glob("mnist1d-*-n600-seed3.npz")
    cached = load(tmp_path, name="mnist1d", num_samples=600, generator_seed=3)
    for a, b in ((fresh.x_train, cached.x_train), (fresh.y_train, cached.y_train), (fresh.x_test, cached.x_test)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    cached_file.write_bytes(b"not an npz")
    remade = load(tmp_path, name="mnist1d", num_samples=600, generator_seed=3)
    assert np.array_equal(remade.x_train, fresh.x_train) and np.array_equal(remade.y_test, fresh.y_test)
    assert cached_file.read_bytes()[:2] == b"PK"  # rewritten as a real npz
    other = load(tmp_path, name="mnist1d", num_samples=600, generator_seed=4)
    assert not np.array_equal(other.x_train, fresh.x_train)


# --------------------------------------------------------------------------- normalization


def test_standard_normalization_uses_training_statistics_per_channel(tmp_path):
    x, y = blobs([30, 30], (4, 4, 3))
    x = x * np.array([1.0, 10.0, 0.1], np.float32) + np.array([5.0, -3.0, 100.0], np.float32)
    x[..., 2] = 7.0  # a constant channel must not divide by zero
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = dict(name="b", format="npz", path="d.npz")
    raw, d = load(tmp_path, normalize="none", **cfg), load(tmp_path, normalize="standard", **cfg)
    np.testing.assert_allclose(d.x_train[..., :2].mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.x_train[..., :2].std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    np.testing.assert_array_equal(d.x_train[..., 2], 0.0)
    mean, std = raw.x_train[..., :2].mean(axis=(0, 1, 2)), raw.x_train[..., :2].std(axis=(0, 1, 2))
    # Val and test are transformed with the training split's statistics, not their own.
    np.testing.assert_allclose(d.x_test[..., :2], (raw.x_test[..., :2] - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d.x_val[..., :2], (raw.x_val[..., :2] - mean) / std, rtol=1e-4, atol=1e-4)


def test_minmax_normalization_uses_training_range(tmp_path):
    x, y = blobs([20, 20], (6,))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = dict(name="b", format="npz", path="d.npz")
    raw, d = load(tmp_path, normalize="none", **cfg), load(tmp_path, normalize="minmax", **cfg)
    assert d.x_train.min() == 0.0 and d.x_train.max() == pytest.approx(1.0)
    lo, hi = raw.x_train.min(), raw.x_train.max()
    np.testing.assert_allclose(d.x_test, (raw.x_test - lo) / (hi - lo), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- transfer


def test_transfer_by_classes_relabels_and_separates(tmp_path):
    x, y = blobs([12, 12, 12, 12, 12], (3,))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = dict(name="b", format="npz", path="d.npz", transfer=TransferConfig(target_classes=[4, 1]))
    d, raw = load(tmp_path, **cfg), load(tmp_path, normalize="none", **cfg)
    assert d.num_classes == 3  # max(3 source classes, 2 target classes)
    assert set(d.y_train) == set(d.y_test) == set(d.y_val) == {0, 1}
    assert set(d.y_source) == {0, 1, 2}
    # Original labels follow from the blob means: ascending order 1 -> 0, 4 -> 1 (target); 0, 2, 3 (source).
    original = {int(i): int(c) for i, c in zip(np.arange(60), y)}
    assert all(original[int(i)] == [1, 4][t] for i, t in zip(raw.x_train[:, 0, 0], raw.y_train))
    assert all(original[int(i)] == [0, 2, 3][s] for i, s in zip(raw.x_source[:, 0, 0], raw.y_source))
    target_ids = set(raw.x_train[:, 0, 0]) | set(raw.x_val[:, 0, 0]) | set(raw.x_test[:, 0, 0])
    assert not target_ids & set(raw.x_source[:, 0, 0])
    mean, std = raw.x_train.mean(axis=(0, 1)), raw.x_train.std(axis=(0, 1))
    np.testing.assert_allclose(d.x_source, (raw.x_source - mean) / std, rtol=1e-4, atol=1e-4)


def test_transfer_by_fraction_is_a_stratified_disjoint_sample_split(tmp_path):
    x, y = blobs([30, 30, 40], (2,))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = dict(name="b", format="npz", path="d.npz", normalize="none", test_fraction=0.2,
               validation_fraction=0.25, transfer={"target_fraction": 0.5})
    d = load(tmp_path, **cfg)
    assert d.num_classes == 3
    target = set(d.x_train[:, 0, 0]) | set(d.x_val[:, 0, 0])
    source = set(d.x_source[:, 0, 0])
    assert not target & source and len(target) + len(source) == 80  # the whole training pool
    assert len(source) == 40 and np.array_equal(np.bincount(d.y_source), [12, 12, 16])
    assert not (target | source) & set(d.x_test[:, 0, 0])


# --------------------------------------------------------------------------- bad input


def expect_bad(tmp_path: Path, needle: str, **fields) -> str:
    with pytest.raises(BadInput) as info:
        load(tmp_path, **fields)
    message = str(info.value)
    assert needle in message and "\n" not in message, message
    return message


def test_missing_file_and_missing_key(tmp_path):
    message = expect_bad(tmp_path, "nothere.npz", name="b", format="npz", path="nothere.npz")
    assert str(tmp_path) in message and "does not exist" in message
    expect_bad(tmp_path, "dataset.path", name="b", format="npz")
    expect_bad(tmp_path, "dataset.images", name="b", format="idx", labels="l")
    expect_bad(tmp_path, "dataset.test_y", name="b", format="npy", x="x.npy", y="y.npy", test_x="tx.npy")
    expect_bad(tmp_path, "dataset.x", name="b", format="npz", path="d.npz", x="x.npy")


def test_unknown_builtin_lists_allowed_names(tmp_path):
    message = expect_bad(tmp_path, "dataset.name", name="mnist")
    assert "mnist1d" in message and "digits" in message


def test_corrupt_idx_files(tmp_path):
    (tmp_path / "bad-magic").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    write_idx(tmp_path / "labels", np.zeros(4, np.uint8), 0x08, False)
    expect_bad(tmp_path, "bad-magic", name="i", format="idx", images="bad-magic", labels="labels")
    raw = write_idx(tmp_path / "short", np.zeros((4, 3, 3), np.uint8), 0x08, False).read_bytes()
    (tmp_path / "short").write_bytes(raw[:-5])
    assert "truncated" in expect_bad(tmp_path, "short", name="i", format="idx", images="short", labels="labels")
    (tmp_path / "fake.gz").write_bytes(b"\x1f\x8b" + b"not really gzip data")
    assert "gzip" in expect_bad(tmp_path, "fake.gz", name="i", format="idx", images="fake.gz", labels="labels")


def test_corrupt_npz_npy_and_cifar(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip archive at all")
    expect_bad(tmp_path, "junk.npz", name="b", format="npz", path="junk.npz")
    np.savez(tmp_path / "keys.npz", a=np.zeros((3, 2)))
    assert "x_train" in expect_bad(tmp_path, "keys.npz", name="b", format="npz", path="keys.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "y.npy", np.zeros(1, np.int64))
    expect_bad(tmp_path, "obj.npy", name="b", format="npy", x="obj.npy", y="y.npy")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train").write_bytes(pickle.dumps([1, 2, 3]))
    expect_bad(tmp_path, "train", name="c", format="cifar", path="c")
    (tmp_path / "c" / "train").write_bytes(b"garbage")
    expect_bad(tmp_path, "train", name="c", format="cifar", path="c")


def test_cifar_pickle_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (tmp_path / "train").write_bytes(pickle.dumps({b"data": Evil()}))
    assert "not allowed" in expect_bad(tmp_path, "train", name="c", format="cifar", path=".")
    assert not (tmp_path / "pwned").exists()


def test_cifar10_directory_needs_every_batch(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", cifar_images(2, 0), {b"labels": [0, 1]})
    expect_bad(tmp_path, "data_batch_2", name="c", format="cifar", path=".")
    expect_bad(tmp_path, "not a CIFAR", name="c", format="cifar", path="..")


def save_npz(tmp_path: Path, x: np.ndarray, y: np.ndarray, **extra) -> dict:
    np.savez(tmp_path / "d.npz", x=x, y=y, **extra)
    return dict(name="b", format="npz", path="d.npz")


@pytest.mark.parametrize("mutate, needle", [
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), y), "NaN"),
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x), y), "infinity"),
    (lambda x, y: (x, np.where(np.arange(len(y)) == 0, -1, y)), "negative"),
    (lambda x, y: (x, y + 0.5), "non-integer"),
    (lambda x, y: (x, y.astype(str)), "integer class labels"),
    (lambda x, y: (x[:-1], y), "must match"),
    (lambda x, y: (x[:0], y[:0]), "empty"),
    (lambda x, y: (x, 0 * y), "at least 2 classes"),
])
def test_bad_arrays_name_the_file(tmp_path, mutate, needle):
    x, y = mutate(*blobs([6, 6], (3,)))
    message = expect_bad(tmp_path, needle, **save_npz(tmp_path, x, y))
    assert "d.npz" in message


def test_labels_beyond_num_classes_and_test_shape_mismatch(tmp_path):
    x, y = blobs([6, 6, 6], (3,))
    cfg = save_npz(tmp_path, x, y)
    assert "d.npz" in expect_bad(tmp_path, "dataset.num_classes", num_classes=2, **cfg)
    cfg = save_npz(tmp_path, x, y, x_test=np.zeros((3, 4), np.float32), y_test=np.zeros(3, np.int64))
    assert "must match" in expect_bad(tmp_path, "d.npz[x_test]", **cfg)


def test_too_few_samples_to_stratify_is_explained(tmp_path):
    x, y = blobs([6, 1, 6], (3,))
    message = expect_bad(tmp_path, "dataset.test_fraction", **save_npz(tmp_path, x, y))
    assert "class 1 has only 1 sample" in message and "at least 2" in message
    x, y = blobs([2, 2, 2, 2, 2], (3,))
    assert "each of its 5 classes" in expect_bad(tmp_path, "dataset.test_fraction", **save_npz(tmp_path, x, y))


def test_transfer_target_class_must_exist(tmp_path):
    x, y = blobs([6, 6, 6], (3,))
    cfg = save_npz(tmp_path, x, y)
    message = expect_bad(tmp_path, "dataset.transfer.target_classes", transfer={"target_classes": [1, 7]}, **cfg)
    assert "class 7 is not present" in message
    assert "every class" in expect_bad(tmp_path, "target_classes", transfer={"target_classes": [0, 1, 2]}, **cfg)


def test_bad_csv_files(tmp_path):
    (tmp_path / "t.csv").write_text("label,a\n1,2\n0,oops\n")
    expect_bad(tmp_path, "t.csv", name="s", format="csv", path="t.csv")
    (tmp_path / "h.csv").write_text("kind,a\n1,2\n0,3\n")
    assert "kind" in expect_bad(tmp_path, "'label'", name="s", format="csv", path="h.csv")
    (tmp_path / "n.csv").write_text("1,2\n0,3\n")
    expect_bad(tmp_path, "dataset.label_column", name="s", format="csv", path="n.csv")
    (tmp_path / "e.csv").write_text("")
    assert "empty" in expect_bad(tmp_path, "e.csv", name="s", format="csv", path="e.csv")
    (tmp_path / "c.csv").write_text("label,a,b,c\n1,2,3,4\n0,3,4,5\n")
    expect_bad(tmp_path, "dataset.channels=2", name="s", format="csv", path="c.csv", channels=2)


@pytest.mark.parametrize("fields, key", [
    ({"validation_fraction": 0.5}, "validation_fraction"),
    ({"test_fraction": 0.0}, "test_fraction"),
    ({"channels": 0}, "channels"),
    ({"num_classes": 1}, "num_classes"),
    ({"label_column": -1}, "label_column"),
    ({"num_samples": 3}, "num_samples"),
    ({"format": "parquet"}, "format"),
    ({"colour": "red"}, "colour"),
    ({"transfer": {"target_fraction": 1.0}}, "target_fraction"),
    ({"transfer": {"target_classes": [1], "target_fraction": 0.5}}, "exactly one"),
    ({"transfer": {}}, "exactly one"),
])
def test_out_of_range_settings_name_the_field(fields, key):
    with pytest.raises(pydantic.ValidationError) as info:
        DatasetConfig(name="b", **fields)
    assert key in str(info.value)


def test_config_is_frozen():
    config = DatasetConfig(name="digits")
    with pytest.raises(pydantic.ValidationError):
        config.name = "mnist1d"
