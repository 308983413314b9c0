"""exact_bilinear: float32 kernels give the exact integer contraction (design.md, "Measured facts")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt.exact import MAX_TERMS, exact_bilinear

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def matmul(x, y):
    return jnp.matmul(x, y)


def wrap_int32(v: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (what an int32 accumulator holds)."""
    return ((v.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int64)


def extreme_operands(k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows / columns of +-255 only: the worst case for float32 exactness (largest partial sums)."""
    a = np.stack([
        np.full(k, 255),
        np.full(k, -255),
        np.where(np.arange(k) % 2 == 0, 255, -255),
        rng.choice([-255, 255], k),
    ])
    b = np.stack([
        np.full(k, 255),
        np.full(k, -255),
        np.where(np.arange(k) % 2 == 0, -255, 255),
        rng.choice([-255, 255], k),
        np.where(np.arange(k) < k // 2, 255, -255),
    ], axis=1)
    return a.astype(np.int32), b.astype(np.int32)


# 258 is the last K for one float32 product (258 * 255**2 < 2**24), 4112 the last for two digit products,
# MAX_TERMS = 65536 the last for four.
KS = [10, 258, 259, 4000, 4112, 4113, 20000, 33025, MAX_TERMS]


def test_max_terms_value():
    assert MAX_TERMS == 65536


@pytest.mark.parametrize("k", KS)
def test_matmul_extremes(k):
    rng = np.random.default_rng(k)
    a, b = extreme_operands(k, rng)
    expected = a.astype(np.int64) @ b.astype(np.int64)
    got = np.asarray(jax.jit(lambda x, y: exact_bilinear(matmul, x, y, k))(a, b))
    assert got.dtype == np.int32
    fits = (expected >= INT32_MIN) & (expected <= INT32_MAX)
    # Every representable result is exact ...
    np.testing.assert_array_equal(got[fits], expected[fits])
    # ... and k * 255**2 > 2**31 - 1 only happens beyond 33025 terms (33025 * 65025 = 2147450625), where the
    # int32 result is the true sum modulo 2**32 (what an int32 accumulator in C wraps to).
    if k <= 33025:
        assert fits.all()
    else:
        assert not fits.all()
    np.testing.assert_array_equal(got.astype(np.int64), wrap_int32(expected))


@pytest.mark.parametrize("k", KS)
def test_matmul_random(k):
    rng = np.random.default_rng(1000 + k)
    a = rng.integers(-255, 256, (6, k)).astype(np.int32)
    b = rng.integers(-255, 256, (k, 7)).astype(np.int32)
    # skew a few rows/columns to one sign to get large sums
    a[0] = np.abs(a[0])
    b[:, 0] = np.abs(b[:, 0])
    a[1] = -np.abs(a[1])
    expected = a.astype(np.int64) @ b.astype(np.int64)
    assert np.all(np.abs(expected) <= INT32_MAX)
    got = np.asarray(exact_bilinear(matmul, jnp.asarray(a), jnp.asarray(b), k))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_matmul_values_needing_every_digit():
    # Operands around the digit boundaries of w = 16 * hi + lo: -256 < v < 256 hits hi = -16 and lo = 0/15.
    k = 5000
    vals = np.array([-255, -241, -240, -239, -17, -16, -15, -1, 0, 1, 15, 16, 17, 239, 240, 241, 255])
    rng = np.random.default_rng(3)
    a = rng.choice(vals, (5, k)).astype(np.int32)
    b = rng.choice(vals, (k, 5)).astype(np.int32)
    got = np.asarray(exact_bilinear(matmul, jnp.asarray(a), jnp.asarray(b), k))
    np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64))


def test_plain_float32_is_not_exact_beyond_the_limit():
    # Sanity check that the test above is sensitive: a single float32 matmul with K = 4113 at the extremes
    # loses integer precision somewhere (partial sums reach 4113 * 65025 > 2**24).
    k = 4113
    a = np.full((1, k), 255, np.float32)
    b = np.full((k, 1), 255, np.float32)
    b[::7] = 254
    exact = a.astype(np.int64) @ b.astype(np.int64)
    naive = np.asarray(jnp.matmul(a, b)).astype(np.int64)
    assert not np.array_equal(naive, exact)
    got = np.asarray(exact_bilinear(matmul, jnp.asarray(a.astype(np.int32)), jnp.asarray(b.astype(np.int32)), k))
    np.testing.assert_array_equal(got, exact)


def test_too_many_terms_raises():
    a = jnp.zeros((1, 4), jnp.int32)
    b = jnp.zeros((4, 1), jnp.int32)
    with pytest.raises(ValueError, match=str(MAX_TERMS + 1)):
        exact_bilinear(matmul, a, b, MAX_TERMS + 1)
    with pytest.raises(ValueError, match="100000"):
        exact_bilinear(matmul, a, b, 100_000)
    # the limit itself is accepted
    assert int(exact_bilinear(matmul, a, b, MAX_TERMS)[0, 0]) == 0


# --- convolution ----------------------------------------------------------------------------------------


def conv_nhwc(x, w, strides, padding):
    return jax.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_reference(x: np.ndarray, w: np.ndarray, strides, padding) -> np.ndarray:
    """Direct int64 loop: out[n, i, j, o] = sum_{di, dj, c} xpad[n, i*sh + di, j*sw + dj, c] * w[di, dj, c, o]."""
    x = x.astype(np.int64)
    w = w.astype(np.int64)
    kh, kw, cin, cout = w.shape
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, hp, wp, _ = xp.shape
    sh, sw = strides
    oh = (hp - kh) // sh + 1
    ow = (wp - kw) // sw + 1
    out = np.zeros((n, oh, ow, cout), np.int64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(cout, np.int64)
                for di in range(kh):
                    for dj in range(kw):
                        for c in range(cin):
                            acc += xp[b, i * sh + di, j * sw + dj, c] * w[di, dj, c]
                out[b, i, j] = acc
    return out


@pytest.mark.parametrize(
    "shape_x, shape_w, strides, padding, extreme",
    [
        ((2, 5, 5, 3), (3, 3, 3, 4), (1, 1), ((1, 1), (1, 1)), False),  # 27 terms
        ((1, 6, 5, 32), (3, 3, 32, 3), (1, 1), ((0, 0), (0, 0)), True),  # 288 terms: two digit convs
        ((1, 6, 6, 29), (3, 3, 29, 2), (2, 1), ((1, 1), (0, 1)), False),  # 261 terms, strided + asymmetric pad
        ((1, 4, 4, 200), (5, 5, 200, 2), (1, 1), ((2, 2), (2, 2)), True),  # 5000 terms: four digit convs
        ((1, 3, 3, 1800), (3, 3, 1800, 2), (1, 1), ((1, 1), (1, 1)), False),  # 16200 terms
    ],
)
def test_conv_matches_direct_loop(shape_x, shape_w, strides, padding, extreme):
    rng = np.random.default_rng(sum(shape_w))
    if extreme:
        x = np.full(shape_x, 255)
        w = rng.choice([-255, 255], shape_w)
        w[..., 0] = 255  # output channel 0: every product is 255 * 255, the largest partial sums possible
        w[..., -1] = -255
    else:
        x = rng.integers(-255, 256, shape_x)
        w = rng.integers(-255, 256, shape_w)
    x = x.astype(np.int32)
    w = w.astype(np.int32)
    kh, kw, cin, _ = shape_w
    terms = kh * kw * cin
    expected = conv_reference(x, w, strides, padding)
    got = np.asarray(exact_bilinear(lambda a, b: conv_nhwc(a, b, strides, padding), jnp.asarray(x), jnp.asarray(w), terms))
    assert got.dtype == np.int32
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
