"""Per-layer forward and backward kernels, integer (uint8) and float32 (design.md, FQT 2-6, 10).

Float layers of a deployment plan pass ``ordered=True`` and sum in the fixed order of
:mod:`explore.fqt.ordered`, which the C runtime reproduces; plain float inference keeps XLA's kernels.

Errors travel backward as ``QError``: the zero-point-centred int32 values ``q - z`` of a per-sample
dynamically quantized tensor plus its per-sample scale.  Once centred, the zero point no longer
matters, so it is not carried.  Float layers pass plain float32 arrays.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt import ordered as ordered_f
from explore.fqt import quant
from explore.fqt.depthwise import depthwise_conv, depthwise_input_grad, depthwise_weight_grad
from explore.fqt.exact import exact_bilinear
from explore.model.spec import AvgPool, Conv, Dense, GlobalAvgPool, MaxPool

Array = jax.Array


class QError(NamedTuple):
    """A quantized error tensor: ``centred[b, ...]`` int32 in [-255, 255] and ``scale[b]`` float32."""

    centred: Array
    scale: Array


class Grad(NamedTuple):
    """One sample's gradient contributions of a trainable layer, as float32 ``[b, ...]`` arrays."""

    w: Array
    b: Array


# --- convolution plumbing --------------------------------------------------------------------------


def _dimension_numbers(spatial: int) -> tuple[str, str, str]:
    return ("NWC", "WIO", "NWC") if spatial == 1 else ("NHWC", "HWIO", "NHWC")


def conv_fn(layer: Conv, in_shape: tuple[int, ...]) -> Callable[[Array, Array], Array]:
    """The float32 convolution of ``layer`` as a bilinear function ``(x[b,...], w) -> y``."""
    spatial = len(in_shape) - 1
    strides = tuple(layer.strides or (1,) * spatial)
    if layer.depthwise:
        # Not XLA's grouped conv: ~200x slower on CPU.  Exact in the integer path all the same,
        # since every partial sum of centred uint8 products is an exact float32 integer.
        return lambda x, w: depthwise_conv(x, w, strides, layer.padding)
    numbers = _dimension_numbers(spatial)

    def apply(x: Array, w: Array) -> Array:
        return jax.lax.conv_general_dilated(x, w, strides, layer.padding.upper(), dimension_numbers=numbers)

    return apply


def conv_input_grad_fn(layer: Conv, in_shape: tuple[int, ...]) -> Callable[[Array, Array], Array]:
    """Eq. (1) for a conv: the transposed convolution, bilinear in ``(e, w)``."""
    if layer.depthwise:
        strides = tuple(layer.strides or (1,) * (len(in_shape) - 1))
        return lambda e, w: depthwise_input_grad(e, w, in_shape[:-1], strides, layer.padding)
    fn = conv_fn(layer, in_shape)

    def apply(e: Array, w: Array) -> Array:
        x0 = jnp.zeros((e.shape[0],) + in_shape, jnp.float32)
        _, vjp = jax.vjp(lambda x: fn(x, w), x0)
        return vjp(e)[0]

    return apply


def conv_weight_grad_fn(layer: Conv, in_shape: tuple[int, ...],
                        w_shape: tuple[int, ...]) -> Callable[[Array, Array], Array]:
    """Eq. (2) for a conv, one gradient per sample: bilinear in ``(x, e)``."""
    if layer.depthwise:
        strides = tuple(layer.strides or (1,) * (len(in_shape) - 1))
        return lambda x, e: depthwise_weight_grad(x, e, tuple(layer.kernel), strides, layer.padding)
    fn = conv_fn(layer, in_shape)

    def one(x: Array, e: Array) -> Array:
        _, vjp = jax.vjp(lambda w: fn(x[None], w), jnp.zeros(w_shape, jnp.float32))
        return vjp(e[None])[0]

    return jax.vmap(one)


def _spatial_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(1, ndim - 1))


# --- activation masks -------------------------------------------------------------------------------


