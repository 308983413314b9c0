"""Shape helpers shared by the families."""

from __future__ import annotations


def kernel(size: int, dims: int) -> tuple[int, ...]:
    return (size,) * dims


def fitting_stride(spatial: tuple[int, ...], stride: int) -> tuple[int, ...]:
    """Per-axis stride, 1 on axes too short to be down-sampled (so tiny inputs still build)."""
    return tuple(stride if n >= stride * 2 else 1 for n in spatial)


def strided(spatial: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...]:
    """Output size of a 'same'-padded strided conv."""
    return tuple(-(-n // s) for n, s in zip(spatial, strides))


def scaled(channels: int, width: float) -> int:
    return max(2, int(round(channels * width)))
