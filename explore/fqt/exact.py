"""Exact int32 results of integer convolutions and matrix products, computed with float32 kernels.

XLA's CPU backend runs int32 convolutions ~10x slower than float32 ones (design.md, "Measured
facts").  Products of zero-point-shifted uint8 operands lie in [-255, 255]^2, so a float32
contraction is exact while ``terms * 255**2 < 2**24``: every partial sum, in any order, is then an
exactly representable integer.  Beyond that, operands are split into base-16 digits.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from explore.errors import BadInput

Bilinear = Callable[[jax.Array, jax.Array], jax.Array]

_EXACT_LIMIT = 2**24
_MAX_CENTRED = 255
#: Largest number of accumulated terms this module can contract exactly.
MAX_TERMS = _EXACT_LIMIT // 256


def _digits(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``v = 16 * hi + lo`` with ``hi`` in [-16, 15] and ``lo`` in [0, 15]."""
    return jnp.right_shift(v, 4), jnp.bitwise_and(v, 15)


def exact_bilinear(fn: Bilinear, a: jax.Array, b: jax.Array, terms: int) -> jax.Array:
    """int32 value of the bilinear float32 ``fn(a, b)`` for int32 operands in [-255, 255].

    ``terms`` is the largest number of products summed into one output element.
    """
    if terms * _MAX_CENTRED * _MAX_CENTRED < _EXACT_LIMIT:
        return fn(a.astype(jnp.float32), b.astype(jnp.float32)).astype(jnp.int32)
    f32 = jnp.float32
    b_hi, b_lo = _digits(b)
    if terms * _MAX_CENTRED * 16 < _EXACT_LIMIT:
        af = a.astype(f32)
        hi = fn(af, b_hi.astype(f32)).astype(jnp.int32)
        lo = fn(af, b_lo.astype(f32)).astype(jnp.int32)
        return hi * 16 + lo
    if terms <= MAX_TERMS:
        a_hi, a_lo = _digits(a)
        part = lambda x, y: fn(x.astype(f32), y.astype(f32)).astype(jnp.int32)  # noqa: E731
        cross = part(a_hi, b_lo) + part(a_lo, b_hi)
        return part(a_hi, b_hi) * 256 + cross * 16 + part(a_lo, b_lo)
    raise BadInput(f"a layer accumulates {terms} terms per output; at most {MAX_TERMS} are supported")
