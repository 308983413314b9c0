"""The bundled data sets: scikit-learn's 8x8 digits and the generated mnist1d; nothing is downloaded."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from explore.data.config import BUILTINS, DatasetConfig
from explore.data.layout import channel_last
from explore.data.samples import Loaded, Part, checked
from explore.errors import BadInput
from explore.io import write_bytes_atomic


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
        images, labels = _digits()
        x, reading = channel_last(images, "nhwc", "builtin digits", "builtin")
        return checked(x, labels, "builtin digits", "builtin digits labels", reading), None
    return _load_mnist1d(config.num_samples, config.generator_seed)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (n, 8, 8, 1) float64 images in [0, 1], and their labels."""
    from sklearn.datasets import load_digits  # lazily: sklearn adds ~1 s to every CLI start
    digits = load_digits()
    # Pixel values are counts 0..16 of the original 4x4 blocks.
    return (digits.images / 16.0)[..., np.newaxis], digits.target


def data_cache_dir() -> Path:
    """Where generated data sets are kept between runs: ``$EXPLORE_CACHE_DIR``, else the user's cache."""
    if "EXPLORE_CACHE_DIR" in os.environ:
        return Path(os.environ["EXPLORE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explore"


def _load_mnist1d(num_samples: int, generator_seed: int) -> Loaded:
    # Generating 5000 series takes ~3 s, as long as a trial's whole training should; the arrays
    # depend only on the generator's arguments and version, so each worker and re-run reads them.
    path = data_cache_dir() / f"mnist1d-{metadata.version('mnist1d')}-n{num_samples}-seed{generator_seed}.npz"
    data = _read_cached(path)
    if data is None:
        data = _generate_mnist1d(num_samples, generator_seed)
        _write_cached(path, data)
    return (_mnist1d_part(data["x"], data["y"], "builtin mnist1d", "builtin mnist1d labels"),
            _mnist1d_part(data["x_test"], data["y_test"], "builtin mnist1d test set", "builtin mnist1d test labels"))


def _mnist1d_part(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> Part:
    series, reading = channel_last(x, "nlc", x_name, "builtin")  # (n, 40) rows: one channel
    return checked(series, y, x_name, y_name, reading)


MNIST1D_ARRAYS = ("x", "y", "x_test", "y_test")


def _generate_mnist1d(num_samples: int, generator_seed: int) -> dict[str, np.ndarray]:
    import mnist1d.data  # imported lazily: it pulls in requests, which nothing else needs

    args = mnist1d.data.get_dataset_args()
    args.num_samples, args.seed = num_samples, generator_seed
    data = mnist1d.data.make_dataset(args)  # it reseeds the global RNGs: load_dataset restores them
    return {name: np.asarray(data[name]) for name in MNIST1D_ARRAYS}


def _read_cached(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when there are none or they are unreadable (then they are remade)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in MNIST1D_ARRAYS}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _write_cached(path: Path, data: dict[str, np.ndarray]) -> None:
    """Keep ``data`` for the next run; a cache that cannot be written only costs time."""
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())
    except OSError:
        pass
