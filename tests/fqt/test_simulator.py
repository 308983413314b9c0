"""The FQT simulator against the equations of the paper and design.md, one test per claim."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from explore.errors import BadInput
from explore.fqt import kernels as K
from explore.fqt import simulator as sim
from explore.fqt.api import train_on_device
from explore.train.floatnet import float_forward, init_float_params
from explore.model.deployable import FloatModel
from explore.model.spec import Add, AvgPool, Conv, Dense, GlobalAvgPool, MaxPool, ModelSpec, paper_cnn
from explore.train.ptq import quantize_model

RNG = np.random.default_rng(0)


def residual_1d() -> ModelSpec:
    """A 1-D network with every layer kind the simulator supports backward through."""
    return ModelSpec((16, 2), 5, (
        Conv(6, (3,)),                                     # 0
        Conv(6, (3,), depthwise=True, activation="relu6"),  # 1
        Conv(6, (1,), activation="none"),                  # 2
        Add(skip=0),                                       # 3
        AvgPool((2,)),                                     # 4
        Conv(8, (3,), strides=(2,), padding="valid"),      # 5
        MaxPool((1,)),                                     # 6
        GlobalAvgPool(),                                   # 7
        Dense(12, activation="relu"),                      # 8
        Dense(5),                                          # 9
    ))


def _data(spec: ModelSpec, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n,) + spec.input_shape).astype(np.float32), rng.integers(0, spec.num_classes, n).astype(np.int32)


def _setup(model, config: str, trainable, lambda_min: float = 1.0):
    plan = sim.make_plan(model, config, tuple(trainable), lambda_min)
    return plan, sim.plan_weights(plan, model), sim.runtime_constants(model)


def _hyper(lr: float = 0.01, lambda_min: float = 1.0, lambda_max: float = 1.0) -> sim.Hyper:
    return sim.Hyper(jnp.float32(lr), jnp.float32(lambda_min), jnp.float32(lambda_max))


@pytest.fixture(scope="module")
def digits():
    from explore.train.demo import digits_setup

    return digits_setup(seed=0)


# --- Eq. (1), (2): float32 gradients are the true gradients -------------------------------------------------


@pytest.mark.parametrize("make_spec", [lambda: paper_cnn((8, 8, 1), 10), residual_1d], ids=["paper_cnn_2d", "residual_1d"])
def test_float32_gradient_buffers_equal_jax_grad(make_spec) -> None:
    spec = make_spec()
    x, y = _data(spec, 12)
    model = quantize_model(init_float_params(spec, seed=3), x)
    trainable = spec.param_layers()
    plan, weights, consts = _setup(model, "float32", trainable)
    out = sim.gradient_buffers(plan, weights, consts, jnp.asarray(x), jnp.asarray(y), jnp.ones(len(x), bool),
                               jnp.float32(0.0), _hyper())

    def total_loss(params):
        logits = float_forward(FloatModel(spec, params), x)
        return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    expected = jax.grad(total_loss)({i: dict(p) for i, p in model.float_model.params.items()})
    assert set(out["buffers"]) == set(trainable)
    for i in trainable:
        for got, want in ((out["buffers"][i].w, expected[i]["w"]), (out["buffers"][i].b, expected[i]["b"])):
            scale = float(np.max(np.abs(want)))
            assert scale > 0
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5 * scale)


# --- design 4: dynamically quantized errors stay close to the float errors ------------------------------------


def test_uint8_errors_track_float_errors_on_trained_network(digits) -> None:
    model = quantize_model(digits.model.float_model, digits.split.x_train)  # trained, no reset
    spec = model.spec
    x, y = jnp.asarray(digits.split.x_test[:96]), jnp.asarray(digits.split.y_test[:96])
    recorded = {}
    for config in ("uint8", "float32"):
        plan, weights, consts = _setup(model, config, spec.param_layers())
        logits, saved = sim.forward(plan, weights, consts, x, keep=True)
        _, dlogits = sim.softmax_cross_entropy(logits, y)
        recorded[config] = {}
        sim.backward(plan, weights, consts, saved, dlogits, None, errors=recorded[config])
    print("\ncosine(uint8 error, float32 error) per layer:")
    for i in spec.param_layers():
        err = recorded["uint8"][i]
        a = (np.asarray(err.scale)[:, None] * np.asarray(err.centred).reshape(len(x), -1)).ravel()
        b = np.asarray(recorded["float32"][i]).ravel()
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        print(f"  layer {i}: {cosine:.4f}")
        assert cosine >= 0.95, (i, cosine)


# --- Eqs. (5)-(8): the standardized, requantized update on a worked example --------------------------------------


def test_update_rule_matches_worked_example() -> None:
    # A dense layer with 3 inputs and 2 output channels, a minibatch of two samples.
    per_sample = np.array([
        [[0.1, -0.2], [0.3, 0.0], [-0.1, 0.4]],
        [[0.3, 0.2], [0.1, -0.2], [0.1, 0.0]],
    ], np.float32)
    valid = jnp.ones(2, bool)
    buffer = sim.accumulate(jnp.asarray(per_sample), valid)
    stats = sim.channel_statistics(jnp.asarray(per_sample), valid)
    # Channel 0 holds 0.1, 0.3, -0.1, 0.3, 0.1, 0.1: mean 0.8/6, squared deviations sum to
    # 0.113333, so sigma = sqrt(0.113333 / 6) = 0.137437.
    # Channel 1 holds -0.2, 0.0, 0.4, 0.2, -0.2, 0.0: mean 0.2/6, sigma = sqrt(0.273333 / 6) = 0.213437.
    mu = np.array([0.8 / 6, 0.2 / 6])
    sigma = np.array([np.sqrt(np.mean((per_sample[:, :, c] - mu[c]) ** 2)) for c in range(2)])
    np.testing.assert_allclose(np.asarray(buffer), per_sample[0] + per_sample[1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(stats.mean), mu, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.asarray(stats.m2) / 6), sigma, rtol=1e-5)
    assert float(stats.count) == 6.0
    np.testing.assert_allclose(sigma, [0.13743685, 0.21343747], rtol=1e-6)

    # g_hat = (g_mean - mu_c) / (sigma_c + 1e-8), with g_mean the minibatch mean.
    g_hat = sim.standardized_gradient(buffer, stats, jnp.float32(2.0))
    g_mean = (per_sample[0] + per_sample[1]) / 2
    expected_hat = (g_mean - mu) / (sigma + 1e-8)
    np.testing.assert_allclose(np.asarray(g_hat), expected_hat, rtol=1e-5)

    # Weights w = (q - 128) * 0.01 = [[0.1, -0.3], [0.3, 0.0], [-0.1, 0.4]], lr = 0.1.
    p = {"w_q": np.array([[138, 98], [158, 128], [118, 168]], np.uint8), "w_scale": np.float32(0.01),
         "w_zero": np.int32(128), "b_f": np.array([0.05, -0.05], np.float32), "b_q": np.zeros(2, np.int32),
         "m0": np.int32(0), "shift": np.int32(0)}
    bias_mean = jnp.asarray([0.4, -0.1], jnp.float32)
    new = sim.update_quantized(p, g_hat, bias_mean, jnp.float32(0.1), jnp.float32(0.02), jnp.float32(0.05))
    w = (p["w_q"].astype(np.float64) - 128) * 0.01
    w_f = w - 0.1 * expected_hat                     # Eq. (5) before requantization
    f_min, f_max = min(w_f.min(), 0.0), max(w_f.max(), 0.0)
    s_new = (f_max - f_min) / 255                    # Eq. (6)
    z_new = np.round(-f_min / s_new)                 # Eq. (7), rounded (design 9)
    q_new = np.clip(np.round(w_f / s_new) + z_new, 0, 255)
    assert np.all(np.abs(w_f / s_new - np.round(w_f / s_new)) < 0.45), "example must avoid rounding ties"
    np.testing.assert_allclose(float(new["w_scale"]), s_new, rtol=1e-6)
    assert int(new["w_zero"]) == z_new
    np.testing.assert_array_equal(np.asarray(new["w_q"]), q_new.astype(np.uint8))
    # The bias master copy takes a plain SGD step and is requantized to the new scale s' * s_x.
    b_new = np.array([0.05, -0.05]) - 0.1 * np.array([0.4, -0.1])
    np.testing.assert_allclose(np.asarray(new["b_f"]), b_new, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(new["b_q"]), np.round(b_new / (s_new * 0.02)).astype(np.int32))
    m0, shift = int(new["m0"]), int(new["shift"])
    np.testing.assert_allclose(m0 * 2.0 ** (shift - 31), s_new * 0.02 / 0.05, rtol=1e-6)


def test_update_requantizes_whole_tensor_even_for_untouched_channels() -> None:
    p = {"w_q": np.array([[10, 200], [250, 128]], np.uint8), "w_scale": np.float32(0.02), "w_zero": np.int32(128),
         "b_f": np.zeros(2, np.float32), "b_q": np.zeros(2, np.int32), "m0": np.int32(0), "shift": np.int32(0)}
    g_hat = jnp.asarray([[0.0, 5.0], [0.0, -5.0]], jnp.float32)  # channel 0 untouched
    new = sim.update_quantized(p, g_hat, jnp.zeros(2), jnp.float32(0.1), jnp.float32(1.0), jnp.float32(1.0))
    assert float(new["w_scale"]) != pytest.approx(0.02)  # the range grew, so the scale changed
    dequant = (np.asarray(new["w_q"]).astype(np.float64) - int(new["w_zero"])) * float(new["w_scale"])
    old = (p["w_q"].astype(np.float64) - 128) * 0.02
    np.testing.assert_allclose(dequant[:, 0], old[:, 0], atol=float(new["w_scale"]) / 2 + 1e-7)


# --- Eq. (9): dynamic sparse updates --------------------------------------------------------------------------


def test_top_k_keeps_largest_l1_channels_ties_to_lower_index() -> None:
    keep = K.keep_top_channels(jnp.asarray([[5, 1, 5, 3], [2, 2, 2, 1]]), jnp.asarray([2, 2]))
    np.testing.assert_array_equal(np.asarray(keep), [[True, False, True, False], [True, True, False, False]])
    keep = K.keep_top_channels(jnp.asarray([[0.1, 0.9, 0.5]]), jnp.asarray([1]))
    np.testing.assert_array_equal(np.asarray(keep), [[False, True, False]])


@pytest.mark.parametrize("lambda_min,lambda_max,channels", [(0.5, 1.0, 10), (0.1, 0.6, 7), (0.0, 0.3, 3), (0.25, 0.25, 16)])
def test_k_follows_eq9_at_eps_0_and_1(lambda_min: float, lambda_max: float, channels: int) -> None:
    # Sample 0 has the largest loss so far (eps = 1); sample 1 has zero loss (eps = 0).
    losses = jnp.asarray([2.0, 0.0])
    rate, loss_max = sim.update_rate(losses, jnp.ones(2, bool), jnp.float32(0.0),
                                     jnp.float32(lambda_min), jnp.float32(lambda_max))
    k = np.asarray(K.channels_to_keep(rate, channels))
    assert float(loss_max) == 2.0
    assert k[0] == max(1, int(np.floor(min(lambda_max, 1.0) * channels + 1e-6)))
    assert k[1] == max(1, int(np.floor(lambda_min * channels + 1e-6)))


def test_eps_uses_running_max_in_sample_order() -> None:
    rate, loss_max = sim.update_rate(jnp.asarray([1.0, 4.0, 2.0, 0.5]), jnp.asarray([True, True, True, False]),
                                     jnp.float32(2.0), jnp.float32(0.0), jnp.float32(1.0))
    # L_max before the batch is 2: eps = 1/2, 4/4, 2/4; the invalid sample does not count.
    np.testing.assert_allclose(np.asarray(rate)[:3], [0.5, 1.0, 0.5])
    assert float(loss_max) == 4.0


def test_sparse_backward_updates_exactly_top_k_channels(digits) -> None:
    model = digits.model
    spec = model.spec
    plan, weights, consts = _setup(model, "uint8", spec.param_layers(), lambda_min=0.3)
    x, y = jnp.asarray(digits.split.x_train[:8]), jnp.asarray(digits.split.y_train[:8])
    logits, saved = sim.forward(plan, weights, consts, x, keep=True)
    _, dlogits = sim.softmax_cross_entropy(logits, y)
    rate = jnp.linspace(0.3, 1.0, 8)
    errors: dict = {}
    grads, kept = sim.backward(plan, weights, consts, saved, dlogits, rate, errors=errors)
    for i in spec.param_layers():
        channels = spec.layers[i].features
        k = np.maximum(1, np.floor(np.asarray(rate) * channels)).astype(int)
        np.testing.assert_allclose(np.asarray(kept[i]), k / channels)
        l1 = np.abs(np.asarray(errors[i].centred)).reshape(8, -1, channels).sum(axis=1)  # exact int32 norms
        updated = np.abs(np.asarray(grads[i].b)) > 0
        for s in range(8):
            top = set(np.argsort(-l1[s], kind="stable")[:k[s]])
            assert set(np.flatnonzero(updated[s])) <= top
            assert not np.any(np.asarray(grads[i].w)[s][..., sorted(set(range(channels)) - top)])


# --- design 12: frozen layers keep nothing -------------------------------------------------------------------------


@pytest.mark.parametrize("trainable,expected_saved", [
    ((5,), {"x5"}),
    ((4, 5), {"x4", "y4", "x5"}),
    ((1, 5), {"x1", "y1", "arg2", "y4", "x5"}),
])
@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
def test_frozen_layers_have_no_buffers_and_no_stored_activations(digits, trainable, expected_saved, config) -> None:
    plan, weights, consts = _setup(digits.model, config, trainable)
    x, y = jnp.asarray(digits.split.x_train[:4]), jnp.asarray(digits.split.y_train[:4])
    out = sim.gradient_buffers(plan, weights, consts, x, y, jnp.ones(4, bool), jnp.float32(0.0), _hyper())
    assert set(out["saved"]) == expected_saved
    assert set(out["buffers"]) == set(trainable)
    assert set(out["stats"]) == set(trainable)
    step = sim.train_step(plan, *sim.split_weights(plan, digits.model),
                          consts, x, y, jnp.ones(4, bool), jnp.float32(0.0), _hyper())
    assert set(step.trainable) == set(trainable)


# --- bit-exactness prerequisites -------------------------------------------------------------------------------------


def test_training_step_is_identical_compiled_and_op_by_op() -> None:
    """Fusion must not change a single bit: what XLA fuses, the C runtime computes op by op."""
    spec = residual_1d()
    x, y = _data(spec, 6, seed=1)
    model = quantize_model(init_float_params(spec, seed=2), x)
    trainable = (0, 2, 5, 8, 9)
    plan, _, consts = _setup(model, "uint8", trainable, lambda_min=0.4)
    args = (*sim.split_weights(plan, model), consts, jnp.asarray(x), jnp.asarray(y), jnp.ones(6, bool),
            jnp.float32(0.0), _hyper(0.05, 0.4, 0.9))
    compiled = jax.jit(partial(sim.train_step, plan))(*args)
    with jax.disable_jit():
        eager = sim.train_step(plan, *args)
    flat_compiled, tree = jax.tree.flatten(compiled)
    flat_eager, tree_eager = jax.tree.flatten(eager)
    assert tree == tree_eager
    for a, b in zip(flat_compiled, flat_eager):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_training_is_deterministic_for_a_seed(digits) -> None:
    split = digits.split
    kwargs = dict(trainable=(4, 5), config="uint8", lambda_min=0.5, epochs=1, batch_size=32)
    first = train_on_device(digits.model, split.x_train[:200], split.y_train[:200], split.x_test[:50],
                            split.y_test[:50], seed=7, **kwargs)
    second = train_on_device(digits.model, split.x_train[:200], split.y_train[:200], split.x_test[:50],
                             split.y_test[:50], seed=7, **kwargs)
    other = train_on_device(digits.model, split.x_train[:200], split.y_train[:200], split.x_test[:50],
                            split.y_test[:50], seed=8, **kwargs)
    for i in (4, 5):
        np.testing.assert_array_equal(first.model.params[i]["w_q"], second.model.params[i]["w_q"])
    assert any(not np.array_equal(first.model.params[i]["w_q"], other.model.params[i]["w_q"]) for i in (4, 5))
    assert first.history == second.history


# --- learning: the paper's full on-device training (IV-D), on digits ------------------------------------------------


@pytest.mark.slow
def test_full_on_device_training_learns_digits(digits) -> None:
    split = digits.split
    trainable = digits.spec.param_layers()
    accuracy = {}
    for config, lambda_min in (("float32", 1.0), ("mixed", 1.0), ("uint8", 1.0), ("uint8", 0.5)):
        result = train_on_device(digits.model, split.x_train, split.y_train, split.x_test, split.y_test,
                                 trainable=trainable, config=config, lambda_min=lambda_min, lr=0.01,
                                 batch_size=48, epochs=8, seed=0)
        accuracy[(config, lambda_min)] = result.test_accuracy
        assert all(type(v) is float for v in result.update_rates.values())
        rates = {i: round(v, 3) for i, v in result.update_rates.items()}
        print(f"\n{config:8s} lambda_min={lambda_min}: held-out accuracy {result.test_accuracy:.4f}, update rates {rates}")
        if lambda_min < 1.0:
            assert all(0.5 <= v < 1.0 for v in result.update_rates.values())
    assert accuracy[("float32", 1.0)] >= 0.95
    assert accuracy[("mixed", 1.0)] >= 0.93
    assert accuracy[("uint8", 1.0)] >= 0.90
    assert accuracy[("uint8", 0.5)] >= accuracy[("uint8", 1.0)] - 0.02


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change,message", [
    (dict(lambda_min=-0.1), "lambda_min"),
    (dict(lambda_max=1.5), "lambda_max"),
    (dict(lambda_min=0.8, lambda_max=0.5), "lambda_min"),
    (dict(trainable=()), "trainable"),
    (dict(trainable=(2,)), "trainable"),
    (dict(config="int4"), "config"),
    (dict(lr=0.0), "lr"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_options_raise_value_error_naming_the_argument(digits, change, message) -> None:
    split = digits.split
    kwargs = dict(trainable=(5,), config="uint8", epochs=1) | change
    with pytest.raises(ValueError, match=message):
        train_on_device(digits.model, split.x_train[:10], split.y_train[:10], split.x_test[:10], split.y_test[:10], **kwargs)


@pytest.mark.parametrize("arrays,message", [
    (lambda s: (s.x_train[:10, :4], s.y_train[:10]), "x_train"),
    (lambda s: (s.x_train[:10].astype(np.int32), s.y_train[:10]), "x_train"),
    (lambda s: (s.x_train[:10], s.y_train[:9]), "y_train"),
    (lambda s: (s.x_train[:10], s.y_train[:10].astype(np.float32)), "y_train"),
    (lambda s: (s.x_train[:10], np.full(10, 10)), "y_train"),
    (lambda s: (s.x_train[:10], np.full(10, -1)), "y_train"),
])
def test_bad_arrays_raise_value_error_naming_the_argument(digits, arrays, message) -> None:
    x, y = arrays(digits.split)
    with pytest.raises(BadInput, match=message):
        train_on_device(digits.model, x, y, digits.split.x_test[:10], digits.split.y_test[:10], trainable=(5,), epochs=1)
