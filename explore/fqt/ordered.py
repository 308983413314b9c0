"""Float32 kernels with a fixed summation order, the contract the C runtime implements loop for loop.

XLA's convolutions, matrix products and reductions sum in an unspecified order (and may use FMA),
so the float layers of a deployment plan (configs ``mixed`` and ``float32``) use these kernels
instead.  Plain float inference and calibration (:func:`~explore.fqt.simulator.float_plan`) keep
the fast XLA kernels.

The contract
============

Every product that feeds a sum is rounded to float32 on its own (:func:`~explore.fqt.quant.strict`;
in C: ``-ffp-contract=off``).  Every sum starts from ``+0.0f`` and adds its terms one at a time, left
to right, in the order stated.  Shapes are NLC (1-D) or NHWC (2-D); weights use Flax's layouts,
conv ``(k..., ci, co)``, depthwise ``(k..., 1, C)``, dense ``(I, O)``.  "Row-major" means the last
spatial axis varies fastest; a flattened conv weight index ``K`` runs over ``(kh, kw, ci)`` row-major.

1. Dense forward: ``y[o] = (sum_{i=0..I-1} x[i]*w[i,o]) + b[o]``, ``i`` ascending, bias added last,
   then the activation (relu ``y > 0 ? y : 0``; relu6 clamps to ``[0, 6]``).
2. Conv forward, padding as XLA's SAME: ``out = ceil(n/stride)``,
   ``pad_total = max((out-1)*stride + k - n, 0)``, ``pad_before = pad_total / 2`` (floor); 'valid'
   pads nothing and has ``out = (n - k)/stride + 1``.  For output position ``p`` and channel ``o``:
   ``y = (sum_K patch[p,K]*w[K,o]) + b[o]``, ``K`` ascending.  Depthwise: the sum runs over the
   kernel offsets ``(kh, kw)`` ascending with ``ci = o``.  Then the activation as in 1.
3. Dense input error: ``dx[i] = sum_{o ascending} e[o]*w[i,o]``.  Dense weight gradient: the single
   product ``x[i]*e[o]``.
4. Conv weight gradient, per sample: ``g[K,o] = sum_p patch[p,K]*e[p,o]``, output positions ``p``
   row-major ascending (depthwise: ``g[kh,kw,0,c] = sum_p patch[p,(kh,kw),c]*e[p,c]``).
5. Conv input error, per sample: ``dx = 0``; for each kernel offset ``(kh, kw)`` ascending, for each
   output position ``p`` and input channel ``ci``: ``dx[q, ci] += s`` where ``q`` is the input position
   that ``p`` reads through that offset and ``s = sum_{o ascending} e[p,o]*w[kh,kw,ci,o]`` (depthwise:
   the single product ``s = e[p,ci]*w[kh,kw,0,ci]``).  Offsets that land in the padding are dropped.
6. Spatial sums per channel (the l1 norm ``sum |e|`` that ranks channels for sparse updates, the
   bias gradient ``sum e``): positions row-major ascending.
7. Average pooling: ``(sum_{window positions row-major} x) * inv_count`` with
   ``inv_count = 1.0f / (float)count``, the product rounded; global average pooling the same over
   all positions row-major.  Max pooling involves no arithmetic.

Padding taps.  A padded input is ``+0``, so its product with a (finite) weight is ``+0`` or ``-0``.  A
running sum that starts at ``+0`` is never ``-0``: in round-to-nearest, ``x + (-x) = +0`` and
``+0 + (-0) = +0``, so only ``-0 + -0`` gives ``-0`` and the sum never holds ``-0`` to begin with.  Adding
``±0`` to a sum that is not ``-0`` leaves it unchanged, so the C side may skip padding taps or add
them: the bits are the same.  The same argument lets this module compute a sum however XLA likes to
start it (XLA folds ``0 + t`` into ``t``) as long as the result then maps ``-0`` to ``+0``
(:func:`_positive_zero`): the non-zero partial sums are identical, only the sign of a zero can differ.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt.depthwise import kernel_taps, output_and_pads, tap_windows
from explore.fqt.quant import strict
from explore.model.spec import Conv

Array = jax.Array

#: Scan steps per loop iteration: fewer loop trips without making compile time grow with the sum.
UNROLL = 8


# --- the two primitives --------------------------------------------------------------------------------


def _positive_zero(acc: Array) -> Array:
    """Map ``-0`` to ``+0``: the result of a sum that started at ``+0`` (module docstring)."""
    return jnp.where(acc == 0, jnp.float32(0.0), acc)


def ordered_dot(a: Array, b: Array) -> Array:
    """``sum_k strict(a[k] * b[k])`` over the leading axis, ``k`` ascending; other axes broadcast."""
    shape = jnp.broadcast_shapes(a.shape[1:], b.shape[1:])

    def step(k: Array, acc: Array) -> Array:
        return acc + strict(a[k] * b[k])

    return _positive_zero(_loop(a.shape[0], step, shape))


def ordered_sum(terms: Array) -> Array:
    """``sum_k terms[k]`` over the leading axis, ``k`` ascending."""

    def step(k: Array, acc: Array) -> Array:
        return acc + terms[k]

    return _positive_zero(_loop(terms.shape[0], step, terms.shape[1:]))


def _loop(n: int, step, shape: tuple[int, ...]) -> Array:
    # fori_loop, not scan: on XLA:CPU an unrolled scan over sliced inputs ran ~6x slower (measured).
    return jax.lax.fori_loop(0, n, step, jnp.zeros(shape, jnp.float32), unroll=max(1, min(n, UNROLL)))


# --- dense ---------------------------------------------------------------------------------------------


def dense_forward(x: Array, w: Array, b: Array) -> Array:
    """Contract 1 without the activation: ``x[b, I] @ w[I, O] + b``."""
    acc = ordered_dot(jnp.transpose(x)[:, :, None], w)
    return acc + b


def dense_input_error(e: Array, w: Array) -> Array:
    """Contract 3: ``e[b, O] @ w.T``, summed over ``o`` ascending."""
    return ordered_dot(jnp.transpose(e)[:, :, None], jnp.transpose(w)[:, None, :])


# --- convolution geometry ------------------------------------------------------------------------------


def conv_geometry(layer: Conv, in_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...],
                                                                      tuple[tuple[int, int], ...]]:
    """``(strides, out_spatial, pads)`` of ``layer`` on an input ``in_shape`` (no batch axis), as XLA."""
    strides = tuple(layer.strides or (1,) * (len(in_shape) - 1))
    out, pads = output_and_pads(in_shape[:-1], tuple(layer.kernel), strides, layer.padding)
    return strides, out, pads


def conv_patches(layer: Conv, in_shape: tuple[int, ...], x: Array) -> Array:
    """im2col: ``x[b, *spatial, C]`` -> ``[offsets, b, *out, C]``, offsets row-major, padding = +0."""
    strides = conv_geometry(layer, in_shape)[0]
    return jnp.stack([window for _, window in tap_windows(x, tuple(layer.kernel), strides, layer.padding)])


def conv_forward(layer: Conv, in_shape: tuple[int, ...], x: Array, w: Array, b: Array) -> Array:
    """Contract 2 without the activation."""
    patches = conv_patches(layer, in_shape, x)
    offsets, channels = patches.shape[0], patches.shape[-1]
    if layer.depthwise:
        return ordered_dot(patches, w.reshape(offsets, channels)) + b
    # Flattened index K = offset * C + ci, the row-major order of the (k..., ci) weight axes.
    columns = jnp.moveaxis(patches, -1, 1).reshape((offsets * channels,) + patches.shape[1:-1] + (1,))
    return ordered_dot(columns, w.reshape(offsets * channels, -1)) + b


def conv_weight_grad(layer: Conv, in_shape: tuple[int, ...], x: Array, e: Array) -> Array:
    """Contract 4: per-sample ``g[b, k..., ci, o]`` summed over output positions row-major."""
    patches = conv_patches(layer, in_shape, x)
    offsets, batch, channels = patches.shape[0], patches.shape[1], patches.shape[-1]
    positions = math.prod(patches.shape[2:-1])
    # [offsets, b, *out, C] -> [P, b, offsets, C]
    by_position = jnp.moveaxis(patches.reshape(offsets, batch, positions, channels), 2, 0).transpose(0, 2, 1, 3)
    e_rows = jnp.moveaxis(e.reshape(batch, positions, e.shape[-1]), 1, 0)  # [P, b, O]
    if layer.depthwise:
        g = ordered_dot(by_position, e_rows[:, :, None, :])
        return g.reshape((batch,) + tuple(layer.kernel) + (1, channels))
    g = ordered_dot(by_position[..., None], e_rows[:, :, None, None, :])
    return g.reshape((batch,) + tuple(layer.kernel) + (channels, e.shape[-1]))


def _offset_contributions(layer: Conv, e: Array, w: Array) -> Array:
    """``s[offset, b, *out, ci]`` of contract 5."""
    spatial = e.ndim - 2
    offsets = math.prod(layer.kernel)
    if layer.depthwise:
        w_rows = w.reshape((offsets,) + (1,) * (spatial + 1) + (w.shape[-1],))
        return strict(e[None] * w_rows)
    channels_in, channels_out = w.shape[-2], w.shape[-1]
    e_rows = jnp.moveaxis(e, -1, 0)[:, None, ..., None]  # [O, 1, b, *out, 1]
    w_rows = jnp.transpose(w.reshape(offsets, channels_in, channels_out), (2, 0, 1))  # [O, offsets, ci]
    w_rows = w_rows.reshape((channels_out, offsets) + (1,) * (spatial + 1) + (channels_in,))
    return ordered_dot(e_rows, w_rows)


def conv_input_error(layer: Conv, in_shape: tuple[int, ...], e: Array, w: Array) -> Array:
    """Contract 5: ``dx[b, *in_shape]``, offsets added in row-major order."""
    strides, out, pads = conv_geometry(layer, in_shape)
    contributions = _offset_contributions(layer, e, w)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_shape[:-1], pads))
    dx = jnp.zeros((e.shape[0],) + padded + (in_shape[-1],), jnp.float32)
    for j, offset in enumerate(kernel_taps(tuple(layer.kernel))):
        # Place s at q = offset + stride * p; every other position receives +0 (no effect, see above).
        config = [(0, 0, 0)]
        for o, s, n, size in zip(offset, strides, out, padded):
            config.append((o, size - (o + s * (n - 1) + 1), s - 1))
        dx = dx + jax.lax.pad(contributions[j], jnp.float32(0.0), config + [(0, 0, 0)])
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, in_shape[:-1]))
    return _positive_zero(dx[(slice(None),) + crop + (slice(None),)])


# --- spatial sums and pooling --------------------------------------------------------------------------


def spatial_sum(v: Array) -> Array:
    """Contract 6: ``v[b, *spatial, C]`` -> ``[b, C]``, positions row-major."""
    rows = v.reshape(v.shape[0], -1, v.shape[-1])
    return ordered_sum(jnp.moveaxis(rows, 1, 0))


def window_mean(windows: Array) -> Array:
    """Contract 7: ``windows[..., W, C]`` -> ``[..., C]``, the window summed in order, times ``1/W``."""
    count = windows.shape[-2]
    inv_count = np.float32(1.0) / np.float32(count)
    return strict(ordered_sum(jnp.moveaxis(windows, -2, 0)) * inv_count)


def global_mean(x: Array) -> Array:
    """Contract 7 for global average pooling: ``x[b, *spatial, C]`` -> ``[b, C]``."""
    return window_mean(x.reshape(x.shape[0], -1, x.shape[-1]))
