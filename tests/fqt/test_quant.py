"""Quantization arithmetic (design.md, "FQT arithmetic" 1, 2, 4, 5, 9, 13) against hand-worked values
and independent pure-Python / numpy references of C's roundf and TFLite Micro's fixed-point helpers."""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt.quant import (INT32_MAX, INT32_MIN, QParams, choose_qparams, dequantize, dynamic_quantize_acc,
                               dynamic_quantize_float, multiply_by_quantized_multiplier, quantize,
                               quantize_multiplier, requantize, round_half_away, rounding_divide_by_pot,
                               saturating_rounding_doubling_high_mul, strict)

F32 = np.float32


# --- pure-Python references (TFLite / gemmlowp, written from their C++ sources) ------------------------


def c_div(n: int, d: int) -> int:
    """C's integer division: truncation toward zero."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def srdhm_ref(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul with 64-bit (here: unbounded) intermediates."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    return c_div(ab + nudge, 1 << 31)


def rdbp_ref(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT (Python's >> and & on negative ints are two's complement)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def round_away_fraction(v: Fraction) -> int:
    """Exact round-half-away-from-zero of a rational."""
    mag = abs(v)
    r = int(mag + Fraction(1, 2))  # floor(|v| + 1/2)
    return r if v >= 0 else -r


def quantize_multiplier_ref(m: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier (double-rounding build) for a real multiplier m >= 0."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    scaled = Fraction(q) * 2**31
    q_fixed = round_away_fraction(scaled)  # TfLiteRound == std::round
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def mbqm_ref(x: int, m0: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (only defined where x << left_shift fits int32)."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    shifted = x * (1 << left)
    assert INT32_MIN <= shifted <= INT32_MAX, "outside TFLite's defined domain"
    return rdbp_ref(srdhm_ref(shifted, m0), right)


def ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).ravel()]


# --- round_half_away ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, expected",
    [
        (0.5, 1.0),  # tie -> away from zero (roundf), not to even
        (-0.5, -1.0),
        (1.5, 2.0),
        (-1.5, -2.0),
        (2.5, 3.0),  # banker's rounding would give 2
        (-2.5, -3.0),
        (0.49999997, 0.0),  # largest float32 below 0.5; floor(x + 0.5) would wrongly give 1
        (-0.49999997, 0.0),
        (8388607.5, 8388608.0),  # 2**23 - 0.5, the last float32 with a fractional half
        (-8388607.5, -8388608.0),
        (1e9, 1e9),  # already integral
        (-1e9, -1e9),
        (0.0, 0.0),
        (2.4999998, 2.0),
        (-2.5000002, -3.0),
    ],
)
def test_round_half_away_edges(x, expected):
    xf = F32(x)
    assert xf != F32(0.5) or x == 0.5  # 0.49999997 must stay below one half in float32
    got = np.asarray(round_half_away(jnp.float32(xf)))
    assert got.dtype == np.float32
    assert float(got) == expected


def test_round_half_away_nearest_float_below_half_is_that_literal():
    # Guard the edge case above: 0.49999997 really is nextafter(0.5, 0) in float32.
    assert F32(0.49999997) == np.nextafter(F32(0.5), F32(0.0))


def test_round_half_away_sweep_matches_float64_reference():
    rng = np.random.default_rng(0)
    parts = [
        rng.uniform(-300.0, 300.0, 100_000),
        rng.integers(-2000, 2000, 50_000) + 0.5,  # exact ties
        rng.uniform(-1.0, 1.0, 50_000),
        rng.uniform(-2.0**24, 2.0**24, 50_000),
    ]
    x = np.concatenate(parts).astype(np.float32)
    x64 = x.astype(np.float64)  # exact; |x| + 0.5 is then exact in float64 too
    expected = np.sign(x64) * np.floor(np.abs(x64) + 0.5)
    got = np.asarray(round_half_away(x)).astype(np.float64)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, (x[mismatch[:5]], got[mismatch[:5]], expected[mismatch[:5]])


def test_round_half_away_under_jit_is_the_same():
    x = np.concatenate([np.arange(-10, 10, 0.25), [0.49999997, -0.49999997, 8388607.5]]).astype(np.float32)
    eager = np.asarray(round_half_away(x))
    jitted = np.asarray(jax.jit(round_half_away)(x))
    np.testing.assert_array_equal(eager, jitted)
    np.testing.assert_array_equal(eager, np.sign(x) * np.floor(np.abs(x.astype(np.float64)) + 0.5))


def test_round_half_away_of_a_product_under_jit_rounds_the_float32_product():
    # round(x * r) must round the float32 product (as C does with -ffp-contract=off), not the exact one an
    # FMA would see in x*r - trunc(x*r).  Products built to land within an ulp of a tie make this sensitive.
    rng = np.random.default_rng(16)
    a = rng.uniform(0.5, 3.0, 100_000).astype(np.float32)
    k = rng.integers(-200, 200, a.size) + 0.5
    b = (k / a.astype(np.float64)).astype(np.float32)
    prod = a * b  # float32, one rounding
    expected = np.sign(prod) * np.floor(np.abs(prod.astype(np.float64)) + 0.5)
    exact = a.astype(np.float64) * b.astype(np.float64)
    exact_rounded = np.sign(exact) * np.floor(np.abs(exact) + 0.5)
    assert np.count_nonzero(exact_rounded != expected) > 100  # the check is sensitive
    got = np.asarray(jax.jit(lambda a, b: round_half_away(a * b))(a, b))
    np.testing.assert_array_equal(got, expected)


# --- choose_qparams / quantize / dequantize ------------------------------------------------------------


def test_range_widened_to_contain_zero():
    pos = choose_qparams(0.5, 2.0)
    assert int(pos.zero) == 0
    # Range becomes [0, 2]: s = 2 * float32(1/255).
    assert float(pos.scale) == F32(2.0) * (F32(1.0) / F32(255.0))
    neg = choose_qparams(-2.0, -0.5)
    assert int(neg.zero) == 255  # range [-2, 0]: 2 / (2/255) = 255 (give or take one float ulp) -> 255
    assert float(neg.scale) == F32(2.0) * (F32(1.0) / F32(255.0))
    # The top of the negative-only range is 0, representable exactly at q = 255.
    assert int(quantize(0.0, neg)) == 255


def test_hand_worked_range_minus1_to_3():
    # Range [-1, 3]: span 4.  The contract divides by 255 as a multiplication by float32(1/255):
    inv255 = F32(1.0) / F32(255.0)
    s = F32(4.0) * inv255  # exact: multiplying by a power of two
    assert s == F32(4.0 / 255.0)  # float32(1/255) * 4 is also the correctly rounded 4/255
    # s = float32(4/255) = 8421505 / 2**29, a hair above 4/255 (= 8421504.0157 / 2**29), so the float32
    # reciprocal the contract multiplies by is 63.75 - 2**-18 = 63.749996, not 63.75:
    r = F32(1.0) / s
    assert Fraction(float(s)) == Fraction(8421505, 2**29)
    assert Fraction(float(r)) == Fraction(255, 4) - Fraction(1, 2**18)
    # zero = round(-f_min * r) = round(63.749996) = 64
    qp = choose_qparams(-1.0, 3.0)
    assert float(qp.scale) == s
    assert int(qp.zero) == 64
    # q = clamp(round(x * r) + 64):
    #   x = -1  : round(-63.749996) = -64 -> 0
    #   x =  0  : 0                       -> 64
    #   x =  0.5: round(31.874998) = 32   -> 96
    #   x =  1  : round(63.749996) = 64   -> 128
    #   x =  3  : round(191.24998) = 191  -> 255
    #   x = -0.4: -0.4 / (4/255) is exactly -25.5, a tie that would round to -26; but float32(-0.4) * r
    #             = -25.499998 (both factors sit just below their real values), so round -> -25 -> 39.
    assert F32(-0.4) * r == F32(-25.499998)
    xs = np.float32([-1.0, 0.0, 0.5, 1.0, 3.0, -0.4])
    q = np.asarray(quantize(xs, qp))
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 64, 96, 128, 255, 39]
    # dequantize: (q - 64) * s
    d = np.asarray(dequantize(q, qp))
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d, np.float32([-64, 0, 32, 64, 191, -25]) * s)
    assert d[1] == 0.0
    # 64 * 4/255 = 1.00392..., the representable neighbour of 1.0
    assert abs(float(d[3]) - 256.0 / 255.0) < 1e-6


@pytest.mark.parametrize("lo, hi", [(-1.0, 3.0), (-0.013, 0.7), (-5e-4, 2e-5), (-100.0, 1.0), (0.0, 6.0),
                                    (-6.0, 0.0), (-1e-20, 1e-20), (-3e6, 7e6)])
def test_zero_is_exact(lo, hi):
    qp = choose_qparams(lo, hi)
    z = int(qp.zero)
    assert 0 <= z <= 255
    assert int(quantize(0.0, qp)) == z
    assert float(dequantize(jnp.uint8(z), qp)) == 0.0
    assert float(dequantize(quantize(0.0, qp), qp)) == 0.0
    assert float(qp.scale) > 0


def test_saturation_no_wrap():
    qp = choose_qparams(-1.0, 3.0)
    xs = np.float32([-1.1, -5.0, -1e30, -np.inf, 3.1, 4.0, 1e30, np.inf, 1e6, -1e6])
    q = np.asarray(quantize(xs, qp))
    assert q.tolist() == [0, 0, 0, 0, 255, 255, 255, 255, 255, 0]


def test_zero_width_range_uses_fallback_scale():
    qp = choose_qparams(0.0, 0.0, fallback_scale=0.037)
    assert float(qp.scale) == F32(0.037)
    assert int(qp.zero) == 0
    default = choose_qparams(0.0, 0.0)
    assert float(default.scale) == 1.0 and int(default.zero) == 0
    assert int(quantize(0.0, qp)) == 0
    # A fallback scale still quantizes non-zero values sensibly: 0.074 / 0.037 = 2.
    assert int(quantize(0.074, qp)) == 2
    # A non-degenerate range ignores the fallback.
    assert float(choose_qparams(-1.0, 3.0, fallback_scale=0.037).scale) != F32(0.037)


def test_scale_follows_contract_formula():
    # design 9: s = (f_max - f_min) / 255, with "/255" written as "* float32(1/255)" (quant.py docstring).
    rng = np.random.default_rng(1)
    lo = -rng.uniform(0, 10, 200).astype(np.float32)
    hi = rng.uniform(0, 10, 200).astype(np.float32)
    qp = choose_qparams(lo, hi)
    expected = (hi - lo) * (F32(1.0) / F32(255.0))
    np.testing.assert_array_equal(np.asarray(qp.scale), expected)
    # and that is within one float32 rounding of the real (f_max - f_min) / 255
    rel = np.abs(expected.astype(np.float64) - (hi.astype(np.float64) - lo) / 255.0) / ((hi.astype(np.float64) - lo) / 255.0)
    assert rel.max() < 3e-7
    # zero = round(-f_min / s), clamped, independently in float64:
    z_real = -lo.astype(np.float64) / expected.astype(np.float64)
    z = np.asarray(qp.zero)
    assert np.all(np.abs(z - z_real) <= 0.5 + 1e-4)
    assert np.all((z >= 0) & (z <= 255))


@pytest.mark.parametrize("lo, hi", [(-1.0, 3.0), (-0.25, 0.01), (0.0, 1.0), (-7.5, 0.0), (-1234.5, 17.0), (-3e-3, 2e-3)])
def test_round_trip_error_at_most_half_step(lo, hi):
    qp = choose_qparams(lo, hi)
    s = float(qp.scale)
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(lo, hi, 20_000), [lo, hi, 0.0]]).astype(np.float32)
    d = np.asarray(dequantize(quantize(x, qp), qp)).astype(np.float64)
    err = np.abs(d - x.astype(np.float64))
    # Half a step, plus float32 rounding of x * (1/s) and of (q - z) * s (each ~255 * 2**-24 steps).
    assert err.max() <= s * (0.5 + 1e-4), (err.max() / s)


def test_choose_qparams_quantize_match_float32_model_eager_and_jit():
    """The C twin computes these in float32 without contraction; model it with numpy float32 ops."""
    rng = np.random.default_rng(13)
    n = 3000
    lo = (-np.exp(rng.uniform(-20, 10, n)) * (rng.random(n) < 0.9)).astype(np.float32)
    hi = (np.exp(rng.uniform(-20, 10, n)) * (rng.random(n) < 0.9)).astype(np.float32)
    hi[:50] = lo[:50] = 0.0
    x = (lo[:, None] + (hi - lo)[:, None] * rng.random((n, 16))).astype(np.float32)
    with np.errstate(divide="ignore"):
        s = (hi - lo) * (F32(1.0) / F32(255.0))
        s = np.where(s > 0, s, F32(1.0)).astype(np.float32)
        r = (F32(1.0) / s).astype(np.float32)
    rnd = lambda v: (np.sign(v) * np.floor(np.abs(v.astype(np.float64)) + 0.5))  # noqa: E731  (roundf)
    z = np.clip(rnd(-lo * r), 0, 255).astype(np.int64)
    q = np.clip(rnd(x * r[:, None]) + z[:, None], 0, 255).astype(np.int64)
    d = ((q - z[:, None]).astype(np.float32) * s[:, None]).astype(np.float32)

    def f(lo, hi, x):
        qp = choose_qparams(lo, hi)
        qp_b = QParams(qp.scale[:, None], qp.zero[:, None])
        qx = quantize(x, qp_b)
        return qp.scale, qp.zero, qx, dequantize(qx, qp_b)

    for fn in (f, jax.jit(f)):
        got_s, got_z, got_q, got_d = (np.asarray(v) for v in fn(lo, hi, x))
        np.testing.assert_array_equal(got_s.view(np.uint32), s.view(np.uint32))
        np.testing.assert_array_equal(got_z, z)
        np.testing.assert_array_equal(got_q, q)
        np.testing.assert_array_equal(got_d.view(np.uint32), d.view(np.uint32))


def test_quantize_broadcasts_per_sample_params():
    qp = QParams(jnp.float32([[1.0], [0.5]]), jnp.int32([[10], [200]]))
    q = np.asarray(quantize(np.float32([[1.0, -3.0], [1.0, -3.0]]), qp))
    assert q.tolist() == [[11, 7], [202, 194]]


# --- quantize_multiplier ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "m, m0, shift",
    [
        (0.5, 1 << 30, 0),  # frexp(0.5) = (0.5, 0);  0.5 * 2**31 = 2**30
        (0.25, 1 << 30, -1),  # frexp(0.25) = (0.5, -1)
        (1.0, 1 << 30, 1),  # frexp(1) = (0.5, 1)
        (0.75, 3 << 29, 0),  # frexp(0.75) = (0.75, 0); 0.75 * 2**31 = 3 * 2**29
        (3.0, 3 << 29, 2),  # 3 = 0.75 * 2**2
        (100.0, 1677721600, 7),  # 100 = 0.78125 * 2**7; 0.78125 * 2**31 = 25 * 2**26 = 1677721600
        (0.1, 1717986944, -3),  # float32(0.1) = 13421773 * 2**-27 = (13421773/2**24) * 2**-3;
        #                           M0 = 13421773 * 2**7 = 1717986944 (TFLite on double 0.1 would give 1717986918)
        (2.0**-32, 1 << 30, -31),  # 0.5 * 2**-31: shift -31 is still allowed
        (2.0**-33, 0, 0),  # shift -32 < -31 -> (0, 0)
        (1e-12, 0, 0),
        (0.0, 0, 0),
        (1e-40, 0, 0),  # float32 subnormal
    ],
)
def test_quantize_multiplier_hand_values(m, m0, shift):
    got_m0, got_shift = quantize_multiplier(jnp.float32(m))
    assert (int(got_m0), int(got_shift)) == (m0, shift)
    # The same through the reference implementation of TFLite's QuantizeMultiplier on float(float32(m)).
    assert quantize_multiplier_ref(float(F32(m))) == (m0, shift)


def test_quantize_multiplier_largest_mantissa():
    # nextafter(1, 0) = 1 - 2**-24 = (1 - 2**-24) * 2**0; M0 = (2**24 - 1) * 2**7 = 2**31 - 128, no carry.
    m = np.nextafter(F32(1.0), F32(0.0))
    m0, shift = quantize_multiplier(jnp.float32(m))
    assert (int(m0), int(shift)) == (2**31 - 128, 0)


def test_quantize_multiplier_exact_property():
    rng = np.random.default_rng(3)
    m = np.exp(rng.uniform(np.log(1e-6), np.log(100.0), 20_000)).astype(np.float32)
    m = np.concatenate([m, np.float32([1e-6, 100.0, 1.0, 2.0**-20])])
    m0, shift = (np.asarray(v) for v in quantize_multiplier(m))
    for mi, a, s in zip(m.tolist(), m0.tolist(), shift.tolist()):
        assert 2**30 <= a < 2**31
        assert Fraction(a) * Fraction(2) ** (s - 31) == Fraction(mi)
    # spot-check against the TFLite reference
    for i in range(0, m.size, 997):
        assert quantize_multiplier_ref(float(m[i])) == (int(m0[i]), int(shift[i]))


def test_quantize_multiplier_under_jit():
    m = np.float32([0.5, 0.0123, 7.5, 1e-7, 0.0])
    a = [ints(v) for v in quantize_multiplier(m)]
    b = [ints(v) for v in jax.jit(quantize_multiplier)(m)]
    assert a == b


# --- saturating_rounding_doubling_high_mul -----------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (INT32_MIN, INT32_MIN, INT32_MAX),  # the only overflow: 2**62 / 2**31 = 2**31 does not fit
        (1, 1 << 30, 1),  # ab = 2**30; (2**30 + 2**30) / 2**31 = 1            (+0.5 -> 1)
        (-1, 1 << 30, 0),  # ab = -2**30; (-2**30 + 1 - 2**30) / 2**31 = -0.99.. -> 0   (-0.5 -> 0)
        (1 << 30, -1, 0),  # same product, other operand negative
        (3, 1 << 30, 2),  # ab = 1.5 * 2**31; (3*2**30 + 2**30) / 2**31 = 2     (+1.5 -> 2)
        (-3, 1 << 30, -1),  # (-3*2**30 + 1 - 2**30) / 2**31 = (1 - 2**32)/2**31 = -1.99.. -> -1  (-1.5 -> -1)
        (-3, (1 << 30) + 1, -2),  # ab = -(3*2**30 + 3): -1.5000000014 -> (-3*2**30 - 3 + 1 - 2**30)/2**31 -> -2
        (1, 1 << 29, 0),  # ab = 2**29 = 0.25 * 2**31; (2**29 + 2**30) / 2**31 = 0.75 -> 0
        (0, -5, 0),  # zero product with mixed signs
        (INT32_MAX, INT32_MAX, 2**31 - 2),  # (2**62 - 2**32 + 1 + 2**30) / 2**31 = 2**31 - 2 + 0.50.. -> 2**31 - 2
        (INT32_MIN, INT32_MAX, -(2**31 - 1)),  # -(2**62 - 2**31) + 1 - 2**30 -> -(2**31 - 1) - 0.49.. -> -(2**31-1)
        (INT32_MIN, 1, -1),  # (-2**31 + 1 - 2**30) / 2**31 = -1.49.. -> -1
        (INT32_MIN, -1, 1),  # (2**31 + 2**30) / 2**31 = 1.5 -> 1
        (1 << 30, 1 << 30, 1 << 29),  # 2**60 / 2**31 = 2**29 exactly; the nudge is below one unit
        (INT32_MIN, 1 << 30, -(1 << 30)),  # -2**61 / 2**31 = -2**30 exactly
        (123456789, 987654321, 56779306),  # 121932631112635269 = 56779306.7...*2**31 -> 56779306 + round
    ],
)
def test_srdhm_hand_values(a, b, expected):
    assert srdhm_ref(a, b) == expected  # the hand derivation agrees with the gemmlowp reference
    assert int(saturating_rounding_doubling_high_mul(jnp.int32(a), jnp.int32(b))) == expected
    assert int(saturating_rounding_doubling_high_mul(jnp.int32(b), jnp.int32(a))) == expected


def test_srdhm_random_sweep():
    rng = np.random.default_rng(4)
    n = 20_000
    a = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
    b = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
    # Also small operands, typical multipliers and the extremes.
    a[:2000] = rng.integers(-70_000, 70_000, 2000)
    b[:4000] = rng.integers(2**30, 2**31, 4000)
    edge = np.array([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX], dtype=np.int64)
    a = np.concatenate([a, np.repeat(edge, edge.size)])
    b = np.concatenate([b, np.tile(edge, edge.size)])
    got = ints(saturating_rounding_doubling_high_mul(a.astype(np.int32), b.astype(np.int32)))
    bad = [(x, y, g, srdhm_ref(x, y)) for x, y, g in zip(a.tolist(), b.tolist(), got) if g != srdhm_ref(x, y)]
    assert not bad, bad[:5]
    jit_got = ints(jax.jit(saturating_rounding_doubling_high_mul)(a.astype(np.int32), b.astype(np.int32)))
    assert jit_got == got


# --- rounding_divide_by_pot --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, e, expected",
    [
        # gemmlowp: mask = 2**e - 1; rem = x & mask; threshold = mask >> 1 (+1 if x < 0);
        #           result = (x >> e) + (rem > threshold)
        (5, 1, 3),  # 5 >> 1 = 2, rem 1 > thr 0 -> 3            (2.5 -> 3, away from zero)
        (-5, 1, -3),  # -5 >> 1 = -3, rem 1, thr 0+1 = 1 -> no  (-2.5 -> -3, away from zero)
        (4, 1, 2),  # exact
        (-4, 1, -2),  # exact
        (7, 2, 2),  # 7 >> 2 = 1, rem 3 > thr 1 -> 2             (1.75 -> 2)
        (-6, 2, -2),  # -6 >> 2 = -2, rem 2, thr 1+1 = 2 -> no   (-1.5 -> -2)
        (6, 2, 2),  # 6 >> 2 = 1, rem 2 > thr 1 -> 2              (1.5 -> 2)
        (-5, 2, -1),  # -5 >> 2 = -2, rem 3 > thr 2 -> -1        (-1.25 -> -1)
        (5, 2, 1),  # 5 >> 2 = 1, rem 1, thr 1 -> no              (1.25 -> 1)
        (-1, 1, -1),  # -1 >> 1 = -1, rem 1, thr 1 -> no         (-0.5 -> -1)
        (1, 1, 1),  # 0 + (1 > 0)                                 (0.5 -> 1)
        (-1, 2, 0),  # -1 >> 2 = -1, rem 3 > thr 2 -> 0          (-0.25 -> 0)
        (INT32_MAX, 31, 1),  # 0 + (2**31-1 > 2**30-1)            (0.99.. -> 1)
        (INT32_MIN, 31, -1),  # exact -1
        (-(2**30), 31, -1),  # -0.5 -> -1: -2**30 >> 31 = -1, rem 2**30, thr 2**30 -> no
        (2**30, 31, 1),  # 0.5 -> 1
        (12345, 0, 12345),
        (-12345, 0, -12345),
        (INT32_MIN, 0, INT32_MIN),
        (INT32_MAX, 0, INT32_MAX),
    ],
)
def test_rdbp_hand_values(x, e, expected):
    assert rdbp_ref(x, e) == expected
    assert round_away_fraction(Fraction(x, 2**e)) == expected  # gemmlowp's rule is "round half away"
    assert int(rounding_divide_by_pot(jnp.int32(x), jnp.int32(e))) == expected


def test_rdbp_random_sweep():
    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
    x[:5000] = rng.integers(-1000, 1000, 5000)
    e = rng.integers(0, 32, n)
    got = ints(rounding_divide_by_pot(x.astype(np.int32), e.astype(np.int32)))
    for xi, ei, g in zip(x.tolist(), e.tolist(), got):
        assert g == rdbp_ref(xi, ei) == round_away_fraction(Fraction(xi, 2**ei)), (xi, ei, g)


# --- multiply_by_quantized_multiplier / requantize ---------------------------------------------------


@pytest.mark.parametrize(
    "acc, m, expected",
    [
        (3, 0.5, 2),  # (2**30, 0): srdhm(3, 2**30) = 2 (1.5 rounds up), no right shift
        (-3, 0.5, -1),  # srdhm(-3, 2**30) = -1 (-1.5 rounds up in gemmlowp's high-mul)
        (3, 0.25, 1),  # (2**30, -1): srdhm = 2, rdbp(2, 1) = 1                (0.75 -> 1)
        (-3, 0.25, -1),  # srdhm = -1, rdbp(-1, 1) = -1                          (-0.75 -> -1)
        (2, 0.25, 1),  # srdhm(2, 2**30) = 1, rdbp(1, 1) = 1                    (0.5 -> 1)
        (-2, 0.25, -1),  # srdhm = -1, rdbp(-1, 1) = -1                          (-0.5 -> -1)
        (100, 3.0, 300),  # (3<<29, 2): 400 * 0.75 = 300 exactly
        (7, 1.5, 11),  # (3<<29, 1): 14 * 0.75 = 10.5 -> srdhm rounds half up to 11
        (-7, 1.5, -10),  # -10.5 -> -10 (high-mul rounds half up, then no right shift)
        (1000, 1.0, 1000),  # (2**30, 1): 2000 * 0.5
    ],
)
def test_mbqm_hand_values(acc, m, expected):
    m0, shift = (int(v) for v in quantize_multiplier(jnp.float32(m)))
    assert mbqm_ref(acc, m0, shift) == expected
    assert int(multiply_by_quantized_multiplier(jnp.int32(acc), jnp.int32(m0), jnp.int32(shift))) == expected


def test_mbqm_tflite_example():
    m = F32(0.0123)
    m0, shift = (int(v) for v in quantize_multiplier(jnp.float32(m)))
    # float32(0.0123) = 0.0123000000044703483581543; frexp -> 0.7872 * 2**-6
    assert (m0, shift) == quantize_multiplier_ref(float(m))
    assert shift == -6
    assert Fraction(m0) / 2 ** (31 - shift) == Fraction(float(m))
    # 1000 * m = 12.3 -> 12
    expected = mbqm_ref(1000, m0, shift)
    assert expected == 12
    assert int(multiply_by_quantized_multiplier(jnp.int32(1000), jnp.int32(m0), jnp.int32(shift))) == 12
    assert abs(expected - round_away_fraction(1000 * Fraction(float(m)))) <= 1
    # a tie in the real product: 1250 * m = 15.375..., 4000 * 0.0123 = 49.2
    for acc in (-1000, 1250, 4000, -4000, 123456, -7654321):
        got = int(multiply_by_quantized_multiplier(jnp.int32(acc), jnp.int32(m0), jnp.int32(shift)))
        assert got == mbqm_ref(acc, m0, shift)
        assert abs(got - round_away_fraction(acc * Fraction(float(m)))) <= 1


def test_mbqm_random_sweep_against_tflite_reference():
    rng = np.random.default_rng(6)
    n = 4000
    m = np.exp(rng.uniform(np.log(1e-7), np.log(200.0), n)).astype(np.float32)
    m0, shift = (np.asarray(v) for v in quantize_multiplier(m))
    limit = (INT32_MAX >> np.maximum(shift, 0)).astype(np.int64)
    x = np.floor(rng.uniform(-1.0, 1.0, n) * limit).astype(np.int64)  # inside TFLite's defined domain
    x[: n // 4] = rng.integers(-100_000, 100_000, n // 4)
    x = np.clip(x, -limit - 1, limit)
    got = ints(multiply_by_quantized_multiplier(x.astype(np.int32), m0, shift))
    for xi, a, s, mi, g in zip(x.tolist(), m0.tolist(), shift.tolist(), m.tolist(), got):
        assert g == mbqm_ref(xi, a, s), (xi, mi, a, s, g)
        # TFLite's double rounding stays within one unit of the exact product.
        assert abs(Fraction(g) - xi * Fraction(mi)) <= 1


def test_mbqm_left_shift_saturates_without_sign_wrap():
    m0, shift = (int(v) for v in quantize_multiplier(jnp.float32(2.0)))
    assert (m0, shift) == (1 << 30, 2)  # 2 = 0.5 * 2**2
    big = np.int32([2**30, INT32_MAX, 2**29, -(2**30), INT32_MIN, -(2**29) - 1])
    got = ints(multiply_by_quantized_multiplier(big, jnp.int32(m0), jnp.int32(shift)))
    # x << 2 would wrap in int32 (2**30 << 2 == 0, INT32_MAX << 2 == -4); the saturated left shift keeps
    # the sign and the result is at least as large as at the top of TFLite's defined domain (2**29 - 1).
    top = mbqm_ref(2**29 - 1, m0, shift)  # (2**31 - 4) * 2**30 / 2**31 = 2**30 - 2
    bottom = mbqm_ref(-(2**29), m0, shift)  # -2**31 * 2**30 / 2**31 = -2**30
    assert top == 2**30 - 2 and bottom == -(2**30)
    assert all(g >= top for g in got[:3])
    assert all(g <= bottom for g in got[3:])
    # -2**29 << 2 == INT32_MIN exactly fits, so that one is TFLite-defined:
    assert int(multiply_by_quantized_multiplier(jnp.int32(-(2**29)), jnp.int32(m0), jnp.int32(shift))) == bottom


def test_requantize_hand_values_and_clamp():
    m = F32(0.0123)
    m0, shift = quantize_multiplier(jnp.float32(m))
    # 1000 * 0.0123 = 12.3 -> 12, + zero 100 = 112
    acc = np.int32([1000, -1000, 0, 10**9, -(10**9), INT32_MAX, INT32_MIN, 12_600, -9_000])
    full = np.asarray(requantize(acc, m0, shift, jnp.int32(100), 0, 255))
    assert full.dtype == np.uint8
    # 12_600 * 0.0123 = 154.98 -> 155 -> 255 (clamped); -9000 * 0.0123 = -110.7 -> -111 -> 0 (clamped)
    assert full.tolist() == [112, 88, 100, 255, 0, 255, 0, 255, 0]
    # ReLU folded into the clamp range [zero, 255]
    relu = np.asarray(requantize(acc, m0, shift, jnp.int32(100), 100, 255))
    assert relu.tolist() == [112, 100, 100, 255, 100, 255, 100, 255, 100]
    # ReLU6-like upper bound
    six = np.asarray(requantize(acc, m0, shift, jnp.int32(100), 100, 150))
    assert six.tolist() == [112, 100, 100, 150, 100, 150, 100, 150, 100]


def test_requantize_positive_shift():
    # multiplier 3.0 -> (3 << 29, 2); acc 20 -> 60, + zero 5 = 65; acc -2 -> -6 + 5 -> 0 (clamp)
    m0, shift = quantize_multiplier(jnp.float32(3.0))
    assert (int(m0), int(shift)) == (3 << 29, 2)
    got = np.asarray(requantize(np.int32([20, -2, 1, 100, 10**9, -(10**9)]), m0, shift, jnp.int32(5), 0, 255))
    assert got.tolist() == [65, 0, 8, 255, 255, 0]


# --- dynamic quantization of errors (design 4, 5) ----------------------------------------------------


_dq_acc = jax.jit(dynamic_quantize_acc)
_dq_float = jax.jit(dynamic_quantize_float)


def check_dynamic_acc(acc: np.ndarray, acc_scale: np.ndarray):
    """Check the design-4 properties of the jitted dynamic quantizer (what training runs) on acc[b, ...]."""
    q, qp = _dq_acc(jnp.asarray(acc, jnp.int32), jnp.asarray(acc_scale, jnp.float32))
    q = np.asarray(q)
    scale = np.asarray(qp.scale).astype(np.float64)
    zero = np.asarray(qp.zero)
    assert q.dtype == np.uint8 and zero.dtype == np.int32
    b = acc.shape[0]
    assert scale.shape == (b,) and zero.shape == (b,)
    flat = acc.reshape(b, -1).astype(np.int64)
    qf = q.reshape(b, -1).astype(np.int64)
    for i in range(b):
        lo, hi = min(flat[i].min(), 0), max(flat[i].max(), 0)
        if lo == hi == 0:
            assert np.all(qf[i] == 0) and zero[i] == 0 and scale[i] == F32(acc_scale[i])
            continue
        span = hi - lo
        assert 0 <= zero[i] <= 255
        if lo == 0:
            assert zero[i] == 0
        if hi == 0:
            assert zero[i] == 255
        # q(acc_min) is exactly 0; q(acc_max) is the top of the range (255, or 254 after two roundings)
        assert np.all(qf[i][flat[i] == flat[i].min()] == 0) or flat[i].min() > 0
        if flat[i].min() > 0:
            assert qf[i].min() >= 0
        if flat[i].max() > 0:
            assert np.all(np.isin(qf[i][flat[i] == flat[i].max()], [254, 255]))
        # zero point = round(-acc_min * 255 / span) within one unit
        assert abs(zero[i] - (-lo * 255 / span)) <= 1
        # output scale = acc_scale * span / 255
        assert abs(scale[i] - acc_scale[i] * span / 255) <= 1e-6 * scale[i]
        # dequantized values approximate the real accumulators within one output step
        real = flat[i] * np.float64(F32(acc_scale[i]))
        deq = (qf[i] - zero[i]) * scale[i]
        assert np.max(np.abs(deq - real)) <= scale[i] * (1 + 1e-5), (i, np.max(np.abs(deq - real)) / scale[i])
        # monotone: a larger accumulator never gets a smaller code
        order = np.argsort(flat[i], kind="stable")
        assert np.all(np.diff(qf[i][order]) >= 0)
    return q, zero, scale


def test_dynamic_quantize_acc_hand_example():
    # sample 0: range [-100, 155] -> span 255, multiplier exactly 1 = (2**30, 1) -> q = acc + 100, zero 100
    # sample 1: range [0, 510] -> multiplier 0.5 = (2**30, 0), zero 0, q = srdhm(acc, 2**30) = acc/2 half up
    acc = np.int32([[-100, 0, 155, 3], [0, 510, 255, 3]])
    acc_scale = np.float32([0.01, 0.02])
    q, zero, scale = check_dynamic_acc(acc, acc_scale)
    assert zero.tolist() == [100, 0]
    assert q.tolist() == [[0, 100, 255, 103], [0, 255, 128, 2]]  # 127.5 -> 128; 1.5 -> 2
    # Eager evaluation gives the same codes and the exact scales: acc_scale / 1 and acc_scale / 0.5.
    q_e, qp_e = dynamic_quantize_acc(jnp.asarray(acc), jnp.asarray(acc_scale))
    assert np.asarray(q_e).tolist() == q.tolist() and np.asarray(qp_e.zero).tolist() == [100, 0]
    # 255 * float32(1/255) and 510 * float32(1/255) round to exactly 1 and 2 in float32
    assert np.asarray(qp_e.scale).tolist() == [float(F32(0.01)), float(F32(0.02) * F32(2.0))]
    assert np.asarray(scale).tolist() == [float(F32(0.01)), float(F32(0.02) * F32(2.0))]


def test_dynamic_quantize_acc_scale_bit_identical_under_jit():
    # Contract (docstring): error scale = acc_scale * (R * float32(1/255)), products only.  Written as
    # acc_scale / (255 / R) it was rewritten by XLA under jit and came out an ulp off: for span 255 and
    # acc_scale 0.01 jit gave 0.010000001 instead of float32(0.01).
    acc = np.int32([[-100, 0, 155, 3], [0, 510, 255, 3]])  # same shape as the hand example: eager ops cached
    acc_scale = np.float32([0.01, 0.02])
    _, eager = dynamic_quantize_acc(jnp.asarray(acc), jnp.asarray(acc_scale))
    _, jitted = _dq_acc(acc, acc_scale)
    assert float(eager.scale[0]) == float(F32(0.01))
    assert float(jitted.scale[0]) == float(F32(0.01))
    # many ranges, against a numpy float32 model of the formula
    rng = np.random.default_rng(15)
    lo = -rng.integers(0, 10**9, 2000)
    hi = rng.integers(0, 10**9, 2000)
    lo[:500] //= 10**5
    hi[:500] //= 10**5
    acc = np.stack([lo, hi, (lo + hi) // 2], axis=1).astype(np.int32)
    acc_scale = np.exp(rng.uniform(np.log(1e-9), np.log(1e-1), 2000)).astype(np.float32)
    span = (hi - lo).astype(np.float32)
    model = np.where(span > 0, acc_scale * (span * (F32(1.0) / F32(255.0))), acc_scale).astype(np.float32)
    _, qp = _dq_acc(acc, acc_scale)
    np.testing.assert_array_equal(np.asarray(qp.scale).view(np.uint32), model.view(np.uint32))


def test_dynamic_quantize_acc_properties_random():
    rng = np.random.default_rng(7)
    b = 64
    magnitudes = np.exp(rng.uniform(0, np.log(5e8), b))
    acc = rng.uniform(-1.0, 1.0, (b, 6, 5)) * magnitudes[:, None, None]
    # some samples one-signed, one all-zero, one with a single non-zero value, some tiny
    acc[3] = np.abs(acc[3])
    acc[4] = -np.abs(acc[4])
    acc[5] = 0
    acc[6] = 0
    acc[6, 2, 1] = -17
    acc[7] = rng.integers(-3, 4, (6, 5))
    acc[8] = 0
    acc[8, 0, 0] = 1
    acc = np.round(acc).astype(np.int32)
    acc_scale = np.exp(rng.uniform(np.log(1e-9), np.log(1e-2), b)).astype(np.float32)
    q, zero, scale = check_dynamic_acc(acc, acc_scale)
    assert zero[3] == 0 and zero[4] == 255 and zero[5] == 0
    assert q[6, 2, 1] == 0 and zero[6] == 255 and np.all(q[6][acc[6] == 0] == 255)
    assert q[8, 0, 0] == 255 and zero[8] == 0


def test_dynamic_quantize_acc_many_ranges():
    # Stress the double rounding of the zero point and of the top code.
    rng = np.random.default_rng(8)
    b = 3000
    lo = -rng.integers(0, 3_000_000, b)
    hi = rng.integers(0, 3_000_000, b)
    lo[:300] = -rng.integers(0, 600, 300)
    hi[:300] = rng.integers(0, 600, 300)
    mid = rng.integers(0, 2**62, (b, 14)) % (hi - lo + 1)[:, None] + lo[:, None]
    acc = np.concatenate([lo[:, None], hi[:, None], mid], axis=1).astype(np.int32)
    check_dynamic_acc(acc, np.full(b, 1e-5, np.float32))


def test_dynamic_quantize_acc_samples_independent():
    rng = np.random.default_rng(9)
    acc = rng.integers(-50_000, 50_000, (3, 4, 4, 2)).astype(np.int32)
    s = np.float32([1e-4, 2e-4, 3e-4])
    q1, qp1 = _dq_acc(acc, s)
    acc2 = acc.copy()
    acc2[1] *= 37
    acc2[1, 0, 0, 0] = -(10**8)
    s2 = s.copy()
    s2[1] = 5.0
    q2, qp2 = _dq_acc(acc2, s2)
    for i in (0, 2):
        np.testing.assert_array_equal(np.asarray(q1)[i], np.asarray(q2)[i])
        assert float(qp1.scale[i]) == float(qp2.scale[i]) and int(qp1.zero[i]) == int(qp2.zero[i])
    assert not np.array_equal(np.asarray(q1)[1], np.asarray(q2)[1])


def test_dynamic_quantize_acc_codes_jit_match_eager():
    rng = np.random.default_rng(10)
    for _ in range(25):  # shape (2, 4) like the hand example, so eager mode reuses its compiled primitives
        acc = (rng.integers(-10**6, 10**6, (2, 4)) >> rng.integers(0, 20, (2, 1))).astype(np.int32)
        s = np.exp(rng.uniform(-20, -2, 2)).astype(np.float32)
        qa, pa = dynamic_quantize_acc(jnp.asarray(acc), jnp.asarray(s))
        qb, pb = _dq_acc(acc, s)
        np.testing.assert_array_equal(np.asarray(qa), np.asarray(qb))
        np.testing.assert_array_equal(np.asarray(pa.zero), np.asarray(pb.zero))
        np.testing.assert_array_equal(np.asarray(pa.scale).view(np.uint32), np.asarray(pb.scale).view(np.uint32))


def test_dynamic_quantize_float_properties():
    rng = np.random.default_rng(11)
    b = 40
    x = rng.normal(size=(b, 7, 3)) * np.exp(rng.uniform(-15, 5, b))[:, None, None]
    x[1] = np.abs(x[1])
    x[2] = -np.abs(x[2])
    x[3] = 0.0
    x = x.astype(np.float32)
    q, qp = _dq_float(x)
    q = np.asarray(q).reshape(b, -1).astype(np.int64)
    scale = np.asarray(qp.scale).astype(np.float64)
    zero = np.asarray(qp.zero)
    xf = x.reshape(b, -1).astype(np.float64)
    assert zero[1] == 0 and zero[2] == 255
    assert np.all(q[3] == 0) and zero[3] == 0 and scale[3] == 1.0
    for i in range(b):
        if i == 3:
            continue
        lo, hi = min(xf[i].min(), 0.0), max(xf[i].max(), 0.0)
        assert abs(scale[i] - (hi - lo) / 255) <= 3e-7 * scale[i]
        # q(x_min) is exactly 0: round(x_min/s) = -round(-x_min/s) = -z by the symmetry of half-away rounding
        if xf[i].min() < 0:
            assert np.all(q[i][xf[i] == xf[i].min()] == 0)
        if xf[i].max() > 0:
            assert np.all(np.isin(q[i][xf[i] == xf[i].max()], [254, 255]))
        # exact zero stays exact
        assert np.all(q[i][xf[i] == 0] == zero[i])
        deq = (q[i] - zero[i]) * scale[i]
        assert np.max(np.abs(deq - xf[i])) <= scale[i] * (0.5 + 1e-4)
    # independence: changing sample 5 leaves the others untouched
    x2 = x.copy()
    x2[5] *= 1000
    q2, qp2 = _dq_float(x2)
    q2 = np.asarray(q2).reshape(b, -1)
    keep = np.arange(b) != 5
    np.testing.assert_array_equal(q2[keep], q[keep])
    np.testing.assert_array_equal(np.asarray(qp2.zero)[keep], zero[keep])
    np.testing.assert_array_equal(np.asarray(qp2.scale)[keep], np.asarray(qp.scale)[keep])


# --- strict ------------------------------------------------------------------------------------------


def test_strict_is_identity():
    x = np.float32([0.0, -0.0, 1.5, -3.25e-30, 1e38, np.inf, -np.inf, 1e-45])
    got = np.asarray(strict(x))
    np.testing.assert_array_equal(got.view(np.uint32), x.view(np.uint32))
    got_jit = np.asarray(jax.jit(strict)(x))
    np.testing.assert_array_equal(got_jit.view(np.uint32), x.view(np.uint32))
    assert np.isnan(np.asarray(strict(np.float32(np.nan))))


def test_strict_prevents_fma_contraction_under_jit():
    rng = np.random.default_rng(12)
    n = 100_000
    a = rng.uniform(-2, 2, n).astype(np.float32)
    b = rng.uniform(-2, 2, n).astype(np.float32)
    c = rng.uniform(-2, 2, n).astype(np.float32)
    two_roundings = (a * b) + c  # numpy: float32 product rounded, then float32 sum rounded
    # A fused multiply-add (one rounding) differs on many of these inputs, so the check below is sensitive.
    fused = (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)
    assert np.count_nonzero(fused != two_roundings) > 1000

    got = np.asarray(jax.jit(lambda a, b, c: strict(a * b) + c)(a, b, c))
    np.testing.assert_array_equal(got.view(np.uint32), two_roundings.view(np.uint32))
    # also with the product on the right and a subtraction, as the update path writes them
    got2 = np.asarray(jax.jit(lambda a, b, c: c - strict(a * b))(a, b, c))
    np.testing.assert_array_equal(got2.view(np.uint32), (c - (a * b)).view(np.uint32))


def test_dynamic_quantize_acc_full_int32_span():
    acc = np.int32([[-2_000_000_000, 0, 2_000_000_000]])
    q, qp = _dq_acc(acc, np.float32([1e-6]))
    assert float(qp.scale[0]) > 0
    assert np.asarray(q).tolist() == [[0, 128, 255]]


def test_strict_prevents_fma_when_operand_is_converted_from_int():
    rng = np.random.default_rng(14)
    k = rng.integers(-100, 100, 20_000).astype(np.int32)
    t = rng.uniform(-0.35, 0.35, 20_000).astype(np.float32)
    ln2 = F32(0.6931471805599453)
    two_roundings = (k.astype(np.float32) * ln2) + t
    fused = (k.astype(np.float64) * np.float64(ln2) + t.astype(np.float64)).astype(np.float32)
    assert np.count_nonzero(fused != two_roundings) > 1000  # the check is sensitive
    got = np.asarray(jax.jit(lambda k, t: strict(k.astype(jnp.float32) * ln2) + t)(k, t))
    np.testing.assert_array_equal(got.view(np.uint32), two_roundings.view(np.uint32))
