"""Quantization arithmetic shared by the JAX simulator and the C runtime (design.md, FQT 1-2, 4, 9).

Every function here has a C twin that must give identical bits, so two rules hold throughout:

* A float product that feeds an addition goes through :func:`strict`.  XLA's CPU backend otherwise
  fuses ``a*b + c`` into one FMA, which a C build with ``-ffp-contract=off`` does not do.
* Division by a broadcast scalar is written as multiplication by its float32 reciprocal.  XLA
  rewrites ``x / d`` into ``x * (1/d)`` when ``d`` is loop-invariant, so we make that the contract
  instead of hoping it does not happen.  Element-wise divisions of equal-shaped arrays stay divisions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

QMIN = 0
QMAX = 255
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
#: ``x * INV_255`` is the contract's "divide a range by 255" (see module docstring).
INV_255 = np.float32(1.0) / np.float32(255.0)

Array = jnp.ndarray


class QParams(NamedTuple):
    """Scale and zero point of one per-tensor uint8 quantization."""

    scale: Array  # float32
    zero: Array  # int32 in [0, 255]


def strict(x: Array) -> Array:
    """Force ``x`` to be rounded to float32 before it is used, so XLA cannot fuse it into an FMA.

    One step up and one step back down returns finite non-zero ``x`` unchanged, but LLVM cannot
    see through it (zeros and infinities, which that would alter, pass around it).
    ``nextafter(x, x)`` alone is not enough: LLVM folds it away wherever it can prove ``x`` is not
    NaN, e.g. for an int-to-float conversion times a constant.
    """
    up = jnp.nextafter(x, jnp.float32(np.inf))
    back = jnp.nextafter(up, jnp.float32(-np.inf))
    return jnp.where((x == 0) | jnp.isinf(x), x, back)


def round_half_away(x: Array) -> Array:
    """Round to nearest, ties away from zero, exactly like C's ``roundf``.

    ``x`` is made :func:`strict` first: the rounding subtracts ``trunc(x)``, and a product feeding
    it would otherwise be fused into an FMA.
    """
    x = strict(jnp.asarray(x, jnp.float32))
    whole = jnp.trunc(x)
    frac = x - whole  # exact for every float32
    return whole + jnp.where(jnp.abs(frac) >= 0.5, jnp.sign(x), 0.0).astype(jnp.float32)


def reciprocal(d: Array) -> Array:
    """float32 ``1/d`` as a true division (see the module docstring)."""
    d = jnp.asarray(d, jnp.float32)
    return jnp.float32(1.0) / d


def choose_qparams(f_min: Array, f_max: Array, fallback_scale: Array | float = 1.0) -> QParams:
    """Scale and zero point for the range ``[f_min, f_max]``, widened to contain 0 (design 1, 9).

    A zero-width range keeps ``fallback_scale`` (design 9: "keep s when that is 0").
    """
    f_min = jnp.minimum(jnp.asarray(f_min, jnp.float32), 0.0)
    f_max = jnp.maximum(jnp.asarray(f_max, jnp.float32), 0.0)
    scale = (f_max - f_min) * INV_255
    scale = jnp.where(scale > 0, scale, jnp.asarray(fallback_scale, jnp.float32))
    zero = jnp.clip(round_half_away(-f_min * reciprocal(scale)), QMIN, QMAX).astype(jnp.int32)
    return QParams(scale.astype(jnp.float32), zero)


def quantize(x: Array, qp: QParams) -> Array:
    """``q = clamp(round(x / s) + z, 0, 255)`` as uint8; ``qp`` broadcasts against ``x``."""
    x = jnp.asarray(x, jnp.float32)
    q = round_half_away(x * reciprocal(qp.scale)) + jnp.asarray(qp.zero, jnp.float32)
    return jnp.clip(q, QMIN, QMAX).astype(jnp.uint8)


def dequantize(q: Array, qp: QParams) -> Array:
    """``(q - z) * s`` in float32, rounded before any consumer can fuse it (see :func:`strict`)."""
    centred = jnp.asarray(q, jnp.int32) - jnp.asarray(qp.zero, jnp.int32)
    return strict(centred.astype(jnp.float32) * jnp.asarray(qp.scale, jnp.float32))


def quantize_tensor(x: Array, fallback_scale: Array | float = 1.0) -> tuple[Array, QParams]:
    """Quantize a whole tensor with its own min/max range."""
    x = jnp.asarray(x, jnp.float32)
    qp = choose_qparams(jnp.min(x), jnp.max(x), fallback_scale)
    return quantize(x, qp), qp


# --- fixed-point multipliers (TFLite Micro / CMSIS-NN) -------------------------------------------


def quantize_multiplier(real_multiplier: Array) -> tuple[Array, Array]:
    """Split a float32 multiplier ``m`` into ``(M0, shift)`` with ``m = M0 * 2**(shift - 31)``.

    This is TFLite's ``QuantizeMultiplier`` applied to a float32 value: its 24-bit mantissa makes
    ``frac * 2**31`` an exact integer, so no rounding is involved and C's ``frexpf`` agrees.
    """
    m = jnp.asarray(real_multiplier, jnp.float32)
    frac, exponent = jnp.frexp(m)
    mantissa24 = (frac * jnp.float32(2**24)).astype(jnp.int32)
    m0 = mantissa24 * 128
    shift = exponent.astype(jnp.int32)
    underflow = (m <= 0) | (shift < -31)
    return jnp.where(underflow, 0, m0), jnp.where(underflow, 0, shift)


def _mul_u32_wide(a: Array, b: Array) -> tuple[Array, Array]:
    """64-bit product of two uint32 arrays as ``(hi, lo)`` uint32, via 16-bit limbs (no int64 in JAX)."""
    mask16 = jnp.uint32(0xFFFF)
    a0, a1 = a & mask16, a >> 16
    b0, b1 = b & mask16, b >> 16
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> 16) + (p01 & mask16) + (p10 & mask16)
    lo = ((mid & mask16) << 16) | (p00 & mask16)
    hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)
    return hi, lo


def saturating_rounding_doubling_high_mul(a: Array, b: Array) -> Array:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul``: ``trunc((a*b + nudge) / 2**31)`` in int32."""
    a = jnp.asarray(a, jnp.int32)
    b = jnp.asarray(b, jnp.int32)
    negative = (a < 0) != (b < 0)
    mag_a = jnp.where(a < 0, -a, a).astype(jnp.uint32)  # |INT32_MIN| wraps to 2**31 as uint32
    mag_b = jnp.where(b < 0, -b, b).astype(jnp.uint32)
    hi, lo = _mul_u32_wide(mag_a, mag_b)
    # Positive products round half up; negative ones truncate (|ab| + 2**30 - 1) toward zero.
    nudge = jnp.where(negative, jnp.uint32(2**30 - 1), jnp.uint32(2**30))
    lo2 = lo + nudge
    hi2 = hi + (lo2 < lo).astype(jnp.uint32)
    magnitude = (hi2 << 1) | (lo2 >> 31)
    result = jnp.where(negative, -magnitude.astype(jnp.int32), magnitude.astype(jnp.int32))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return jnp.where(overflow, jnp.int32(INT32_MAX), result)


