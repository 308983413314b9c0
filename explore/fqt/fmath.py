"""exp and log from +, -, * and / only, so that the C runtime reproduces the loss bit for bit.

XLA's and libm's ``exp``/``log`` differ in the last bits; the loss decides the sparse-update rate
(design 10), so both sides use these polynomials, with every product made :func:`strict`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt.quant import strict

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)  # 16 significant bits: k * _LN2_HI is exact
_LN2_LO = np.float32(1.4286068203094172e-06)
# ln 2 = _LN2_HI + _LN2_LO16 to ~1e-11, each with at most 16 significant bits, so that ``e * part``
# is exact for every float32 exponent ``e`` and fusing it into an FMA cannot change a bit.
_LN2_LO16 = np.float32(np.ldexp(np.round(np.ldexp(0.6931471805599453 - 0.693145751953125, 35)), -35))
_SQRT_HALF = np.float32(0.7071067811865476)
# Taylor coefficients 1/n! for n = 7..2, evaluated by Horner's rule.
_EXP_COEFFS = tuple(np.float32(1.0 / f) for f in (5040.0, 720.0, 120.0, 24.0, 6.0, 2.0))
# 1/(2n+1) for n = 6..1: log(1+f) = 2s + 2s * z * (1/3 + z/5 + ...), with s = f/(2+f), z = s*s.
_LOG_COEFFS = tuple(np.float32(1.0 / d) for d in (13.0, 11.0, 9.0, 7.0, 5.0, 3.0))


def exp_f32(x: jax.Array) -> jax.Array:
    """``e**x`` for float32 ``x``; 0 below -87 (no subnormal results), ``x`` must be <= 88."""
    x = jnp.asarray(x, jnp.float32)
    k = jnp.floor(strict(x * _LOG2E) + np.float32(0.5))
    k = jnp.clip(k, -126.0, 127.0)
    r = (x - strict(k * _LN2_HI)) - strict(k * _LN2_LO)
    p = jnp.full_like(r, _EXP_COEFFS[0])
    for c in _EXP_COEFFS[1:]:
        p = strict(p * r) + c
    p = strict(p * r) + np.float32(1.0)
    p = strict(p * r) + np.float32(1.0)
    two_k = jax.lax.bitcast_convert_type((k.astype(jnp.int32) + 127) << 23, jnp.float32)
    return jnp.where(x < -87.0, np.float32(0.0), p * two_k)


def log_f32(x: jax.Array) -> jax.Array:
    """Natural log for positive normal float32 ``x``."""
    x = jnp.asarray(x, jnp.float32)
    frac, exponent = jnp.frexp(x)
    low = frac < _SQRT_HALF
    frac = jnp.where(low, frac * np.float32(2.0), frac)
    e = (exponent - low.astype(exponent.dtype)).astype(jnp.float32)
    f = frac - np.float32(1.0)
    s = f / (f + np.float32(2.0))
    z = strict(s * s)
    r = jnp.full_like(z, _LOG_COEFFS[0])
    for c in _LOG_COEFFS[1:]:
        r = strict(r * z) + c
    r = strict(r * z)
    two_s = s * np.float32(2.0)
    return e * _LN2_HI + (e * _LN2_LO16 + (two_s + strict(two_s * r)))
