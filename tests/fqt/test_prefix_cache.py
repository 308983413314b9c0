"""The frozen-prefix cache of on-device training (issue 16): the layers before the first trainable
one run once per data set, the step and the per-epoch evaluation start from their outputs, and not
a bit of the result changes."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import jax
import numpy as np
import pytest

from explore.fqt import api
from explore.fqt import simulator as sim
from explore.fqt.api import train_on_device, training_plans
from explore.model.spec import Add, Conv, Dense, GlobalAvgPool, ModelSpec
from explore.train.floatnet import init_float_params
from explore.train.ptq import quantize_model

from small_network import random_samples, residual_spec


@pytest.fixture(scope="module")
def model():
    spec = residual_spec()
    return quantize_model(init_float_params(spec, seed=0), random_samples(spec, 64, seed=1)[0])


def _train(model, config: str, trainable=(2, 6, 7), epochs: int = 3):
    x, y = random_samples(model.spec, 40, seed=3)
    x_test, y_test = random_samples(model.spec, 30, seed=4)
    return train_on_device(model, x, y, x_test, y_test, trainable=trainable, config=config, lambda_min=0.5,
                           lr=0.05, batch_size=16, epochs=epochs, seed=5)


def _uncached(monkeypatch) -> None:
    """Make training run every layer from the raw input in every step, as before the cache."""
    cached = api.training_plans
    monkeypatch.setattr(api, "training_plans", lambda *args: tuple(replace(p, start=0) for p in cached(*args)))


def _same(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.asarray(p).dtype == np.asarray(q).dtype and np.array_equal(np.asarray(p), np.asarray(q))
        for p, q in zip(leaves_a, leaves_b))


def test_the_cut_keeps_every_tensor_the_layers_after_it_read() -> None:
    spec = residual_spec()
    assert sim.prefix_tensors(spec, 1) == (0,)       # 1 and the add both read 0
    assert sim.prefix_tensors(spec, 2) == (0, 1)     # the add's skip crosses the cut
    assert sim.prefix_tensors(spec, 3) == (0, 2)
    assert sim.prefix_tensors(spec, 4) == (3,)       # the add is inside the prefix
    from_input = ModelSpec((12, 6), 4, (Conv(6, (3,)), Conv(6, (1,), activation="none"), Add(skip=-1),
                                        GlobalAvgPool(), Dense(4)))
    assert sim.prefix_tensors(from_input, 1) == (-1, 0)  # a skip from the network input
    assert sim.prefix_tensors(from_input, 3) == (2,)


def test_training_starts_at_the_first_trainable_layer(model) -> None:
    step, evaluation = training_plans(model, "uint8", (2, 6, 7), 0.5)
    assert step.start == evaluation.start == 2
    assert step.trainable == (2, 6, 7) and evaluation.trainable == ()
    assert training_plans(model, "uint8", (0, 7), 1.0)[0].start == 0  # nothing frozen before: no prefix


@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
def test_the_prefix_outputs_are_what_the_whole_forward_computes(model, config: str) -> None:
    _, evaluation = training_plans(model, config, (2, 6, 7), 1.0)
    whole = sim.inference_plan(model, config)
    weights, consts = sim.plan_weights(whole, model), sim.runtime_constants(model)
    x = jax.device_put(random_samples(model.spec, 16, seed=6)[0])
    prefix = jax.jit(sim.prefix_outputs, static_argnums=0)(evaluation, weights, consts, x)
    logits = jax.jit(lambda w, c, t: sim.forward(evaluation, w, c, t, keep=False)[0])(weights, consts, prefix)
    outputs = jax.jit(lambda w, c, t: sim.run_layers(whole, w, c, t, None))(weights, consts, x)
    assert _same(prefix, tuple(outputs[t] for t in (0, 1)))
    assert _same(logits, sim.forward(whole, weights, consts, x, keep=False)[0])
    if config != "float32":  # integer layers: exact codes, kept small
        assert all(t.dtype == np.uint8 for t in prefix)


@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
def test_training_from_the_cached_prefix_gives_the_bits_of_training_from_the_input(model, config, monkeypatch) -> None:
    cached = _train(model, config)
    _uncached(monkeypatch)
    direct = _train(model, config)
    assert _same((cached.model.params, cached.model.float_model.params),
                 (direct.model.params, direct.model.float_model.params))
    assert cached.history == direct.history and cached.update_rates == direct.update_rates


def test_the_prefix_runs_once_per_data_set_and_nowhere_else(model, monkeypatch) -> None:
    """Traced once (one padded shape serves both data sets) and run once per batch of each data
    set whatever the epochs; the step and the evaluation never trace a layer before the cut."""
    traced: Counter = Counter()
    layer_forward = sim._layer_forward

    def tracing(plan, weights, consts, i, *rest):
        traced[i] += 1
        return layer_forward(plan, weights, consts, i, *rest)

    runs: list[int] = []
    prefix_fn = api._prefix_fn

    def counting(plan):
        jitted = prefix_fn(plan)

        def run(*args):
            runs.append(plan.start)
            return jitted(*args)
        return run

    monkeypatch.setattr(sim, "_layer_forward", tracing)
    monkeypatch.setattr(api, "_prefix_fn", counting)
    for cache in (api._step_fn, api._logits_fn, prefix_fn):
        cache.cache_clear()  # compile afresh, so the tracing shows which layers each program runs
    _train(model, "uint8", epochs=3)
    assert runs == [2, 2]  # 40 training and 30 test samples: one batch each, not one per epoch
    assert traced[0] == traced[1] == 1  # the prefix program alone
    assert traced[2] >= 2 and traced[7] >= 2  # the step and the evaluation

    runs.clear()
    _train(model, "uint8", trainable=(0, 7), epochs=3)
    assert runs == []  # the first layer trains: no prefix, every step runs from the input
