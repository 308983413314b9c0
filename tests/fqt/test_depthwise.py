"""Depthwise convolution as shifted multiply-adds, pinned against XLA's grouped convolution.

The integer kernels (forward, input error, per-sample weight gradient) must give the int32 values
the grouped conv gave, bit for bit; the float forms agree with it to float rounding.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt import kernels as K
from explore.fqt.depthwise import depthwise_conv, depthwise_weight_grad, output_and_pads
from explore.fqt.exact import exact_bilinear
from explore.model.spec import Conv


def grouped_conv(x: jax.Array, w: jax.Array, strides: tuple[int, ...], padding: str) -> jax.Array:
    """The depthwise conv as it was computed before: XLA's grouped convolution."""
    numbers = ("NWC", "WIO", "NWC") if x.ndim == 3 else ("NHWC", "HWIO", "NHWC")
    return jax.lax.conv_general_dilated(x, w, strides, padding.upper(), dimension_numbers=numbers,
                                        feature_group_count=x.shape[-1])


def grouped_input_grad(e, w, in_shape, strides, padding):
    x0 = jnp.zeros((e.shape[0],) + in_shape, jnp.float32)
    return jax.vjp(lambda x: grouped_conv(x, w, strides, padding), x0)[1](e)[0]


def grouped_weight_grad(x, e, w_shape, strides, padding):
    def one(x1, e1):
        w0 = jnp.zeros(w_shape, jnp.float32)
        return jax.vjp(lambda w: grouped_conv(x1[None], w, strides, padding), w0)[1](e1[None])[0]

    return jax.vmap(one)(x, e)


def _random_cases(count: int, seed: int) -> list[tuple]:
    """``(batch, in_shape, kernel, strides, padding)``: 1-D and 2-D, kernels 3/5/7, strides 1-3."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        dims = 1 + i % 2
        k = int(rng.choice([3, 5, 7]))
        kernel = (k,) * dims if rng.random() < 0.7 else tuple(int(v) for v in rng.choice([3, 5, 7], dims))
        strides = tuple(int(v) for v in rng.integers(1, 4, dims))
        padding = ["same", "valid"][i % 4 // 2]
        spatial = tuple(int(n) for n in rng.integers(max(kernel), max(kernel) + 12, dims))
        cases.append((int(rng.integers(1, 4)), spatial + (int(rng.integers(1, 9)),), kernel, strides, padding))
    return cases


CASES = _random_cases(12, seed=7) + [
    (2, (24, 20, 3), (3, 3), (1, 1), "same"),   # 480 output positions: the weight gradient splits digits
    (1, (9, 2), (7,), (3,), "same"),            # stride larger than half the kernel
    (3, (7, 5), (7,), (1,), "valid"),           # a single output position
]
IDS = [f"b{b}_{'x'.join(map(str, s))}_k{'x'.join(map(str, k))}_s{'x'.join(map(str, st))}_{p}"
       for b, s, k, st, p in CASES]


def _layer(in_shape, kernel, strides, padding) -> Conv:
    return Conv(in_shape[-1], kernel, strides, padding, "none", depthwise=True)


def _centred(rng: np.random.Generator, shape: tuple[int, ...], extreme: bool) -> jnp.ndarray:
    values = rng.choice([-255, 255], shape) if extreme else rng.integers(-255, 256, shape)
    return jnp.asarray(values, jnp.int32)


@pytest.mark.parametrize("extreme", [False, True], ids=["random", "extreme"])
@pytest.mark.parametrize("batch,in_shape,kernel,strides,padding", CASES, ids=IDS)
def test_integer_depthwise_is_bit_identical_to_grouped_conv(batch, in_shape, kernel, strides, padding, extreme):
    rng = np.random.default_rng(len(in_shape) * 100 + sum(in_shape) + sum(kernel))
    layer = _layer(in_shape, kernel, strides, padding)
    out, _ = output_and_pads(in_shape[:-1], kernel, strides, padding)
    w_shape = kernel + (1, in_shape[-1])
    x = _centred(rng, (batch,) + in_shape, extreme)
    w = _centred(rng, w_shape, extreme)
    e = _centred(rng, (batch,) + out + (in_shape[-1],), extreme)
    info = K.ParamLayerQ(layer, in_shape, math.prod(kernel), (0, 255))
    positions = math.prod(out)

    want_y = exact_bilinear(lambda a, b: grouped_conv(a, b, strides, padding), x, w, math.prod(kernel))
    got_y = exact_bilinear(K.conv_fn(layer, in_shape), x, w, info.terms)
    want_dx = exact_bilinear(lambda a, b: grouped_input_grad(a, b, in_shape, strides, padding), e, w, math.prod(kernel))
    got_dx = jax.jit(lambda e, w: K._input_grad_acc(info, e, w))(e, w)
    want_dw = exact_bilinear(lambda a, b: grouped_weight_grad(a, b, w_shape, strides, padding), x, e, positions)
    got_dw = jax.jit(lambda x, e: K._weight_grad_acc(info, x, e, w_shape))(x, e)

    for got, want in ((got_y, want_y), (got_dx, want_dx), (got_dw, want_dw)):
        assert got.dtype == jnp.int32
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("batch,in_shape,kernel,strides,padding", CASES, ids=IDS)
def test_float_depthwise_matches_grouped_conv(batch, in_shape, kernel, strides, padding):
    rng = np.random.default_rng(sum(in_shape) + 3)
    w_shape = kernel + (1, in_shape[-1])
    x = jnp.asarray(rng.normal(size=(batch,) + in_shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=w_shape), jnp.float32)
    want = grouped_conv(x, w, strides, padding)
    got = jax.jit(lambda x, w: depthwise_conv(x, w, strides, padding))(x, w)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    e = jnp.asarray(rng.normal(size=want.shape), jnp.float32)
    # Gradients as pre-training takes them (jax.grad through the shifted form) ...
    dx, dw = jax.jit(jax.vjp(lambda x, w: depthwise_conv(x, w, strides, padding), x, w)[1])(e)
    want_dx, want_dw = jax.vjp(lambda x, w: grouped_conv(x, w, strides, padding), x, w)[1](e)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-5, atol=1e-4)
    # ... and per sample, as the simulator's float layers take them.
    per_sample = jax.jit(lambda x, e: depthwise_weight_grad(x, e, kernel, strides, padding))(x, e)
    np.testing.assert_allclose(per_sample, grouped_weight_grad(x, e, w_shape, strides, padding),
                               rtol=1e-5, atol=1e-4)
