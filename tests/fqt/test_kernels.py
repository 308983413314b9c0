"""Integer kernels against float references, and the uint8 Flax forms against the simulator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt import kernels as K
from explore.fqt import quant
from explore.fqt import simulator as sim
from explore.train.floatnet import init_float_params
from explore.fqt.qlayers import int_net
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec, paper_cnn
from explore.train.ptq import quantize_model

RNG = np.random.default_rng(42)


def _qp(x: np.ndarray) -> quant.QParams:
    return quant.choose_qparams(np.float32(x.min()), np.float32(x.max()))


def _codes_and_real(x: np.ndarray) -> tuple[jnp.ndarray, quant.QParams, np.ndarray]:
    qp = _qp(x)
    q = quant.quantize(x, qp)
    return q, qp, np.asarray(quant.dequantize(q, qp), np.float64)


CONV_CASES = [
    ("conv2d_same", (1, 6, 6, 3), Conv(4, (3, 3), activation="none")),
    ("conv2d_valid_stride2_relu", (1, 7, 7, 2), Conv(5, (3, 3), strides=(2, 2), padding="valid", activation="relu")),
    ("conv1d_same_relu6", (1, 20, 3), Conv(6, (5,), activation="relu6")),
    ("depthwise2d", (1, 5, 5, 4), Conv(4, (3, 3), depthwise=True, activation="relu")),
    ("conv2d_many_terms", (1, 6, 6, 40), Conv(3, (3, 3), activation="none")),  # 360 terms: split path
    ("dense", (1, 300), Dense(7, activation="relu")),                             # 300 terms: split path
]


@pytest.mark.parametrize("name,in_shape,layer", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_integer_conv_and_dense_within_one_step_of_float(name, in_shape, layer) -> None:
    batch = 8
    x = RNG.normal(size=(batch,) + in_shape[1:]).astype(np.float32)
    if isinstance(layer, Dense):
        w_shape = (in_shape[-1], layer.features)
        float_op = lambda a, w: a @ w  # noqa: E731
        terms = in_shape[-1]
    else:
        w_shape = layer.kernel + (1 if layer.depthwise else in_shape[-1], layer.features)
        float_op = K.conv_fn(layer, in_shape[1:])
        terms = int(np.prod(layer.kernel)) * (1 if layer.depthwise else in_shape[-1])
    w = (RNG.normal(size=w_shape) * 0.3).astype(np.float32)
    b = (RNG.normal(size=layer.features) * 0.1).astype(np.float32)
    x_q, x_qp, x_real = _codes_and_real(x)
    w_q, w_qp, w_real = _codes_and_real(w)
    # Float reference on the dequantized operands: only bias and output rounding remain.
    y_real = np.asarray(float_op(jnp.asarray(x_real, jnp.float32), jnp.asarray(w_real, jnp.float32))) + b
    y_real = K.activate_float(jnp.asarray(y_real), layer.activation)
    y_qp = _qp(np.asarray(y_real))
    b_q, m0, shift = quant.bias_and_multiplier(b, w_qp.scale, x_qp.scale, y_qp.scale)
    p = {"w_q": w_q, "w_zero": w_qp.zero, "b_q": b_q, "m0": m0, "shift": shift}
    out_range = K.activation_range(layer.activation, float(y_qp.scale), int(y_qp.zero))
    info = K.ParamLayerQ(layer, in_shape[1:], terms, out_range)
    got = np.asarray(K.param_forward_q(info, p, x_q.astype(jnp.int32) - x_qp.zero, y_qp.zero)).astype(int)
    want = np.asarray(quant.quantize(y_real, y_qp)).astype(int)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1
    assert np.mean(got == want) > 0.9  # mostly exact; off-by-one only at rounding boundaries


def test_integer_average_pools_within_one_step() -> None:
    x = RNG.integers(0, 256, (4, 6, 6, 3)).astype(np.uint8)
    avg = np.asarray(K.avgpool_forward_q(jnp.asarray(x), (2, 2))).astype(int)
    want = x.reshape(4, 3, 2, 3, 2, 3).mean(axis=(2, 4))
    assert np.max(np.abs(avg - want)) <= 0.5
    gap = np.asarray(K.gap_forward_q(jnp.asarray(x))).astype(int)
    assert np.max(np.abs(gap - x.mean(axis=(1, 2)))) <= 0.5


def test_max_pool_is_exact_and_routes_error_to_first_maximum() -> None:
    x = jnp.asarray([[[3], [7], [7], [1]]], jnp.uint8)  # 1-D, window 2
    y, arg = K.maxpool_forward(x, (2,))
    np.testing.assert_array_equal(np.asarray(y)[0, :, 0], [7, 7])
    routed = K.maxpool_backward(jnp.asarray([[[5], [-2]]]), arg, (2,), (4, 1))
    np.testing.assert_array_equal(np.asarray(routed)[0, :, 0], [0, 5, -2, 0])


def test_integer_add_within_one_step_of_float() -> None:
    a = RNG.normal(size=(4, 10, 3)).astype(np.float32)
    b = (RNG.normal(size=(4, 10, 3)) * 3).astype(np.float32)
    a_q, a_qp, a_real = _codes_and_real(a)
    b_q, b_qp, b_real = _codes_and_real(b)
    y_qp = _qp(a_real + b_real)
    mult = K.add_multipliers(np.float32(a_qp.scale), np.float32(b_qp.scale), np.float32(y_qp.scale))
    got = np.asarray(K.add_forward_q(a_q, b_q, a_qp.zero, b_qp.zero, y_qp.zero, mult, (0, 255))).astype(int)
    want = np.asarray(quant.quantize(a_real + b_real, y_qp)).astype(int)
    assert np.max(np.abs(got - want)) <= 1


def _net_cases():
    yield "paper_cnn", paper_cnn((8, 8, 1), 10)
    yield "residual_1d", ModelSpec((16, 2), 5, (
        Conv(6, (3,)), Conv(6, (3,), depthwise=True, activation="relu6"), Conv(6, (1,), activation="none"),
        Add(skip=0), AvgPool((2,)), GlobalAvgPool(), Dense(5)))
    yield "flatten_2d", ModelSpec((6, 6, 2), 3, (Conv(4, (3, 3), strides=(2, 2)), MaxPool((3, 3)), Flatten(), Dense(3)))


@pytest.mark.parametrize("name,spec", list(_net_cases()), ids=[c[0] for c in _net_cases()])
def test_flax_uint8_network_equals_simulator_forward(name, spec) -> None:
    x = RNG.normal(size=(16,) + spec.input_shape).astype(np.float32)
    model = quantize_model(init_float_params(spec, seed=1), x)
    net, variables = int_net(model)
    flax_logits = np.asarray(jax.jit(net.apply)(variables, x))
    plan = sim.make_plan(model, "uint8", spec.param_layers(), 1.0)
    sim_logits, _ = sim.forward(plan, sim.plan_weights(plan, model), sim.runtime_constants(model), jnp.asarray(x), keep=False)
    np.testing.assert_array_equal(flax_logits, np.asarray(sim_logits))
    # and the integer network approximates the float network it was quantized from
    float_plan = sim.make_plan(model, "float32", spec.param_layers(), 1.0)
    float_logits, _ = sim.forward(float_plan, sim.plan_weights(float_plan, model), sim.runtime_constants(model),
                                  jnp.asarray(x), keep=False)
    error = np.max(np.abs(flax_logits - np.asarray(float_logits)))
    assert error < 0.1 * np.max(np.abs(np.asarray(float_logits)))