def activation_range(activation: str, scale: float, zero: int) -> tuple[int, int]:
    """uint8 clamp range of a folded activation (ReLU / ReLU6 become the clamp, design 2)."""
    if activation == "none":
        return quant.QMIN, quant.QMAX
    high = quant.QMAX
    if activation == "relu6":
        six = int(np.asarray(quant.round_half_away(np.float32(6.0) * quant.reciprocal(scale))))
        high = min(quant.QMAX, zero + six)
    return max(zero, quant.QMIN), high


def gradient_window(activation: str, scale: float, zero: int) -> tuple[int, int]:
    """Open interval of output codes where the activation passes gradient.

    Saturation at 0/255 outside the activation is treated as identity (straight-through).
    """
    if activation == "none":
        return quant.QMIN - 1, quant.QMAX + 1
    low, high = activation_range(activation, scale, zero)
    if activation == "relu" or high == quant.QMAX:
        return low, quant.QMAX + 1
    return low, high


def mask_q(err: QError, q_y: Array, window: tuple[int, int] | Array) -> QError:
    """``window`` is static ints or a traced int32 pair (the simulator's, so that one compiled step
    serves every quantization); only a static window that passes every code is skipped."""
    low, high = window
    if isinstance(low, int) and isinstance(high, int) and low < quant.QMIN and high > quant.QMAX:
        return err
    passes = (q_y.astype(jnp.int32) > low) & (q_y.astype(jnp.int32) < high)
    return QError(jnp.where(passes, err.centred, 0), err.scale)


def activate_float(y: Array, activation: str) -> Array:
    # jax.nn's versions have zero derivative at the kinks, as the backward masks do; jnp.maximum
    # and jnp.clip would split it 0.5/0.5 where a pre-activation is exactly 0 (all-zero windows).
    if activation == "relu":
        return jax.nn.relu(y)
    if activation == "relu6":
        return jax.nn.relu6(y)
    return y


def mask_float(err: Array, y: Array, activation: str) -> Array:
    if activation == "relu":
        return jnp.where(y > 0, err, 0.0)
    if activation == "relu6":
        return jnp.where((y > 0) & (y < 6), err, 0.0)
    return err


# --- dynamic sparse updates (design 10) ----------------------------------------------------------------


def keep_top_channels(l1: Array, k: Array) -> Array:
    """Boolean ``[b, C]``: the ``k[b]`` channels with the largest l1 norm; ties go to the lower index."""
    channels = l1.shape[-1]
    larger = l1[:, None, :] > l1[:, :, None]
    index = jnp.arange(channels)
    tie_before = (l1[:, None, :] == l1[:, :, None]) & (index[None, None, :] < index[None, :, None])
    rank = jnp.sum(larger | tie_before, axis=-1)
    return rank < k[:, None]


def channels_to_keep(rate: Array, channels: int) -> Array:
    """Eq. (9): ``k = max(1, floor(r * N))`` per sample."""
    k = jnp.floor(rate * jnp.float32(channels)).astype(jnp.int32)
    return jnp.maximum(k, 1)


def _sparsify(values: Array, magnitude_l1: Array, rate: Array | None) -> tuple[Array, Array]:
    """Zero all but the top-k output channels; returns the values and the kept fraction ``[b]``."""
    channels = values.shape[-1]
    if rate is None:
        return values, jnp.ones(values.shape[0], jnp.float32)
    k = channels_to_keep(rate, channels)
    keep = keep_top_channels(magnitude_l1, k)
    keep = keep.reshape((values.shape[0],) + (1,) * (values.ndim - 2) + (channels,))
    return jnp.where(keep, values, 0), k.astype(jnp.float32) / jnp.float32(channels)


# --- parameterised layers -------------------------------------------------------------------------------


class ParamLayerQ(NamedTuple):
    """Static facts the integer kernels of one conv/dense layer need."""

    layer: Conv | Dense
    in_shape: tuple[int, ...]
    terms: int
    out_range: tuple[int, int]


def _bilinear_forward(info: ParamLayerQ) -> Callable[[Array, Array], Array]:
    if isinstance(info.layer, Dense):
        return lambda x, w: x @ w
    return conv_fn(info.layer, info.in_shape)


