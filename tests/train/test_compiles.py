"""Compile once per shape, not once per trial (issue 16): the compile counter, the persistent cache,
and that models of one spec share every compiled program without changing a bit of their results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.fqt import api
from explore.fqt import kernels as K
from explore.fqt import simulator as sim
from explore.fqt.api import evaluate, train_on_device
from explore.model.deployable import QuantizedModel, TensorQuant
from explore.model.spec import Dense, GlobalAvgPool, ModelSpec
from explore.train.compile_cache import cache_dir, compilation_cache
from explore.train.compile_count import CompileCounter
from explore.train.floatnet import FloatNet, init_float_params, init_variables, reinit_layers
from explore.train.ptq import quantize_model, requantize_layers

from small_network import random_samples, residual_spec


def _fresh(fn):
    """A function JAX has never seen, so calling it must compile."""
    return jax.jit(lambda x: fn(x) * 3.0 + 1.0)


def test_the_compile_counter_counts_compilations_by_stage_and_only_while_entered() -> None:
    x = np.arange(7, dtype=np.float32)
    square = _fresh(jnp.square)
    with CompileCounter() as compiles:
        with compiles.stage("first"):
            square(x)
        with compiles.stage("again"):
            square(x)  # compiled already
        _fresh(jnp.sin)(x)  # outside any stage
    _fresh(jnp.cos)(x)  # after the counter closed
    first, again, other = compiles.stages["first"], compiles.stages["again"], compiles.stages["other"]
    assert first.count == 1 and first.seconds > 0 and first.cache_hits == 0
    assert again.count == 0 and again.seconds == 0
    assert other.count == 1
    assert compiles.total().count == 2
    table = compiles.to_dict()
    assert set(table) == {"first", "again", "other", "total"}
    assert table["total"]["count"] == 2 and table["first"]["seconds"] == first.seconds


def test_the_persistent_cache_keeps_programs_under_the_campaign_and_serves_a_fresh_process(tmp_path: Path) -> None:
    before = jax.config.jax_compilation_cache_dir
    x = np.arange(5, dtype=np.float32)
    with compilation_cache(tmp_path / "results" / "demo") as path:
        assert path == cache_dir(tmp_path / "results" / "demo") == tmp_path / "results" / "demo" / "jax_cache"
        expected = np.asarray(_fresh(jnp.tanh)(x))
        assert any(path.iterdir()), "the compiled program is on disk"
        jax.clear_caches()  # what a fresh process starts with
        with CompileCounter() as compiles:
            again = np.asarray(_fresh(jnp.tanh)(x))
    assert compiles.total().cache_hits == compiles.total().count == 1
    assert np.array_equal(again, expected)
    assert jax.config.jax_compilation_cache_dir == before  # the previous settings are back


def _shifted(model: QuantizedModel) -> QuantizedModel:
    """``model`` with other activation quantizations, consistently requantized: ReLU6 clamps below
    255 and ReLU zero points above 0, which calibration on the float network never gives."""
    acts = list(model.act_quant)
    acts[1] = TensorQuant(np.float32(0.05), 12)  # ReLU6: codes 12..132
    acts[3] = acts[4] = acts[5] = TensorQuant(np.float32(0.04), 7)  # ReLU add; pooling keeps its input's
    acts[6] = TensorQuant(np.float32(0.03), 20)  # ReLU6: codes 20..220
    adds = {3: K.add_multipliers(acts[2].scale, acts[0].scale, acts[3].scale)}
    shifted = replace(model, act_quant=tuple(acts), adds=adds)
    return requantize_layers(shifted, shifted.float_model, set(model.spec.param_layers()))


@pytest.fixture(scope="module")
def two_models():
    """Two quantized models of one spec whose weights, scales, zero points, multipliers, clamp
    ranges and gradient windows all differ; and the compilations the second one's init and PTQ took."""
    spec = residual_spec()
    x_a, _ = random_samples(spec, 64, seed=1)
    x_b, _ = random_samples(spec, 64, seed=2, scale=3.0)
    first = quantize_model(init_float_params(spec, seed=0), x_a)
    with CompileCounter() as compiles:
        second = quantize_model(init_float_params(spec, seed=1), x_b)
    second = _shifted(second)
    assert sim.output_ranges(first) != sim.output_ranges(second)
    assert sim.gradient_windows(first) != sim.gradient_windows(second)
    return first, second, compiles.total().count


def test_init_and_ptq_of_a_second_model_of_one_spec_compile_nothing(two_models) -> None:
    assert two_models[2] == 0


def _train(model, config: str = "uint8", lambda_min: float = 0.5):
    spec = model.spec
    x, y = random_samples(spec, 40, seed=3)
    x_test, y_test = random_samples(spec, 30, seed=4)
    return train_on_device(model, x, y, x_test, y_test, trainable=(2, 6, 7), config=config, lambda_min=lambda_min,
                           batch_size=16, epochs=2, seed=5)


