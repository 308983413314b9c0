"""AGP pruning: the schedule, L1 selection, monotone masks and the physical shrink of structured pruning."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from explore.data import load_digits_split
from explore.errors import BadInput
from explore.model.families import build_model
from explore.model import spec as S
from explore.model.channels import allocate_removed, channel_groups, pruned_spec
from explore.train.floatnet import float_forward, fold_batchnorm, init_variables
from explore.train.pretrain import pretrain_float, training_steps
from explore.train.agp import (AGPSchedule, kept_channels, ones_like_masks, shrink, sparsity_report, update_masks)


def test_schedule_follows_the_agp_formula() -> None:
    s = AGPSchedule("unstructured", final_sparsity=0.8, initial_sparsity=0.1, start_step=20, steps=5, frequency=10)
    assert s.sparsity_at(0) == 0.0 and s.sparsity_at(19) == 0.0
    for k in range(6):
        t = 20 + 10 * k
        expected = 0.8 + (0.1 - 0.8) * (1 - (t - 20) / (5 * 10)) ** 3
        assert s.is_pruning_step(t)
        assert s.sparsity_at(t) == pytest.approx(expected)
        assert s.sparsity_at(t + 9) == pytest.approx(expected)  # held between pruning steps
    assert not s.is_pruning_step(25) and not s.is_pruning_step(80)
    assert s.sparsity_at(10_000) == pytest.approx(0.8)
    assert s.end_step == 70


@pytest.mark.parametrize("kwargs", [dict(final_sparsity=1.0), dict(final_sparsity=0.3, initial_sparsity=0.5),
                                    dict(final_sparsity=0.5, steps=0), dict(final_sparsity=0.5, frequency=0)])
def test_schedule_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(BadInput, match="pruning"):
        AGPSchedule("structured", **kwargs)


def test_channel_allocation_is_exact_and_monotone() -> None:
    sizes = {1: 48, 5: 48, 7: 24, 8: 72, 10: 32, 11: 64}
    previous = dict.fromkeys(sizes, 0)
    for level in np.linspace(0, 0.9, 37):
        counts = allocate_removed(float(level), sizes)
        assert sum(counts.values()) == round(level * sum(sizes.values()))
        assert all(counts[i] >= previous[i] for i in sizes), "a higher sparsity must never un-prune"
        assert all(counts[i] < sizes[i] for i in sizes)
        previous = counts


def _perturbed_variables(spec: S.ModelSpec, seed: int) -> dict:
    """Fresh variables with random BN statistics, so folding is not the identity."""
    variables = jax.tree_util.tree_map(np.asarray, init_variables(spec, seed))
    rng = np.random.default_rng(seed)
    stats = jax.tree_util.tree_map(lambda v: np.abs(rng.normal(1.0, 0.3, v.shape)).astype(np.float32) + 0.1,
                                   variables["batch_stats"])
    params = jax.tree_util.tree_map(lambda v: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32),
                                    variables["params"])
    return {"params": params, "batch_stats": stats}


def _masked(variables: dict, masks) -> dict:
    return {"params": jax.tree_util.tree_map(np.multiply, variables["params"], masks),
            "batch_stats": variables["batch_stats"]}


@pytest.mark.parametrize("family,genome,shape", [
    ("mbednet", {"kernel": 5}, (40, 1)),
    ("dscnn", {"blocks": 2}, (8, 8, 1)),
    ("cnn", {"conv_layers": 3, "pool_every": 1}, (8, 8, 1)),
])
def test_structured_shrink_keeps_the_masked_function(family: str, genome: dict, shape: tuple) -> None:
    spec = build_model(family, genome, shape, 10)
    variables = _perturbed_variables(spec, 0)
    schedule = AGPSchedule("structured", 0.5, start_step=0, steps=2, frequency=1)
    masks = ones_like_masks(variables["params"])
    for t in range(3):
        masks = update_masks(spec, schedule, _masked(variables, masks), masks, t)
    masked = fold_batchnorm(spec, _masked(variables, masks))
    small = shrink(masked, kept_channels(spec, masks))
    x = np.random.default_rng(1).normal(size=(16, *shape)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(float_forward(small, x)), np.asarray(float_forward(masked, x)),
                               rtol=1e-5, atol=1e-5)
    report = sparsity_report(spec, small, schedule, masks)
    assert abs(report["reached"] - 0.5) <= 0.01
    # The cost model sizes the pruned network before training; it must be the network AGP leaves.
    assert pruned_spec(spec, 0.5) == small.spec
    assert report["params_after"] < report["params_before"]


def test_half_structured_pruning_halves_each_pruned_layer_whose_input_is_kept() -> None:
    spec = build_model("mbednet", {"kernel": 5}, (40, 1), 10)
    variables = _perturbed_variables(spec, 3)
    schedule = AGPSchedule("structured", 0.5, start_step=0, steps=1, frequency=1)
    masks = update_masks(spec, schedule, variables, ones_like_masks(variables["params"]), 1)
    small = shrink(fold_batchnorm(spec, _masked(variables, masks)), kept_channels(spec, masks))
    report = sparsity_report(spec, small, schedule, masks)
    checked = 0
    for key, layer in report["layers"].items():
        i = int(key)
        assert layer["channels_after"] * 2 == layer["channels_before"], f"layer {i}"
        if small.spec.input_of(i) == spec.input_of(i):
            assert layer["params_after"] * 2 == layer["params_before"], f"layer {i}"
            checked += 1
    assert checked >= 2
    print(f"50% structured: params of pruned layers {report['layers']}")


def test_residual_producers_are_not_pruned() -> None:
    spec = build_model("mbednet", {"depth1": 2}, (40, 1), 10)
    adds = [i for i, layer in enumerate(spec.layers) if isinstance(layer, S.Add)]
    assert adds
    touching = {spec.layers[a].skip for a in adds} | {a - 1 for a in adds}
    assert not touching & set(channel_groups(spec))
    assert spec.param_layers()[-1] not in channel_groups(spec)  # the logits keep every class


def test_unstructured_masks_hit_the_target_per_layer_and_never_shrink() -> None:
    spec = build_model("cnn", {}, (8, 8, 1), 10)
    variables = _perturbed_variables(spec, 0)
    schedule = AGPSchedule("unstructured", 0.6, start_step=0, steps=3, frequency=1)
    masks = ones_like_masks(variables["params"])
    for t in range(4):
        before = jax.tree_util.tree_map(np.copy, masks)
        masks = update_masks(spec, schedule, _masked(variables, masks), masks, t)
        for old, new in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(masks)):
            assert np.all(new <= old), "masks only grow"
    for i in spec.param_layers():
        kind = "dense" if isinstance(spec.layers[i], S.Dense) else "conv"
        kernel_mask = masks[f"layer_{i}"][kind]["kernel"]
        assert np.sum(kernel_mask == 0) == round(0.6 * kernel_mask.size)


@pytest.mark.parametrize("kind", ["structured", "unstructured"])
def test_agp_training_reaches_the_target_sparsity(kind: str) -> None:
    data = load_digits_split(seed=0)
    spec = build_model("cnn", {"channels": 16, "hidden": 64}, data.input_shape, 10)
    steps = training_steps(len(data.x_train), 6, 64)
    schedule = AGPSchedule(kind, 0.5, start_step=steps // 6, steps=6, frequency=steps // 12)
    result = pretrain_float(spec, data.x_train, data.y_train, epochs=6, batch_size=64, seed=0, pruning=schedule)
    model = shrink(result.model, kept_channels(spec, result.masks)) if kind == "structured" else result.model
    report = sparsity_report(spec, model, schedule, result.masks)
    assert abs(report["reached"] - 0.5) <= 0.01
    assert result.history[-1]["sparsity"] == pytest.approx(0.5)
    from explore.train.pretrain import accuracy
    acc = accuracy(model, data.x_test, data.y_test)
    assert acc > 0.85, acc
    if kind == "unstructured":
        assert report["nonzero_params"] < 0.6 * report["params_before"]
    else:
        assert model.spec.param_count() == report["params_after"] < report["params_before"]
    print(f"digits cnn, {kind} AGP to 0.5: reached {report['reached']:.3f}, accuracy {acc:.3f}, "
          f"params {report['params_before']} -> {report['params_after']}")


def test_schedule_must_end_inside_training() -> None:
    data = load_digits_split(seed=0)
    spec = build_model("cnn", {}, data.input_shape, 10)
    schedule = AGPSchedule("structured", 0.5, start_step=0, steps=10, frequency=100)
    with pytest.raises(BadInput, match="float training steps"):
        pretrain_float(spec, data.x_train, data.y_train, epochs=2, pruning=schedule)
