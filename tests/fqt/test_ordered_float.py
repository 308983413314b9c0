"""The ordered float32 kernels (explore/fqt/ordered.py) against the contract's loops run literally.

The references below are the loops the C runtime implements: NumPy float32 scalars, one term at a
time, every product rounded before it is added.  Results are compared bit for bit.  Each test also
checks that the same loops in reverse order give different bits on its data, so an implementation
that sums in another order would fail it.
"""

from __future__ import annotations

import dataclasses
import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt import kernels as K
from explore.fqt import ordered
from explore.fqt import simulator as sim
from explore.train.floatnet import init_float_params
from explore.model.spec import Add, AvgPool, Conv, Dense, GlobalAvgPool, MaxPool, ModelSpec
from explore.train.ptq import quantize_model

F = np.float32


# --- the contract, literally -------------------------------------------------------------------------------


def _sum(terms: list, reverse: bool = False) -> np.float32:
    acc = F(0.0)
    for t in (reversed(terms) if reverse else terms):
        acc = F(acc + t)
    return acc


def _positions(shape: tuple[int, ...]):
    return itertools.product(*(range(n) for n in shape))


def _geometry(layer: Conv, in_shape: tuple[int, ...]):
    strides = layer.strides or (1,) * (len(in_shape) - 1)
    outs, befores = [], []
    for n, k, s in zip(in_shape[:-1], layer.kernel, strides):
        if layer.padding == "same":
            out = -(-n // s)
            befores.append(max((out - 1) * s + k - n, 0) // 2)
        else:
            out = (n - k) // s + 1
            befores.append(0)
        outs.append(out)
    return strides, tuple(outs), befores


def _source(p, offset, strides, befores, spatial):
    """Input position output ``p`` reads through ``offset``; None for a padding tap."""
    q = tuple(pi * s + o - b for pi, s, o, b in zip(p, strides, offset, befores))
    return q if all(0 <= qi < n for qi, n in zip(q, spatial)) else None


def ref_dense_forward(x, w, b, reverse=False):
    y = np.zeros((x.shape[0], w.shape[1]), F)
    for n, o in _positions(y.shape):
        y[n, o] = F(_sum([F(x[n, i] * w[i, o]) for i in range(w.shape[0])], reverse) + b[o])
    return y


def ref_dense_input_error(e, w, reverse=False):
    dx = np.zeros((e.shape[0], w.shape[0]), F)
    for n, i in _positions(dx.shape):
        dx[n, i] = _sum([F(e[n, o] * w[i, o]) for o in range(w.shape[1])], reverse)
    return dx


def ref_conv_forward(layer, x, w, b, reverse=False):
    in_shape = x.shape[1:]
    strides, outs, befores = _geometry(layer, in_shape)
    y = np.zeros((x.shape[0],) + outs + (w.shape[-1],), F)
    for n, p, o in itertools.product(range(x.shape[0]), _positions(outs), range(w.shape[-1])):
        terms = []
        for offset in _positions(layer.kernel):
            q = _source(p, offset, strides, befores, in_shape[:-1])
            if q is None:  # a padding tap contributes nothing
                continue
            for ci in ([o] if layer.depthwise else range(in_shape[-1])):
                terms.append(F(x[(n,) + q + (ci,)] * w[offset + (0 if layer.depthwise else ci, o)]))
        y[(n,) + p + (o,)] = F(_sum(terms, reverse) + b[o])
    return y


def ref_conv_weight_grad(layer, x, e, reverse=False):
    in_shape = x.shape[1:]
    strides, outs, befores = _geometry(layer, in_shape)
    rows = 1 if layer.depthwise else in_shape[-1]
    g = np.zeros((x.shape[0],) + tuple(layer.kernel) + (rows, e.shape[-1]), F)
    for n, offset, ci, o in itertools.product(range(x.shape[0]), _positions(layer.kernel), range(rows),
                                              range(e.shape[-1])):
        channel = o if layer.depthwise else ci
        terms = []
        for p in _positions(outs):
            q = _source(p, offset, strides, befores, in_shape[:-1])
            if q is not None:
                terms.append(F(x[(n,) + q + (channel,)] * e[(n,) + p + (o,)]))
        g[(n,) + offset + (ci, o)] = _sum(terms, reverse)
    return g


def ref_conv_input_error(layer, in_shape, e, w, reverse=False):
    strides, outs, befores = _geometry(layer, in_shape)
    dx = np.zeros((e.shape[0],) + tuple(in_shape), F)
    offsets = list(_positions(layer.kernel))
    for n in range(e.shape[0]):
        for offset in (reversed(offsets) if reverse else offsets):
            for p in _positions(outs):
                q = _source(p, offset, strides, befores, in_shape[:-1])
                if q is None:
                    continue
                for ci in range(in_shape[-1]):
                    if layer.depthwise:
                        s = F(e[(n,) + p + (ci,)] * w[offset + (0, ci)])
                    else:
                        s = _sum([F(e[(n,) + p + (o,)] * w[offset + (ci, o)]) for o in range(w.shape[-1])], reverse)
                    dx[(n,) + q + (ci,)] = F(dx[(n,) + q + (ci,)] + s)
    return dx


def ref_spatial_sum(v, reverse=False):
    out = np.zeros((v.shape[0], v.shape[-1]), F)
    for n, c in _positions(out.shape):
        out[n, c] = _sum([v[(n,) + p + (c,)] for p in _positions(v.shape[1:-1])], reverse)
    return out


def ref_avg_pool(x, window, reverse=False):
    outs = tuple(n // w for n, w in zip(x.shape[1:-1], window))
    inv_count = F(1.0) / F(np.prod(window))
    y = np.zeros((x.shape[0],) + outs + (x.shape[-1],), F)
    for n, p, c in itertools.product(range(x.shape[0]), _positions(outs), range(x.shape[-1])):
        terms = [x[(n,) + tuple(pi * w + d for pi, w, d in zip(p, window, off)) + (c,)] for off in _positions(window)]
        y[(n,) + p + (c,)] = F(_sum(terms, reverse) * inv_count)
    return y


def ref_global_mean(x, reverse=False):
    inv_count = F(1.0) / F(np.prod(x.shape[1:-1]))
    return (ref_spatial_sum(x, reverse) * inv_count).astype(F)


def ref_activation(y, activation):
    if activation == "relu":
        return np.where(y > 0, y, F(0.0)).astype(F)
    if activation == "relu6":
        return np.minimum(np.where(y > 0, y, F(0.0)), F(6.0)).astype(F)
    return y


# --- helpers -----------------------------------------------------------------------------------------------


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, F)).view(np.uint32)


def assert_bits(actual, expected) -> None:
    actual, expected = bits(actual), bits(expected)
    assert actual.shape == expected.shape
    mismatched = int(np.sum(actual != expected))
    assert mismatched == 0, f"{mismatched} of {actual.size} elements differ in their bits"


def assert_order_matters(expected, reversed_order) -> None:
    """The data is such that summing in another order changes some bits (the test has teeth)."""
    assert np.any(bits(expected) != bits(reversed_order))


def wide(rng, shape, zeros: float = 0.2) -> np.ndarray:
    """float32 values over a few binades, some exactly zero: summation order shows in the low bits."""
    v = rng.normal(size=shape) * np.exp2(rng.integers(-3, 4, size=shape))
    return np.where(rng.random(shape) < zeros, 0.0, v).astype(F)


CONV_CASES = [
    ("1d_same", (2, 7, 2), Conv(3, (5,), activation="none")),
    ("1d_valid_stride2", (2, 15, 3), Conv(3, (3,), strides=(2,), padding="valid", activation="relu")),
    ("2d_same", (2, 5, 5, 3), Conv(4, (3, 3), activation="relu6")),
    ("2d_same_stride2", (2, 6, 6, 2), Conv(3, (3, 3), strides=(2, 2))),
    ("2d_valid_stride2", (2, 7, 6, 2), Conv(3, (3, 3), strides=(2, 2), padding="valid", activation="none")),
    ("2d_same_uneven_kernel", (2, 5, 4, 2), Conv(3, (2, 3), strides=(2, 1))),
    ("dw_2d_same", (2, 5, 5, 3), Conv(3, (3, 3), depthwise=True, activation="relu6")),
    ("dw_2d_same_stride2", (2, 6, 5, 3), Conv(3, (3, 3), strides=(2, 2), depthwise=True)),
    ("dw_1d_valid", (2, 9, 4), Conv(4, (5,), padding="valid", depthwise=True, activation="none")),
]


def _conv_operands(rng, in_shape, layer):
    w_shape = tuple(layer.kernel) + (1 if layer.depthwise else in_shape[-1], layer.features)
    x = wide(rng, in_shape)
    x[0] = 0.0  # an all-zero sample: sums of -0 products must come out +0
    w = -np.abs(wide(rng, w_shape, zeros=0.0))
    w[..., ::2] = -w[..., ::2]
    b = wide(rng, (layer.features,), zeros=0.3)
    return x, w, b


# --- kernels ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,in_shape,layer", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_forward_bitwise(name, in_shape, layer) -> None:
    rng = np.random.default_rng(1)
    x, w, b = _conv_operands(rng, in_shape, layer)
    p = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
    y = jax.jit(lambda x: K.param_forward_f(layer, in_shape[1:], p, x, ordered=True))(jnp.asarray(x))
    expected = ref_conv_forward(layer, x, w, b)
    assert_bits(y, ref_activation(expected, layer.activation))
    assert_order_matters(expected, ref_conv_forward(layer, x, w, b, reverse=True))


@pytest.mark.parametrize("name,in_shape,layer", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_backward_bitwise(name, in_shape, layer) -> None:
    rng = np.random.default_rng(2)
    in_shape = (4,) + in_shape[1:]  # more sums, so that each one's order shows somewhere
    x, w, b = _conv_operands(rng, in_shape, layer)
    out_shape = (in_shape[0],) + _geometry(layer, in_shape[1:])[1] + (layer.features,)
    e = wide(rng, out_shape)
    e[0] = 0.0
    p = {"w": jnp.asarray(w), "b": jnp.asarray(b)}

    @jax.jit
    def backward(x, e):
        return K.param_backward_f(layer, in_shape[1:], p, e, x, None, True, ordered=True)

    grad, kept, dx = backward(jnp.asarray(x), jnp.asarray(e))
    g_expected = ref_conv_weight_grad(layer, x, e)
    assert_bits(grad.w, g_expected)
    assert_order_matters(g_expected, ref_conv_weight_grad(layer, x, e, reverse=True))
    b_expected = ref_spatial_sum(e)
    assert_bits(grad.b, b_expected)
    assert_order_matters(b_expected, ref_spatial_sum(e, reverse=True))
    dx_expected = ref_conv_input_error(layer, in_shape[1:], e, w)
    assert_bits(dx, dx_expected)
    assert_order_matters(dx_expected, ref_conv_input_error(layer, in_shape[1:], e, w, reverse=True))
    np.testing.assert_array_equal(np.asarray(kept), 1.0)


def test_dense_forward_and_backward_bitwise() -> None:
    rng = np.random.default_rng(3)
    layer = Dense(5, activation="relu")
    x, w, b, e = wide(rng, (3, 13)), wide(rng, (13, 5), zeros=0.0), wide(rng, (5,)), wide(rng, (3, 5))
    x[0], e[0] = 0.0, 0.0
    w[:, 1] = -np.abs(w[:, 1])  # zero inputs times negative weights: -0 products
    p = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
    y = jax.jit(lambda x: K.param_forward_f(layer, (13,), p, x, ordered=True))(jnp.asarray(x))
    expected = ref_dense_forward(x, w, b)
    assert_bits(y, ref_activation(expected, "relu"))
    assert_order_matters(expected, ref_dense_forward(x, w, b, reverse=True))
    grad, _, dx = jax.jit(lambda x, e: K.param_backward_f(layer, (13,), p, e, x, None, True, ordered=True))(
        jnp.asarray(x), jnp.asarray(e))
    dx_expected = ref_dense_input_error(e, w)
    assert_bits(dx, dx_expected)
    assert_order_matters(dx_expected, ref_dense_input_error(e, w, reverse=True))
    assert_bits(grad.w, x[:, :, None] * e[:, None, :])
    assert_bits(grad.b, e)


def test_negative_zero_never_leaves_a_sum() -> None:
    """XLA folds ``0 + t`` into ``t``; the kernels still return +0 where every term is -0."""
    x = np.zeros((1, 4), F)
    w = -np.ones((4, 3), F)
    y = ordered.dense_forward(jnp.asarray(x), jnp.asarray(w), jnp.zeros(3, jnp.float32))
    assert_bits(y, np.zeros((1, 3), F))
    dx = ordered.dense_input_error(jnp.asarray(np.zeros((1, 3), F)), jnp.asarray(-np.ones((2, 3), F)))
    assert_bits(dx, np.zeros((1, 2), F))
    layer = Conv(2, (1,), depthwise=True)  # one offset: the input error is a single product
    dx = ordered.conv_input_error(layer, (3, 2), jnp.zeros((1, 3, 2), jnp.float32), -jnp.ones((1, 1, 2)))
    assert_bits(dx, np.zeros((1, 3, 2), F))


@pytest.mark.parametrize("shape", [(2, 5, 4, 3), (2, 9, 2)], ids=["2d", "1d"])
def test_spatial_sum_and_pooling_bitwise(shape) -> None:
    rng = np.random.default_rng(4)
    x = wide(rng, shape)
    v = np.abs(x)
    assert_bits(jax.jit(ordered.spatial_sum)(jnp.asarray(v)), ref_spatial_sum(v))
    assert_order_matters(ref_spatial_sum(v), ref_spatial_sum(v, reverse=True))
    window = (2, 2) if len(shape) == 4 else (3,)
    pooled = jax.jit(lambda x: K.pool_forward_f(AvgPool(window), x, ordered=True))(jnp.asarray(x))
    expected = ref_avg_pool(x, window)
    assert_bits(pooled, expected)
    assert_order_matters(expected, ref_avg_pool(x, window, reverse=True))
    gap = jax.jit(lambda x: K.pool_forward_f(GlobalAvgPool(), x, ordered=True))(jnp.asarray(x))
    assert_bits(gap, ref_global_mean(x))
    assert_order_matters(ref_global_mean(x), ref_global_mean(x, reverse=True))


def test_unordered_kernels_stay_the_xla_ones() -> None:
    """``ordered=False`` (float_plan: calibration, plain float inference) is XLA's convolution."""
    layer, in_shape = Conv(4, (3, 3), activation="none"), (5, 5, 3)
    rng = np.random.default_rng(5)
    x, w, b = _conv_operands(rng, (2,) + in_shape, layer)
    p = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
    fast = K.param_forward_f(layer, in_shape, p, jnp.asarray(x))
    assert_bits(fast, K.conv_fn(layer, in_shape)(jnp.asarray(x), p["w"]) + p["b"])
    assert sim.float_plan(ModelSpec(in_shape, 4, (layer, GlobalAvgPool(), Dense(4)))).ordered is False


# --- whole training steps ------------------------------------------------------------------------------------


def tiny_1d() -> ModelSpec:
    return ModelSpec((10, 2), 3, (
        Conv(4, (3,)),                                      # 0
        Conv(4, (3,), depthwise=True, activation="relu6"),  # 1
        Conv(4, (1,), activation="none"),                   # 2
        Add(skip=0),                                        # 3
        AvgPool((2,)),                                      # 4
        Conv(5, (3,), strides=(2,), padding="valid"),       # 5
        MaxPool((1,)),                                      # 6
        GlobalAvgPool(),                                    # 7
        Dense(6, activation="relu"),                        # 8
        Dense(3),                                           # 9
    ))


@pytest.fixture(scope="module")
def tiny_model():
    spec = tiny_1d()
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8,) + spec.input_shape).astype(F)
    y = rng.integers(0, spec.num_classes, 8).astype(np.int32)
    return quantize_model(init_float_params(spec, seed=1), x), x, y