def _same(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.asarray(p).dtype == np.asarray(q).dtype and np.array_equal(np.asarray(p), np.asarray(q))
        for p, q in zip(leaves_a, leaves_b))


@pytest.mark.parametrize("config", ["uint8", "mixed"])
def test_one_compiled_step_serves_two_models_of_the_same_shapes(two_models, config: str) -> None:
    first, second, _ = two_models
    # The first model does what the second will: its training evaluates from the frozen prefix's
    # outputs, so the whole-network evaluation compiles with evaluate().
    evaluate(_train(first, config).model, *random_samples(first.spec, 30, seed=4), config)
    with CompileCounter() as shared:
        result = _train(second, config)
        accuracy = evaluate(result.model, *random_samples(second.spec, 30, seed=4), config)
    assert shared.total().count == 0, shared.to_dict()

    # Compiled for the second model alone, from scratch: the same bits.
    api._step_fn.cache_clear()
    api._logits_fn.cache_clear()
    with CompileCounter() as alone:
        separate = _train(second, config)
    assert alone.total().count > 0
    assert _same((result.model.params, result.model.float_model.params),
                 (separate.model.params, separate.model.float_model.params))
    assert result.history == separate.history and result.update_rates == separate.update_rates
    assert accuracy == result.test_accuracy


def test_evaluation_pads_its_last_batch_without_changing_a_logit(two_models) -> None:
    model = two_models[0]
    x, _ = random_samples(model.spec, 37, seed=6)
    plan = sim.inference_plan(model, "uint8")
    weights, consts = sim.plan_weights(plan, model), sim.runtime_constants(model)
    direct = np.asarray(sim.forward(plan, weights, consts, jnp.asarray(x), keep=False)[0])
    padded = api._predict(api._logits_fn(plan), weights, consts, x, batch_size=16)
    assert padded.shape == direct.shape and np.array_equal(padded, direct)


def test_init_draws_flax_default_distributions_on_the_host_and_compiles_nothing() -> None:
    spec = residual_spec()
    with CompileCounter() as compiles:
        variables = init_variables(spec, 7)
    assert compiles.total().seconds < 0.5, compiles.to_dict()  # a few device_put transfers at most
    flax_init = FloatNet(spec).init(jax.random.key(7), jnp.zeros((1, *spec.input_shape), jnp.float32), train=False)
    flax_tree = jax.tree_util.tree_map(lambda v: (v.shape, v.dtype), dict(flax_init))
    assert jax.tree_util.tree_map(lambda v: (v.shape, v.dtype), variables) == flax_tree
    for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
        name, leaf = path[-1].key, np.asarray(leaf)
        if name == "kernel":  # lecun_normal: truncated at 2 sigma of the underlying normal, variance 1/fan_in
            fan_in = int(np.prod(leaf.shape[:-1]))
            assert np.abs(leaf).max() <= 2.0 * np.sqrt(1.0 / fan_in) / 0.87962566103423978 + 1e-6
            assert leaf.std() == pytest.approx(np.sqrt(1.0 / fan_in), rel=0.5)
        else:
            assert np.all(leaf == {"bias": 0.0, "scale": 1.0, "mean": 0.0, "var": 1.0}[name]), path
    assert _same(init_variables(spec, 7), variables)
    assert not _same(init_variables(spec, 8), variables)
    # Re-initialising some layers gives them exactly what a whole-network init gives them.
    model = init_float_params(spec, 0)
    whole = init_float_params(spec, 7)
    fresh = reinit_layers(model, {6, 7}, seed=7)
    assert _same([fresh.params[i] for i in (6, 7)], [whole.params[i] for i in (6, 7)])
    assert _same([fresh.params[i] for i in (0, 1, 2)], [model.params[i] for i in (0, 1, 2)])


def test_lecun_normal_on_the_host_matches_flax_statistics() -> None:
    """Many draws of one big kernel: the moments of Flax's lecun_normal, not merely its support."""
    spec = ModelSpec((4, 400), 2, (GlobalAvgPool(), Dense(2000), Dense(2)))
    ours = np.asarray(init_variables(spec, 0)["params"]["layer_1"]["dense"]["kernel"]).ravel()
    flax_init = FloatNet(spec).init(jax.random.key(0), jnp.zeros((1, 4, 400), jnp.float32), train=False)
    theirs = np.asarray(flax_init["params"]["layer_1"]["dense"]["kernel"]).ravel()
    assert ours.shape == theirs.shape
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)
    assert np.mean(np.abs(ours) > theirs.std()) == pytest.approx(np.mean(np.abs(theirs) > theirs.std()), abs=0.005)
