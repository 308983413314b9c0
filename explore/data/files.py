"""The file formats a campaign's data set may come in: npz, npy, IDX, CIFAR python batches and CSV.

Each ``load_<format>(config, base_dir)`` returns the training pool and, when the files hold one, the
own test set, checked by :func:`explore.data.samples.checked`.
"""

from __future__ import annotations

import csv
import gzip
import math
import pickle
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from explore.data.config import DatasetConfig
from explore.data.layout import channel_last
from explore.data.samples import Loaded, Part, checked, one_line, resolve_path
from explore.errors import BadInput


# --------------------------------------------------------------------------- npz / npy

_NPZ_X = ("x", "x_train")
_NPZ_Y = ("y", "y_train")


def load_npz(config: DatasetConfig, base_dir: Path) -> Loaded:
    path = resolve_path(config, "path", base_dir, required=True)
    test_path = resolve_path(config, "test_path", base_dir, required=False)
    arrays = _read_npz(path)
    has_own_test = "x_test" in arrays or "y_test" in arrays
    if has_own_test and test_path is not None:
        raise BadInput(f"{path} holds x_test/y_test and dataset.test_path is also given; use only one test set")
    train = _npz_pair(arrays, path, _NPZ_X, _NPZ_Y, config.layout)
    if test_path is not None:
        return train, _npz_pair(_read_npz(test_path), test_path, _NPZ_X + ("x_test",), _NPZ_Y + ("y_test",),
                                config.layout)
    if has_own_test:
        return train, _npz_pair(arrays, path, ("x_test",), ("y_test",), config.layout)
    return train, None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise BadInput(f"{path} is not a readable .npz archive: {one_line(e)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BadInput(f"{path} is a single .npy array, not an .npz archive; use format 'npy'")
    with archive:
        try:
            return {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise BadInput(f"{path} is not a readable .npz archive: {one_line(e)}") from None


def _npz_pair(arrays: dict[str, np.ndarray], path: Path, x_keys: tuple[str, ...], y_keys: tuple[str, ...],
              layout: str | None) -> Part:
    def pick(keys: tuple[str, ...]) -> str:
        for key in keys:
            if key in arrays:
                return key
        raise BadInput(f"{path} has no array named {' or '.join(keys)} (it holds: {', '.join(arrays) or 'nothing'})")

    xk, yk = pick(x_keys), pick(y_keys)
    x, reading = channel_last(arrays[xk], layout, f"{path}[{xk}]")
    return checked(x, arrays[yk], f"{path}[{xk}]", f"{path}[{yk}]", reading)


def load_npy(config: DatasetConfig, base_dir: Path) -> Loaded:
    train = _npy_pair(config, base_dir, "x", "y", required=True)
    return train, _npy_pair(config, base_dir, "test_x", "test_y", required=False)


def _npy_pair(config: DatasetConfig, base_dir: Path, x_key: str, y_key: str, *, required: bool) -> Part | None:
    x_path = resolve_path(config, x_key, base_dir, required=required)
    y_path = resolve_path(config, y_key, base_dir, required=required)
    if x_path is None:
        return None
    x, reading = channel_last(_read_npy(x_path), config.layout, str(x_path))
    return checked(x, _read_npy(y_path), str(x_path), str(y_path), reading)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadInput(f"{path} is not a readable .npy array: {one_line(e)}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise BadInput(f"{path} is an .npz archive, not a single .npy array; use format 'npz'")
    return array


# --------------------------------------------------------------------------- IDX

# IDX type codes -> big-endian dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(config: DatasetConfig, base_dir: Path) -> Loaded:
    train = _idx_pair(config, base_dir, "images", "labels", required=True)
    return train, _idx_pair(config, base_dir, "test_images", "test_labels", required=False)


def _idx_pair(config: DatasetConfig, base_dir: Path, x_key: str, y_key: str, *, required: bool) -> Part | None:
    x_path = resolve_path(config, x_key, base_dir, required=required)
    y_path = resolve_path(config, y_key, base_dir, required=required)
    if x_path is None:
        return None
    images, labels = read_idx(x_path), read_idx(y_path)
    if config.layout is None and images.ndim == 3:  # IDX's (n, H, W) are grey images, as in MNIST
        x, reading = channel_last(images, "nhwc", str(x_path), "IDX images")
    else:
        x, reading = channel_last(images, config.layout, str(x_path))
    return checked(x, labels, str(x_path), str(y_path), reading)


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
        raise BadInput(f"{path} cannot be read: {one_line(e)}") from None
    if raw[:2] != b"\x1f\x8b":  # the gzip magic; file names are not trusted to tell
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise BadInput(f"{path} starts like a gzip file but is not a valid one: {one_line(e)}") from None


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


def load_cifar(config: DatasetConfig, base_dir: Path) -> Loaded:
    root = resolve_path(config, "path", base_dir, required=True, kind="dir")
    if (root / "data_batch_1").exists():
        if config.cifar_labels != "fine":
            raise BadInput(f"dataset.cifar_labels applies to CIFAR-100 only; {root} holds CIFAR-10")
        return _cifar_part(root, _CIFAR10_TRAIN, b"labels"), _cifar_part(root, ("test_batch",), b"labels")
    if (root / "train").exists():
        key = b"fine_labels" if config.cifar_labels == "fine" else b"coarse_labels"
        return _cifar_part(root, ("train",), key), _cifar_part(root, ("test",), key)
    raise BadInput(f"{root} is not a CIFAR python-batches directory: expected data_batch_1..5 and test_batch "
                   "(CIFAR-10) or train and test (CIFAR-100)")


def _cifar_part(root: Path, names: tuple[str, ...], label_key: bytes) -> Part:
    xs, ys = [], []
    for name in names:
        x, y = _read_cifar_batch(root / name, label_key)
        xs.append(x)
        ys.append(y)
    where = str(root / names[0]) if len(names) == 1 else f"{root}/{{{','.join(names)}}}"
    x, reading = channel_last(np.concatenate(xs), "nchw", where, "CIFAR batches")
    return checked(x, np.concatenate(ys), where, f"{where} labels", reading)


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise BadInput(f"{path} does not exist; a CIFAR directory needs all of its batch files")
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as e:  # unpickling garbage can raise almost anything
        raise BadInput(f"{path} is not a readable CIFAR batch (python pickle): {one_line(e)}") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in batch) \
            if isinstance(batch, dict) else []
        raise BadInput(f"{path} is not a CIFAR batch: expected a dict with keys 'data' and "
                       f"'{label_key.decode()}', found {keys or type(batch).__name__}")
    data = np.asarray(batch[b"data"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise BadInput(f"{path} has data of shape {data.shape}; a CIFAR batch holds (n, 3072) rows")
    # Rows are the red, green and blue 32x32 planes in turn: NCHW, read channel-last by the caller.
    return data.reshape(-1, 3, 32, 32), np.asarray(batch[label_key])


# --------------------------------------------------------------------------- CSV


def load_csv(config: DatasetConfig, base_dir: Path) -> Loaded:
    path = resolve_path(config, "path", base_dir, required=True)
    test_path = resolve_path(config, "test_path", base_dir, required=False)
    train = _read_csv(path, config.label_column, config.channels)
    return train, None if test_path is None else _read_csv(test_path, config.label_column, config.channels)


def _read_csv(path: Path, label_column: str | int, channels: int) -> Part:
    header = _csv_header(path)
    column = _label_index(path, header, label_column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loadtxt warns on an empty file; emptiness is reported below
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=int(header is not None), ndmin=2,
                               dtype=np.float64, encoding="utf-8-sig")
        except ValueError as e:  # includes UnicodeDecodeError for binary files
            reason = one_line(e).split("; use `usecols`")[0]
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
    x, reading = channel_last(features.reshape(features.shape[0], -1, channels), "nlc", str(path),
                              f"CSV columns, dataset.channels={channels}")
    return checked(x, table[:, column], str(path), f"{path} label column", reading)


def _csv_header(path: Path) -> list[str] | None:
    """The first row's cells if any of them is not a number (a header), else None."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            first = next((row for row in csv.reader(f) if any(cell.strip() for cell in row)), None)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"{path} is not a readable CSV text file: {one_line(e)}") from None
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