def param_forward_q(info: ParamLayerQ, p: dict, x_centred: Array, zero_y: Array) -> Array:
    """Integer conv/dense: int32 accumulation of centred operands, bias, requantization, clamp."""
    w = p["w_q"].astype(jnp.int32) - p["w_zero"]
    acc = exact_bilinear(_bilinear_forward(info), x_centred, w, info.terms) + p["b_q"]
    low, high = info.out_range
    return quant.requantize(acc, p["m0"], p["shift"], zero_y, low, high)


def _weight_grad_acc(info: ParamLayerQ, x: Array, e: Array, w_shape: tuple[int, ...]) -> Array:
    """Eq. (2), per sample, int32."""
    if isinstance(info.layer, Dense):
        return x[:, :, None] * e[:, None, :]
    positions = math.prod(e.shape[1:-1])
    return exact_bilinear(conv_weight_grad_fn(info.layer, info.in_shape, w_shape), x, e, positions)


def _input_grad_acc(info: ParamLayerQ, e: Array, w: Array) -> Array:
    """Eq. (1)/(4) before requantization, int32."""
    if isinstance(info.layer, Dense):
        return exact_bilinear(lambda a, b: a @ b.T, e, w, e.shape[-1])
    kernel_terms = math.prod(info.layer.kernel) * (1 if info.layer.depthwise else e.shape[-1])
    return exact_bilinear(conv_input_grad_fn(info.layer, info.in_shape), e, w, kernel_terms)


def param_backward_q(
    info: ParamLayerQ,
    p: dict,
    err: QError,
    x_centred: Array | None,
    x_scale: Array,
    rate: Array | None,
    need_input: bool,
) -> tuple[Grad | None, Array | None, QError | None]:
    """Backward of an integer conv/dense for the error ``err`` at its (masked) output.

    Returns the per-sample gradient contributions (if ``x_centred`` is given, i.e. the layer is
    trainable), the kept-channel fraction, and the dynamically quantized input error (if needed).
    """
    e = err.centred
    spatial = _spatial_axes(e.ndim)
    kept = None
    grad = None
    if x_centred is not None:
        l1 = jnp.sum(jnp.abs(e), axis=spatial) if spatial else jnp.abs(e)
        e, kept = _sparsify(e, l1, rate)
        w_shape = p["w_q"].shape
        acc_w = _weight_grad_acc(info, x_centred, e, w_shape)
        # Every product is rounded where it is formed: XLA reassociates chains of multiplications.
        factor = quant.strict(err.scale * x_scale)
        g_w = quant.strict(quant.per_sample(factor, acc_w.ndim) * acc_w.astype(jnp.float32))
        e_sum = jnp.sum(e, axis=spatial) if spatial else e
        g_b = quant.strict(err.scale[:, None] * e_sum.astype(jnp.float32))
        grad = Grad(g_w, g_b)
    upstream = None
    if need_input:
        w = p["w_q"].astype(jnp.int32) - p["w_zero"]
        acc = _input_grad_acc(info, e, w)
        q, qp = quant.dynamic_quantize_acc(acc, quant.strict(p["w_scale"] * err.scale))
        upstream = QError(quant.centred(q, qp.zero), qp.scale)
    return grad, kept, upstream


def param_forward_f(layer: Conv | Dense, in_shape: tuple[int, ...], p: dict, x: Array,
                    ordered: bool = False) -> Array:
    """Float32 conv/dense; ``ordered`` sums in the C runtime's order (:mod:`explore.fqt.ordered`)."""
    if ordered:
        if isinstance(layer, Dense):
            y = ordered_f.dense_forward(x, p["w"], p["b"])
        else:
            y = ordered_f.conv_forward(layer, in_shape, x, p["w"], p["b"])
    elif isinstance(layer, Dense):
        y = x @ p["w"] + p["b"]
    else:
        y = conv_fn(layer, in_shape)(x, p["w"]) + p["b"]
    return activate_float(y, layer.activation)


def _spatial_sum_f(v: Array, ordered: bool) -> Array:
    if v.ndim == 2:
        return v
    return ordered_f.spatial_sum(v) if ordered else jnp.sum(v, axis=_spatial_axes(v.ndim))


