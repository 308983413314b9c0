"""JAX's persistent compilation cache, kept under a campaign's results directory.

A campaign's workers and its re-runs compile the same programs (the same shapes recur across
trials), so they share one on-disk cache, ``results/<campaign>/jax_cache``.  Every program is kept,
however quick to compile: a trial compiles dozens of small ones, and together they cost seconds.
Cached executables are XLA's own output for the same program, so results stay bit-identical.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

CACHE_DIRNAME = "jax_cache"

#: The settings the cache needs: where it lives, and that no program is too quick or small to keep.
_OPTIONS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")


def cache_dir(campaign_dir: Path) -> Path:
    """Where the campaign whose results live in ``campaign_dir`` keeps compiled programs."""
    return Path(campaign_dir) / CACHE_DIRNAME


def enable_compilation_cache(campaign_dir: Path) -> Path:
    """Persist every compilation of this process under ``campaign_dir/jax_cache``; returns that path.

    Takes effect even after earlier compilations (JAX otherwise fixes its cache choice at the first).
    """
    path = cache_dir(campaign_dir)
    path.mkdir(parents=True, exist_ok=True)
    _apply((str(path.resolve()), 0.0, -1))
    return path


@contextmanager
def compilation_cache(campaign_dir: Path) -> Iterator[Path]:
    """:func:`enable_compilation_cache` for the duration of a block; the previous settings come back
    after it (a test process runs many campaigns)."""
    previous = tuple(getattr(jax.config, name) for name in _OPTIONS)
    try:
        yield enable_compilation_cache(campaign_dir)
    finally:
        _apply(previous)


def _apply(values: tuple) -> None:
    if tuple(getattr(jax.config, name) for name in _OPTIONS) == values:
        return
    for name, value in zip(_OPTIONS, values):
        jax.config.update(name, value)
    jax_cache.reset_cache()
