"""Float layers: FloatNet (eval) and the folded float_forward agree; folding and re-init are exact."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from explore.train.floatnet import (DepthwiseConv, FloatNet, float_forward, fold_batchnorm, init_float_params,
                                    init_variables, reinit_layers)
from explore.model.spec import Add, AvgPool, Conv, Dense, GlobalAvgPool, ModelSpec, paper_cnn


def one_d_spec() -> ModelSpec:
    """1-D net touching depthwise conv, both Add forms (input and layer skip), avg pool, GAP, no-BN conv."""
    return ModelSpec(
        input_shape=(32, 4),
        num_classes=3,
        layers=(
            Conv(4, (5,)),
            Add(skip=-1, activation="relu"),
            Conv(4, (3,), depthwise=True, activation="relu6"),
            Add(skip=1),
            AvgPool((2,)),
            Conv(8, (3,), strides=(2,), padding="valid", batchnorm=False),
            GlobalAvgPool(),
            Dense(3),
        ),
    )


SPECS = {"paper_cnn_2d": paper_cnn((8, 8, 1), 10), "residual_1d": one_d_spec()}


def train_a_little(spec: ModelSpec, steps: int = 5, seed: int = 0) -> tuple[dict, np.ndarray]:
    """A few train-mode Adam steps, so BN gamma/beta and running statistics move off their init."""
    rng = np.random.default_rng(seed)
    # Offset, scaled inputs: batch means/vars far from BN's init (0, 1) make the fold non-trivial.
    x = (rng.normal(size=(32, *spec.input_shape)) * 2.0 + 0.7).astype(np.float32)
    y = rng.integers(0, spec.num_classes, size=32)
    net = FloatNet(spec)
    variables = init_variables(spec, seed)
    params, stats = variables["params"], variables.get("batch_stats", {})
    tx = optax.adam(1e-2)
    opt = tx.init(params)

    @jax.jit
    def step(params, stats, opt):
        def loss_fn(p):
            logits, upd = net.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd["batch_stats"]
        (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), stats, opt

    for _ in range(steps):
        params, stats, opt = step(params, stats, opt)
    return {"params": params, "batch_stats": stats}, x


@pytest.mark.parametrize("name", sorted(SPECS))
def test_folded_forward_matches_flax_eval(name: str) -> None:
    spec = SPECS[name]
    variables, x = train_a_little(spec)
    mean = np.asarray(variables["batch_stats"]["layer_0"]["bn"]["mean"])
    assert np.abs(mean).max() > 1e-2, "BN running mean should have moved off zero"

    expected = FloatNet(spec).apply(variables, x, train=False)
    got = float_forward(fold_batchnorm(spec, variables), x)
    assert got.shape == (x.shape[0], spec.num_classes)
    assert np.abs(np.asarray(expected)).max() > 0.1  # logits are not trivially zero
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_train_mode_differs_from_eval() -> None:
    # Guards the comparison above: eval must use running stats, not the batch's.
    spec = SPECS["paper_cnn_2d"]
    variables, x = train_a_little(spec)
    net = FloatNet(spec)
    train_out, _ = net.apply(variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(np.asarray(train_out), np.asarray(net.apply(variables, x, train=False)), atol=1e-3)


def test_fold_formula_on_one_conv() -> None:
    spec = ModelSpec((4, 4, 2), 2, (Conv(3, (1, 1)), GlobalAvgPool(), Dense(2)))
    variables = jax.tree_util.tree_map(np.asarray, init_variables(spec, 0))
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.1, -0.2, 0.3])
    mean, var = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0])
    variables["params"]["layer_0"]["bn"] = {"scale": gamma, "bias": beta}
    variables["batch_stats"]["layer_0"]["bn"] = {"mean": mean, "var": var}
    folded = fold_batchnorm(spec, variables).params[0]
    scale = gamma / np.sqrt(var + 1e-5)
    w = variables["params"]["layer_0"]["conv"]["kernel"]
    np.testing.assert_allclose(folded["w"], w * scale, rtol=1e-6)
    np.testing.assert_allclose(folded["b"], beta - mean * scale, rtol=1e-6)
    assert folded["w"].dtype == np.float32 and folded["b"].dtype == np.float32
    assert "bias" not in variables["params"]["layer_0"]["conv"]  # BN convs carry no conv bias


def test_depthwise_kernel_layout() -> None:
    model = init_float_params(one_d_spec(), 0)
    assert model.params[2]["w"].shape == (3, 1, 4)  # (k, 1, features)
    assert model.params[0]["w"].shape == (5, 4, 4)
    assert model.params[7]["w"].shape == (8, 3)


def test_init_is_seeded() -> None:
    spec = SPECS["paper_cnn_2d"]
    a, b, c = (init_float_params(spec, s) for s in (0, 0, 1))
    assert np.array_equal(a.params[0]["w"], b.params[0]["w"])
    assert not np.array_equal(a.params[0]["w"], c.params[0]["w"])
    assert sorted(a.params) == list(spec.param_layers())
    assert all(np.all(p["b"] == 0) for p in a.params.values())


def test_reinit_changes_only_chosen_layer() -> None:
    spec = SPECS["paper_cnn_2d"]
    variables, _ = train_a_little(spec)
    model = fold_batchnorm(spec, variables)
    new = reinit_layers(model, {4}, seed=7)
    assert new.params[4]["w"].shape == model.params[4]["w"].shape
    assert not np.allclose(new.params[4]["w"], model.params[4]["w"])
    assert np.all(new.params[4]["b"] == 0)
    np.testing.assert_array_equal(new.params[4]["w"], init_float_params(spec, 7).params[4]["w"])
    for i in (0, 1, 5):
        for k in ("w", "b"):
            np.testing.assert_array_equal(new.params[i][k], model.params[i][k])
    assert model.params[4]["b"].any(), "the original model must be left untouched"


@pytest.mark.parametrize("index", [2, 3, 99, -1])
def test_reinit_rejects_non_param_layers(index: int) -> None:
    model = init_float_params(SPECS["paper_cnn_2d"], 0)
    with pytest.raises(ValueError, match=rf"layer {index}\b"):
        reinit_layers(model, {0, index}, seed=1)


def test_float_forward_rejects_wrong_shape() -> None:
    model = init_float_params(SPECS["paper_cnn_2d"], 0)
    with pytest.raises(ValueError, match="expected"):
        float_forward(model, jnp.zeros((2, 8, 8)))


class Depthwise(nn.Module):
    """A depthwise conv submodule named ``conv`` as in :class:`QConv`: ours, or as Flax computed it
    before (``nn.Conv`` with one group per channel)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    use_bias: bool
    grouped: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.grouped:
            return nn.Conv(x.shape[-1], self.kernel, self.strides, self.padding.upper(),
                           feature_group_count=x.shape[-1], use_bias=self.use_bias, name="conv")(x)
        return DepthwiseConv(self.kernel, self.strides, self.padding, self.use_bias, name="conv")(x)