def _step_args(plan, model, x, y):
    trainable, frozen = sim.split_weights(plan, model)
    hyper = sim.Hyper(jnp.float32(0.05), jnp.float32(0.5), jnp.float32(1.0))
    return (trainable, frozen, sim.runtime_constants(model), jnp.asarray(x), jnp.asarray(y),
            jnp.ones(len(x), bool), jnp.float32(0.0), hyper)


def _flat(tree) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("config", ["float32", "mixed"])
def test_train_step_deterministic_and_close_to_xla(tiny_model, config) -> None:
    model, x, y = tiny_model
    plan = sim.make_plan(model, config, model.spec.param_layers(), 0.5)
    assert plan.ordered
    args = _step_args(plan, model, x, y)
    first = jax.jit(partial(sim.train_step, plan))(*args)
    again = jax.jit(lambda *a: sim.train_step(plan, *a))(*args)  # a second, separate compilation
    for a, b in zip(_flat(first), _flat(again)):
        if a.dtype == F:
            assert_bits(a, b)
        else:
            np.testing.assert_array_equal(a, b)
    unordered = dataclasses.replace(plan, ordered=False)
    fast = jax.jit(partial(sim.train_step, unordered))(*args)
    # uint8 layers are left out: a last-bit change in the float head's error may move a quantized code.
    for i in (i for i in plan.trainable if plan.is_float(i)):
        for key in ("w", "b"):
            np.testing.assert_allclose(first.trainable[i][key], fast.trainable[i][key], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(first.losses, fast.losses, rtol=1e-5)


def _reference_layer(layer, x, p, outputs, i):
    """The contract's forward of one float layer (NumPy), for the whole-network check."""
    if isinstance(layer, Conv):
        return ref_activation(ref_conv_forward(layer, x, p["w"], p["b"]), layer.activation)
    if isinstance(layer, Dense):
        return ref_activation(ref_dense_forward(x, p["w"], p["b"]), layer.activation)
    if isinstance(layer, AvgPool):
        return ref_avg_pool(x, layer.window)
    if isinstance(layer, GlobalAvgPool):
        return ref_global_mean(x)
    if isinstance(layer, MaxPool):
        return np.asarray(K.maxpool_forward(jnp.asarray(x), layer.window)[0])
    if isinstance(layer, Add):
        return ref_activation((x + outputs[layer.skip]).astype(F), layer.activation)
    raise AssertionError(layer)


@pytest.mark.parametrize("config", ["float32", "mixed"])
def test_network_forward_and_backward_follow_the_contract(tiny_model, config) -> None:
    """Logits, weight/bias gradients and input errors of every float layer, bit for bit."""
    model, x, y = tiny_model
    spec = model.spec
    plan = sim.make_plan(model, config, spec.param_layers(), 1.0)
    weights, consts = sim.plan_weights(plan, model), sim.runtime_constants(model)

    @jax.jit
    def run(x, y):
        outputs = sim.run_layers(plan, weights, consts, x, None)
        logits, saved = sim.forward(plan, weights, consts, x, keep=True)
        _, dlogits = sim.softmax_cross_entropy(logits, y)
        errors: dict = {}
        grads, _ = sim.backward(plan, weights, consts, saved, dlogits, None, errors)
        return outputs, logits, saved, grads, errors

    outputs, logits, saved, grads, errors = run(jnp.asarray(x), jnp.asarray(y))
    params = {i: {k: np.asarray(v) for k, v in p.items()} for i, p in weights.items()}
    ref: dict[int, np.ndarray] = {}
    for i, layer in enumerate(spec.layers):
        if not plan.is_float(i):
            continue
        if i == plan.float_from:
            inp = np.asarray(saved[f"x{i}"]) if f"x{i}" in saved else np.asarray(x, F)
        else:
            inp = ref[i - 1]
        ref[i] = _reference_layer(layer, inp, params.get(i), ref, i)
        assert_bits(outputs[i], ref[i])
    assert_bits(logits, ref[len(spec.layers) - 1])
    for i in spec.param_layers():
        if not plan.is_float(i):
            continue
        layer, e, xi = spec.layers[i], np.asarray(errors[i]), np.asarray(saved[f"x{i}"])
        if isinstance(layer, Conv):
            assert_bits(grads[i].w, ref_conv_weight_grad(layer, xi, e))
            assert_bits(grads[i].b, ref_spatial_sum(e))
        else:
            assert_bits(grads[i].w, xi[:, :, None] * e[:, None, :])
    # Input errors where the upstream layer passes them on unchanged (no merge) or through a mask.
    e9, w9 = np.asarray(errors[9]), params[9]["w"]
    y8 = np.asarray(saved["y8"])
    assert_bits(errors[8], np.where(y8 > 0, ref_dense_input_error(e9, w9), F(0.0)))
    if config == "float32":
        assert_bits(errors[4], ref_conv_input_error(spec.layers[5], spec.input_of(5), np.asarray(errors[5]),
                                                    params[5]["w"]))
        e4 = np.asarray(errors[4])  # the average pool's error, spread over its window times 1/2
        assert_bits(errors[3], np.repeat(e4, 2, axis=1) * (F(1.0) / F(2.0)))
        y1 = np.asarray(saved["y1"])
        dx = ref_conv_input_error(spec.layers[2], spec.input_of(2), np.asarray(errors[2]), params[2]["w"])
        assert_bits(errors[1], np.where((y1 > 0) & (y1 < 6), dx, F(0.0)))
    else:  # the float head meets the uint8 body at the global average pool
        assert plan.float_from == 8
        assert isinstance(errors[7], K.QError)