def _weight_grad_f(layer: Conv | Dense, in_shape: tuple[int, ...], w: Array, x: Array, e: Array,
                   ordered: bool) -> Array:
    if isinstance(layer, Dense):
        return x[:, :, None] * e[:, None, :]
    if ordered:
        return ordered_f.conv_weight_grad(layer, in_shape, x, e)
    return conv_weight_grad_fn(layer, in_shape, w.shape)(x, e)


def _input_grad_f(layer: Conv | Dense, in_shape: tuple[int, ...], w: Array, e: Array, ordered: bool) -> Array:
    if isinstance(layer, Dense):
        return ordered_f.dense_input_error(e, w) if ordered else e @ w.T
    if ordered:
        return ordered_f.conv_input_error(layer, in_shape, e, w)
    return conv_input_grad_fn(layer, in_shape)(e, w)


def param_backward_f(
    layer: Conv | Dense,
    in_shape: tuple[int, ...],
    p: dict,
    err: Array,
    x: Array | None,
    rate: Array | None,
    need_input: bool,
    ordered: bool = False,
) -> tuple[Grad | None, Array | None, Array | None]:
    """Float32 twin of :func:`param_backward_q` (same selection and gradient definitions).

    ``ordered`` sums in the C runtime's order (:mod:`explore.fqt.ordered`, contract 3-6).
    """
    e = err
    grad = kept = None
    if x is not None:
        e, kept = _sparsify(e, _spatial_sum_f(jnp.abs(e), ordered), rate)
        g_w = _weight_grad_f(layer, in_shape, p["w"], x, e, ordered)
        grad = Grad(g_w, _spatial_sum_f(e, ordered))
    upstream = _input_grad_f(layer, in_shape, p["w"], e, ordered) if need_input else None
    return grad, kept, upstream


# --- pooling ---------------------------------------------------------------------------------------------