@pytest.mark.parametrize("kernel,strides,padding,use_bias", [
    ((5,), (1,), "same", False), ((7,), (2,), "valid", True), ((3, 3), (2, 2), "same", True),
    ((5, 3), (1, 2), "valid", False)])
def test_depthwise_conv_module_matches_flax_grouped_conv(kernel, strides, padding, use_bias) -> None:
    """Same variables from the same seed; outputs and gradients equal up to float rounding."""
    shape = (3,) + (11,) * len(kernel) + (6,)
    x = jax.random.normal(jax.random.key(1), shape)
    ours = Depthwise(kernel, strides, padding, use_bias, grouped=False)
    theirs = Depthwise(kernel, strides, padding, use_bias, grouped=True)
    variables = ours.init(jax.random.key(0), x)
    grouped_variables = theirs.init(jax.random.key(0), x)
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(grouped_variables)
    for a, b in zip(jax.tree_util.tree_leaves(variables), jax.tree_util.tree_leaves(grouped_variables)):
        np.testing.assert_array_equal(a, b)
    if use_bias:
        variables = jax.tree_util.tree_map(lambda v: v + 0.1, variables)

    def loss(module):
        return lambda v, x: jnp.sum(jnp.tanh(module.apply(v, x)) * jnp.arange(1.0, 7.0))

    np.testing.assert_allclose(ours.apply(variables, x), theirs.apply(variables, x), rtol=1e-5, atol=1e-5)
    grads = jax.grad(loss(ours), argnums=(0, 1))(variables, x)
    want = jax.grad(loss(theirs), argnums=(0, 1))(variables, x)
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
