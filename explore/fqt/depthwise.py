"""Depthwise convolution as shifted multiply-adds over the kernel taps, and the conv geometry.

XLA:CPU's grouped convolution (``feature_group_count`` = channels) runs about 200x slower than a
1x1 conv (design.md, "Measured facts").  A depthwise output is only ``prod(kernel)`` products, so
here it is one strided slice of the padded input per kernel tap, times that tap's per-channel
weights, summed over the taps (XLA fuses that into one loop).  The input gradient is the same form
on the dilated error with the kernel flipped.  The weight gradient is, per tap, the spatial sum of
window times error; it runs as a loop over the taps, because unrolled (one reduction per tap) it
took XLA ~3 s to compile for a 7x7 kernel (measured; the loop takes ~0.7 s and runs as fast).

In the integer path (:func:`explore.fqt.exact.exact_bilinear`) these give the int32 values the
grouped conv gave: every partial sum of centred uint8 products is an exact float32 integer.  Float
sums may be added in another order than the grouped conv adds them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import partial

import jax
import jax.numpy as jnp

Array = jax.Array


def output_and_pads(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                    padding: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """``(out_spatial, pads)`` of a conv on ``spatial`` input positions, as XLA's 'same' / 'valid'."""
    out, pads = [], []
    for n, k, s in zip(spatial, kernel, strides):
        if padding.lower() == "same":
            o = -(-n // s)
            total = max((o - 1) * s + k - n, 0)
        else:
            o, total = (n - k) // s + 1, 0
        out.append(o)
        pads.append((total // 2, total - total // 2))
    return tuple(out), tuple(pads)


def kernel_taps(kernel: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Kernel offsets in row-major order, the order of the flattened weight index."""
    return list(itertools.product(*(range(k) for k in kernel)))


def tap_windows(x: Array, kernel: tuple[int, ...], strides: tuple[int, ...],
                padding: str) -> Iterator[tuple[tuple[int, ...], Array]]:
    """``(tap, window)`` per kernel tap, row-major: the ``[b, *out, C]`` input positions that tap reads
    (padding reads +0)."""
    out, pads = output_and_pads(tuple(x.shape[1:-1]), kernel, strides, padding)
    padded = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
    for tap in kernel_taps(kernel):
        start = (0,) + tap + (0,)
        limit = (x.shape[0],) + tuple(o + s * (n - 1) + 1 for o, s, n in zip(tap, strides, out)) + (x.shape[-1],)
        yield tap, jax.lax.slice(padded, start, limit, (1,) + tuple(strides) + (1,))


def _sum_of_products(pairs: Iterator[tuple[Array, Array]]) -> Array:
    total = None
    for window, weights in pairs:
        term = window * weights
        total = term if total is None else total + term
    return total


def _forward(x: Array, w: Array, strides: tuple[int, ...], padding: str) -> Array:
    windows = tap_windows(x, tuple(w.shape[:-2]), strides, padding)
    return _sum_of_products((window, w[tap + (0,)]) for tap, window in windows)


def depthwise_input_grad(e: Array, w: Array, in_spatial: tuple[int, ...], strides: tuple[int, ...],
                         padding: str) -> Array:
    """``dx[b, *in_spatial, C]`` of :func:`depthwise_conv` for the output error ``e[b, *out, C]``.

    With ``f`` the error dilated by the strides and padded by ``k - 1`` before, the padded input's
    gradient at ``j`` is ``sum_u f[j + u] * w[k - 1 - u]``; only the unpadded ``j`` are computed.
    """
    kernel = tuple(w.shape[:-2])
    out, pads = output_and_pads(in_spatial, kernel, strides, padding)
    dilate = [(0, 0, 0)]
    for n, k, s, o, (lo, hi) in zip(in_spatial, kernel, strides, out, pads):
        dilate.append((k - 1, n + lo + hi - s * (o - 1) - 1, s - 1))
    f = jax.lax.pad(e, jnp.zeros((), e.dtype), dilate + [(0, 0, 0)])

    def pairs() -> Iterator[tuple[Array, Array]]:
        for u in kernel_taps(kernel):
            start = (0,) + tuple(lo + i for (lo, _), i in zip(pads, u)) + (0,)
            limit = (e.shape[0],) + tuple(a + n for a, n in zip(start[1:-1], in_spatial)) + (e.shape[-1],)
            flipped = tuple(k - 1 - i for k, i in zip(kernel, u))
            yield jax.lax.slice(f, start, limit), w[flipped + (0,)]

    return _sum_of_products(pairs())


def _stride_phases(x: Array, kernel: tuple[int, ...], strides: tuple[int, ...],
                   padding: str) -> tuple[Array, tuple[int, ...]]:
    """The padded input as ``[b, *rows, *strides, C]``: tap ``t = q*s + r`` reads phase ``r`` from row ``q``.

    Returns it and the output shape; zeros added at the end to fill the last row are never read.
    """
    spatial = tuple(x.shape[1:-1])
    out, pads = output_and_pads(spatial, kernel, strides, padding)
    sizes = [n + lo + hi for n, (lo, hi) in zip(spatial, pads)]
    rows = [max(-(-size // s), o + (k - 1) // s) for size, s, o, k in zip(sizes, strides, out, kernel)]
    ends = tuple((lo, hi + r * s - size) for (lo, hi), r, s, size in zip(pads, rows, strides, sizes))
    padded = jnp.pad(x, ((0, 0),) + ends + ((0, 0),))
    split = padded.reshape((x.shape[0],) + tuple(itertools.chain(*zip(rows, strides))) + (x.shape[-1],))
    dims = len(kernel)
    order = (0,) + tuple(1 + 2 * i for i in range(dims)) + tuple(2 + 2 * i for i in range(dims)) + (1 + 2 * dims,)
    return jnp.transpose(split, order), out


def depthwise_weight_grad(x: Array, e: Array, kernel: tuple[int, ...], strides: tuple[int, ...],
                          padding: str, per_sample: bool = True) -> Array:
    """Weight gradient of :func:`depthwise_conv` for the output error ``e[b, *out, C]``: per tap, the
    sum over positions (and, unless ``per_sample``, the batch) of window times error.

    Shape ``[b, *kernel, 1, C]`` per sample, else ``[*kernel, 1, C]``.
    """
    phases, out = _stride_phases(x, kernel, strides, padding)
    batch, channels, dims = x.shape[0], x.shape[-1], len(kernel)
    axes = tuple(range(1 if per_sample else 0, 1 + dims))
    taps = jnp.asarray(kernel_taps(kernel), jnp.int32)
    step = jnp.asarray(strides, jnp.int32)
    window_shape = (batch,) + out + (1,) * dims + (channels,)

    def add_tap(i: Array, g: Array) -> Array:
        row, phase = taps[i] // step, taps[i] % step
        start = (0, *(row[d] for d in range(dims)), *(phase[d] for d in range(dims)), 0)
        window = jax.lax.dynamic_slice(phases, start, window_shape).reshape(e.shape)
        return jax.lax.dynamic_update_index_in_dim(g, jnp.sum(window * e, axis=axes), i, 0)

    g0 = jnp.zeros((len(taps),) + ((batch,) if per_sample else ()) + (channels,), jnp.result_type(x, e))
    g = jnp.moveaxis(jax.lax.fori_loop(0, len(taps), add_tap, g0), 0, -2)
    return g.reshape(g.shape[:-2] + tuple(kernel) + (1, channels))


def _depthwise_forward(x: Array, w: Array, strides: tuple[int, ...], padding: str) -> tuple[Array, tuple]:
    return _forward(x, w, strides, padding), (x, w)


def _depthwise_backward(strides: tuple[int, ...], padding: str, saved: tuple, e: Array) -> tuple[Array, Array]:
    x, w = saved
    kernel = tuple(w.shape[:-2])
    return (depthwise_input_grad(e, w, tuple(x.shape[1:-1]), strides, padding),
            depthwise_weight_grad(x, e, kernel, strides, padding, per_sample=False))


_depthwise = jax.custom_vjp(_forward, nondiff_argnums=(2, 3))
_depthwise.defvjp(_depthwise_forward, _depthwise_backward)


@partial(jax.jit, static_argnums=(2, 3))
def depthwise_conv(x: Array, w: Array, strides: tuple[int, ...], padding: str) -> Array:
    """``x[b, *spatial, C]`` convolved with ``w[*kernel, 1, C]`` channel by channel -> ``[b, *out, C]``.

    The function of ``lax.conv_general_dilated(..., feature_group_count=C)`` with channels-last
    layouts, and its gradients.  Jitted, so that an eager call compiles one program, not one per tap.
    """
    if len(w.shape) == 3:
        # 1-D: JAX's own gradient of the shifted form (pads of the error) compiled in 0.42 s and ran
        # in 0.73 ms against 0.52 s and 1.18 ms for the rule below (k=5, 64x40x48); in 2-D it ran
        # 1.5-2.7x slower (3x3 to 7x7), so there the rule is used.
        return _forward(x, w, strides, padding)
    return _depthwise(x, w, strides, padding)