def _windows(x: Array, window: tuple[int, ...]) -> Array:
    """``[b, *spatial, C]`` -> ``[b, *out_spatial, prod(window), C]`` (the 'valid' tail is dropped)."""
    b, channels = x.shape[0], x.shape[-1]
    out = tuple(n // w for n, w in zip(x.shape[1:-1], window))
    x = x[(slice(None),) + tuple(slice(0, o * w) for o, w in zip(out, window))]
    split = [b]
    for o, w in zip(out, window):
        split += [o, w]
    x = x.reshape(split + [channels])
    spatial = len(window)
    outer = [1 + 2 * i for i in range(spatial)]
    inner = [2 + 2 * i for i in range(spatial)]
    x = jnp.transpose(x, [0] + outer + inner + [1 + 2 * spatial])
    return x.reshape((b,) + out + (math.prod(window), channels))


def _unwindow(v: Array, window: tuple[int, ...], in_shape: tuple[int, ...]) -> Array:
    """Inverse of :func:`_windows`, zero-filling the dropped tail."""
    b, channels = v.shape[0], v.shape[-1]
    out = v.shape[1:-2]
    spatial = len(window)
    v = v.reshape((b,) + out + tuple(window) + (channels,))
    order = [0]
    for i in range(spatial):
        order += [1 + i, 1 + spatial + i]
    v = jnp.transpose(v, order + [1 + 2 * spatial])
    v = v.reshape((b,) + tuple(o * w for o, w in zip(out, window)) + (channels,))
    pad = [(0, 0)] + [(0, n - o * w) for n, o, w in zip(in_shape[:-1], out, window)] + [(0, 0)]
    return jnp.pad(v, pad)


def maxpool_forward(x: Array, window: tuple[int, ...]) -> tuple[Array, Array]:
    """Max pooling and the winning position in each window (first maximum in row-major order)."""
    w = _windows(x, window)
    return jnp.max(w, axis=-2), jnp.argmax(w, axis=-2)


def maxpool_backward(err: Array, argmax: Array, window: tuple[int, ...], in_shape: tuple[int, ...]) -> Array:
    """Route each window's error to its maximum; other positions get zero error."""
    onehot = jnp.arange(math.prod(window))[:, None] == argmax[..., None, :]
    routed = jnp.where(onehot, err[..., None, :], jnp.zeros((), err.dtype))
    return _unwindow(routed, window, in_shape)


def avgpool_forward_q(x: Array, window: tuple[int, ...]) -> Array:
    """TFLite's uint8 average: ``(sum + count/2) / count`` (sums are non-negative)."""
    count = math.prod(window)
    total = jnp.sum(_windows(x.astype(jnp.int32), window), axis=-2)
    return ((total + count // 2) // count).astype(jnp.uint8)


def gap_forward_q(x: Array) -> Array:
    count = math.prod(x.shape[1:-1])
    total = jnp.sum(x.astype(jnp.int32), axis=_spatial_axes(x.ndim))
    return ((total + count // 2) // count).astype(jnp.uint8)


def spread(err: Array, layer: AvgPool | GlobalAvgPool, in_shape: tuple[int, ...]) -> Array:
    """Each input position of an average gets the window's error (the 1/count goes into the scale)."""
    if isinstance(layer, GlobalAvgPool):
        return jnp.broadcast_to(err[:, *([None] * (len(in_shape) - 1)), :], (err.shape[0],) + in_shape)
    tiled = jnp.broadcast_to(err[..., None, :], err.shape[:-1] + (math.prod(layer.window), err.shape[-1]))
    return _unwindow(tiled, layer.window, in_shape)


def pool_count(layer: AvgPool | GlobalAvgPool, in_shape: tuple[int, ...]) -> int:
    return math.prod(in_shape[:-1]) if isinstance(layer, GlobalAvgPool) else math.prod(layer.window)


def pool_forward_f(layer: MaxPool | AvgPool | GlobalAvgPool, x: Array, ordered: bool = False) -> Array:
    """Float32 pooling; ``ordered`` averages in the C runtime's order (contract 7)."""
    if isinstance(layer, MaxPool):
        return maxpool_forward(x, layer.window)[0]
    if isinstance(layer, GlobalAvgPool):
        return ordered_f.global_mean(x) if ordered else jnp.mean(x, axis=_spatial_axes(x.ndim))
    windows = _windows(x, layer.window)
    return ordered_f.window_mean(windows) if ordered else jnp.mean(windows, axis=-2)


# --- residual add (TFLite's quantized ADD) ------------------------------------------------------------------

ADD_LEFT_SHIFT = 20


# One compiled program for the host-side preparation instead of one per jnp operation.
_quantize_multiplier = jax.jit(quant.quantize_multiplier)


def add_multipliers(s_a: np.float32, s_b: np.float32, s_y: np.float32) -> dict[str, np.ndarray]:
    """TFLite's ADD preparation, with every real multiplier computed in float32."""
    f32 = np.float32
    twice_max = f32(2.0) * max(f32(s_a), f32(s_b))
    ma, sa = _quantize_multiplier(f32(s_a) / twice_max)
    mb, sb = _quantize_multiplier(f32(s_b) / twice_max)
    mo, so = _quantize_multiplier(twice_max / (f32(2**ADD_LEFT_SHIFT) * f32(s_y)))
    return {k: np.asarray(v, np.int32) for k, v in
            dict(m_a=ma, shift_a=sa, m_b=mb, shift_b=sb, m_out=mo, shift_out=so).items()}


def add_forward_q(a: Array, b: Array, za: Array, zb: Array, zy: Array, mult: dict, out_range: tuple[int, int]) -> Array:
    mbqm = quant.multiply_by_quantized_multiplier
    xa = jnp.left_shift(a.astype(jnp.int32) - za, ADD_LEFT_SHIFT)
    xb = jnp.left_shift(b.astype(jnp.int32) - zb, ADD_LEFT_SHIFT)
    total = mbqm(xa, mult["m_a"], mult["shift_a"]) + mbqm(xb, mult["m_b"], mult["shift_b"])
    return quant.requantize(total, mult["m_out"], mult["shift_out"], zy, *out_range)