def rounding_divide_by_pot(x: Array, exponent: Array) -> Array:
    """gemmlowp's ``RoundingDivideByPOT``: arithmetic shift right, rounding half away from zero."""
    x = jnp.asarray(x, jnp.int32)
    exponent = jnp.asarray(exponent, jnp.int32)
    mask = jnp.left_shift(jnp.int32(1), exponent) - 1
    remainder = x & mask
    threshold = jnp.right_shift(mask, 1) + (x < 0).astype(jnp.int32)
    return jnp.right_shift(x, exponent) + (remainder > threshold).astype(jnp.int32)


def multiply_by_quantized_multiplier(x: Array, m0: Array, shift: Array) -> Array:
    """TFLite Micro's ``MultiplyByQuantizedMultiplier``.

    The left shift saturates to the int32 range, where TFLite would overflow; results are
    identical wherever TFLite's are defined.
    """
    x = jnp.asarray(x, jnp.int32)
    shift = jnp.asarray(shift, jnp.int32)
    left = jnp.maximum(shift, 0)
    right = jnp.maximum(-shift, 0)
    limit = jnp.right_shift(jnp.int32(INT32_MAX), left)
    shifted = jnp.left_shift(jnp.clip(x, -limit - 1, limit), left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m0), right)


def requantize(acc: Array, m0: Array, shift: Array, zero: Array, qmin: Array, qmax: Array) -> Array:
    """int32 accumulator -> uint8: fixed-point multiply, add the output zero point, clamp."""
    y = multiply_by_quantized_multiplier(acc, m0, shift) + jnp.asarray(zero, jnp.int32)
    return jnp.clip(y, qmin, qmax).astype(jnp.uint8)


_BIAS_LIMIT = np.float32(2147483520.0)  # largest float32 below 2**31


def bias_and_multiplier(b_f: Array, w_scale: Array, x_scale: Array, y_scale: Array) -> tuple[Array, Array, Array]:
    """int32 bias (scale ``s_w * s_x``, zero point 0) and the requantization multiplier ``s_w s_x / s_y``."""
    acc_scale = strict(jnp.asarray(w_scale, jnp.float32) * jnp.asarray(x_scale, jnp.float32))
    b_q = jnp.clip(round_half_away(jnp.asarray(b_f, jnp.float32) * reciprocal(acc_scale)), -_BIAS_LIMIT, _BIAS_LIMIT)
    m0, shift = quantize_multiplier(acc_scale / jnp.asarray(y_scale, jnp.float32))
    return b_q.astype(jnp.int32), m0, shift


# --- dynamic error quantization (design 4, 5) -----------------------------------------------------


def _per_sample(v: Array, ndim: int) -> Array:
    """Reshape a per-sample vector ``[b]`` to broadcast against a ``[b, ...]`` tensor."""
    return jnp.reshape(v, v.shape + (1,) * (ndim - 1))


def dynamic_quantize_acc(acc: Array, acc_scale: Array) -> tuple[Array, QParams]:
    """Per-sample dynamic quantization of int32 accumulators ``acc[b, ...]`` with real scale ``acc_scale[b]``.

    Design 4: min/max of the accumulators (widened to contain 0) give the range ``R``; the
    requantization multiplier is ``255/R`` (independent of the accumulator scale), the zero point
    is ``-MBQM(acc_min)`` and the error scale ``acc_scale * (R * (1/255))``.  An all-zero tensor maps to
    ``q = z = 0`` with scale ``acc_scale``.
    """
    axes = tuple(range(1, acc.ndim))
    a_min = jnp.minimum(jnp.min(acc, axis=axes), 0)
    a_max = jnp.maximum(jnp.max(acc, axis=axes), 0)
    # a_min <= 0 <= a_max, so the span fits in uint32 even where it overflows int32.
    span = a_max.astype(jnp.uint32) - a_min.astype(jnp.uint32)
    empty = span == 0
    multiplier = jnp.float32(255.0) / jnp.where(empty, jnp.uint32(1), span).astype(jnp.float32)
    m0, shift = quantize_multiplier(multiplier)
    zero = jnp.clip(-multiply_by_quantized_multiplier(a_min, m0, shift), QMIN, QMAX)
    zero = jnp.where(empty, 0, zero)
    q = multiply_by_quantized_multiplier(acc, _per_sample(m0, acc.ndim), _per_sample(shift, acc.ndim))
    q = jnp.clip(q + _per_sample(zero, acc.ndim), QMIN, QMAX).astype(jnp.uint8)
    q = jnp.where(_per_sample(empty, acc.ndim), jnp.uint8(0), q)
    acc_scale = jnp.asarray(acc_scale, jnp.float32)
    # acc_scale * R / 255, as products: XLA rewrites acc_scale / (255 / R) algebraically.
    scale = jnp.where(empty, acc_scale, acc_scale * strict(span.astype(jnp.float32) * INV_255))
    return q, QParams(scale, zero.astype(jnp.int32))


def dynamic_quantize_float(x: Array) -> tuple[Array, QParams]:
    """Per-sample dynamic quantization of a float tensor ``x[b, ...]`` from its own range (design 5)."""
    axes = tuple(range(1, x.ndim))
    qp = choose_qparams(jnp.min(x, axis=axes), jnp.max(x, axis=axes), 1.0)
    q = quantize(x, QParams(_per_sample(qp.scale, x.ndim), _per_sample(qp.zero, x.ndim)))
    return q, qp


def centred(q: Array, zero: Array) -> Array:
    """``q - z`` as int32, with a per-sample zero point ``zero[b]`` broadcast over ``q[b, ...]``."""
    return jnp.asarray(q, jnp.int32) - _per_sample(jnp.asarray(zero, jnp.int32), q.ndim)


def per_sample(v: Array, ndim: int) -> Array:
    """Public alias of the per-sample broadcast helper used by the kernels."""
    return _per_sample(v, ndim)
