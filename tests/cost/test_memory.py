"""The arena planner and the trainable-state accounting (design.md, "Memory accounting").

The two hand-checked networks below list every buffer with its size and lifetime as worked out on
paper from the schedule in explore/cost/lifetimes.py's docstring (forward i at step i, loss at step L,
backward of layer i at step 2L - i), then compare with the planner.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from explore.model.families import FAMILIES, build_model
from explore.fqt import simulator as sim
from explore.train.floatnet import init_float_params
from explore.model.spec import Flatten, paper_cnn
from explore.cost import (ALIGNMENT, QPARAM_BYTES, aligned, layer_sizes, plan_inference, plan_training,
                          trainable_state, training_buffers)
from explore.train.ptq import quantize_model


def _table(plan) -> dict[str, tuple[str, int, int, int]]:
    return {b.name: (b.category, b.size, b.first, b.last) for b in plan.buffers}


# --- hand-checked: the paper's 2-conv/2-dense network on 28x28 EMNIST-sized inputs -------------------------


def test_paper_cnn_all_layers_trainable_by_hand() -> None:
    spec = paper_cnn((28, 28, 1), 10)  # conv8 3x3, conv16 3x3, maxpool 2x2, flatten, dense32, dense10
    plan = plan_training(spec, (0, 1, 4, 5), "uint8", sparse=False)
    # L = 6: forward 0..5, loss 6, backward of layer 5..0 at steps 7..12.
    expected = {
        "input": ("kept", 28 * 28, 0, 12),            # x of layer 0, read by its backward (12)
        "act0": ("kept", 28 * 28 * 8, 0, 12),         # x of layer 1 (11), ReLU mask of layer 0 (12)
        "act1": ("kept", 28 * 28 * 16, 1, 11),        # ReLU mask of layer 1
        "act2": ("kept", 14 * 14 * 16, 2, 8),         # pooled; Flatten (3) is a view; x of dense 4 (8)
        "arg2": ("kept", 14 * 14 * 16, 2, 10),        # max-pool winners, one byte each, for backward (10)
        "act4": ("kept", 32, 4, 8),                   # x of dense 5 (7), ReLU mask of dense 4 (8)
        "act5": ("activation", 12, 5, 6),             # 10 logits, aligned to 12, read by the loss
        "dlogits": ("scratch", 40, 6, 6),             # float32 softmax gradient before quantization
        "err5": ("error", 12, 6, 7),
        "acc5": ("scratch", 4 * 32, 7, 7),            # int32 input-error accumulators of dense 5
        "err4": ("error", 32, 7, 8),
        "acc4": ("scratch", 4 * 3136, 8, 8),
        "err3": ("error", 3136, 8, 10),               # through Flatten unchanged, into max-pool backward
        "err1": ("error", 28 * 28 * 16, 10, 11),
        "acc1": ("scratch", 4 * 28 * 28 * 8, 11, 11),
        "err0": ("error", 28 * 28 * 8, 11, 12),       # layer 0 is the first trainable: no input error
    }
    assert _table(plan) == expected
    live = [784 + 6272, 784 + 6272 + 12544, 25872, 25872, 25904, 25916, 25968, 26076,
            25904 + 32 + 12544 + 3136, 22736 + 3136, 22736 + 3136 + 12544, 19600 + 12544 + 25088 + 6272,
            784 + 6272 + 6272]
    assert [plan.live_bytes(s) for s in range(len(plan.steps))] == live
    assert plan.size == 63504  # the peak at backward of conv 1; the greedy offsets waste nothing here
    assert plan.breakdown() == {"activation": 0, "kept": 19600, "error": 18816, "scratch": 25088,
                                "fragmentation": 0}
    # Inference: conv0 and conv1 outputs are live together at step 1.
    assert plan_inference(spec, "uint8").size == 6272 + 12544


def test_paper_cnn_last_layer_only_trains_in_the_inference_arena() -> None:
    spec = paper_cnn((28, 28, 1), 10)
    plan = plan_training(spec, (5,), "uint8", sparse=False)
    table = _table(plan)
    assert table["act4"] == ("kept", 32, 4, 7)  # x of dense 5, until its backward at step 7
    assert table["input"] == ("activation", 784, 0, 0)  # frozen layers keep nothing
    assert not any(name.startswith(("acc", "arg")) for name in table)  # no input error below layer 5
    assert plan.size == plan_inference(spec, "uint8").size == 18816


# --- hand-checked: an mbednet with a residual add ----------------------------------------------------------


MBEDNET = {"stages": 1, "depth1": 1, "stem_channels": 16, "width": 0.5, "expansion": 2,
           "head_channels": 16, "kernel": 3}


def test_mbednet_with_residual_by_hand() -> None:
    spec = build_model("mbednet", MBEDNET, (16, 1), 4)
    # 0 stem conv 8 (stride 2) -> (8, 8); 1 expand 1x1 -> (8, 16); 2 depthwise 3 -> (8, 16);
    # 3 project 1x1 -> (8, 8); 4 Add(skip=0); 5 head 1x1 -> (8, 8); 6 GAP -> (8,); 7 dense -> (4,)
    assert [type(layer).__name__ for layer in spec.layers] == [
        "Conv", "Conv", "Conv", "Conv", "Add", "Conv", "GlobalAvgPool", "Dense"]
    plan = plan_training(spec, (0, 7), "uint8", sparse=True)
    # L = 8: forward 0..7, loss 8, backward of layer i at 16 - i.
    expected = {
        "input": ("kept", 16, 0, 16),
        "act0": ("kept", 64, 0, 16),        # read by 1 and by the Add (4); ReLU mask of layer 0 (16)
        "act1": ("kept", 128, 1, 15),       # ReLU mask
        "act2": ("kept", 128, 2, 14),       # ReLU mask
        "act3": ("activation", 64, 3, 4),   # linear projection: no mask, layer 4 is not trainable
        "act4": ("activation", 64, 4, 5),
        "act5": ("kept", 64, 5, 11),        # ReLU mask of the head conv
        "act6": ("kept", 8, 6, 9),          # x of the trainable dense
        "act7": ("activation", 4, 7, 8),
        "dlogits": ("scratch", 16, 8, 8),
        "err7": ("error", 4, 8, 9),
        "select7": ("scratch", 20, 9, 9),   # sparse update: uint32 l1 + keep flag per output channel
        "acc7": ("scratch", 32, 9, 9),
        "err6": ("error", 8, 9, 10),
        "err5": ("error", 64, 10, 11),      # GAP backward spreads the error
        "acc5": ("scratch", 256, 11, 11),   # frozen layers still pass errors down to layer 0
        "err4": ("error", 64, 11, 16),      # the Add sends it unchanged to layer 3 (13) and to tensor 0 (16)
        "acc3": ("scratch", 512, 13, 13),
        "err2": ("error", 128, 13, 14),
        "acc2": ("scratch", 512, 14, 14),
        "err1": ("error", 128, 14, 15),
        "acc1": ("scratch", 256, 15, 15),
        "err0.1": ("error", 64, 15, 16),    # tensor 0 has two readers: errors from layer 1 and the Add ...
        "err0.sum": ("error", 64, 16, 16),  # ... summed and requantized at layer 0's backward
        "select0": ("scratch", 40, 16, 16),
    }
    assert _table(plan) == expected
    assert [plan.live_bytes(s) for s in range(len(plan.steps))] == [
        80, 208, 336, 400, 464, 464, 408, 412, 432, 472, 472, 784, 400, 1040, 1168, 720, 312]
    assert plan.size == 1168


# --- training memory behaves as the paper describes --------------------------------------------------------


def test_each_added_trainable_layer_adds_weights_gradients_and_kept_input() -> None:
    spec = paper_cnn((28, 28, 1), 10)
    params = spec.param_layers()
    previous = None
    for k in range(1, len(params) + 1):
        chosen = params[-k:]
        state = trainable_state(spec, chosen, "uint8")
        plan = plan_training(spec, chosen, "uint8", sparse=False)
        kept = {b.name for b in plan.buffers if b.category == "kept"}
        new = chosen[0]
        input_buffer = "input" if new == 0 else ("act2" if new == 4 else f"act{new - 1}")
        assert input_buffer in kept
        if previous is not None:
            weights, channels = layer_sizes(spec, new)
            added = {key: state[key] - previous[0][key] for key in state}
            assert added["weights"] == aligned(weights)
            assert added["gradients"] == 4 * (weights + channels)
            assert added["biases"] == 8 * channels  # int32 bias and its float32 master copy
            assert added["statistics"] == 8 * channels + 4
            assert added["qparams"] == QPARAM_BYTES
            assert previous[1] < kept  # everything kept before is still kept, and more
            assert plan.size >= previous[2]
        previous = (state, kept, plan.size)


def test_float32_trainable_state_holds_float_weights() -> None:
    spec = build_model("mbednet", MBEDNET, (16, 1), 4)
    trainable = (0, 5, 7)
    q = {b.name for b in training_buffers(spec, trainable, "uint8", sparse=True)}
    f = {b.name for b in training_buffers(spec, trainable, "float32", sparse=True)}
    # Float training needs no int32 accumulators: the error comes out of the float kernel directly.
    assert {n for n in q if n.startswith("acc")} and not any(n.startswith("acc") for n in f)
    sq, sf = trainable_state(spec, trainable, "uint8"), trainable_state(spec, trainable, "float32")
    weights = [layer_sizes(spec, i)[0] for i in trainable]
    assert sq["weights"] == sum(aligned(w) for w in weights)
    assert sf["weights"] == 4 * sum(weights)
    assert sf["gradients"] == sq["gradients"]  # gradient buffers are float32 in both (design 6)
    assert sf["qparams"] == 0 and sq["qparams"] == 3 * QPARAM_BYTES


def test_float32_activations_are_exactly_four_times_uint8() -> None:
    spec = paper_cnn((28, 28, 1), 10)
    trainable = (0, 1, 4, 5)
    q = {b.name: b.size for b in training_buffers(spec, trainable, "uint8", sparse=False)}
    f = {b.name: b.size for b in training_buffers(spec, trainable, "float32", sparse=False)}
    for name in ("input", "act0", "act1", "act2", "act4", "err4", "err3", "err1", "err0"):
        assert f[name] == 4 * q[name], name  # all multiples of 4 bytes already
    ratio = plan_training(spec, trainable, "float32", False).size / plan_training(spec, trainable, "uint8", False).size
    # Tensors grow 4x, but uint8's int32 accumulators (a 4x tensor of their own) have no float twin.
    assert 2.0 < ratio < 4.0


def test_mixed_keeps_the_head_in_float() -> None:
    spec = paper_cnn((28, 28, 1), 10)
    q = _table(plan_training(spec, (4, 5), "uint8", False))
    m = _table(plan_training(spec, (4, 5), "mixed", False))
    assert m["act4"][1] == 4 * 32 and q["act4"][1] == 32        # head activations are float32
    assert m["act2"][1] == q["act2"][1] == 3136                 # the boundary tensor stays uint8
    assert "acc5" in q and "acc5" not in m                      # float backward needs no accumulators
    assert m["dlogits"][0] == "error"                           # in a float head dL/dlogits is the error


# --- properties on random networks ------------------------------------------------------------------------


def _random_designs(count: int):
    rng = np.random.default_rng(7)
    for n in range(count):
        family = sorted(FAMILIES)[n % len(FAMILIES)]
        keys = FAMILIES[family].keys
        genome = {}
        for name, key in keys.items():
            if key.choices is not None:
                genome[name] = key.choices[int(rng.integers(len(key.choices)))]
            elif key.kind == "int":
                genome[name] = int(rng.integers(key.low, key.high + 1))
            else:
                genome[name] = float(rng.uniform(key.low, key.high))
        shape = [(40, 1), (16, 16, 1), (8, 8, 3)][n % 3]
        spec = build_model(family, genome, shape, int(rng.integers(2, 12)))
        params = spec.param_layers()
        chosen = tuple(sorted(rng.choice(params, size=int(rng.integers(1, len(params) + 1)), replace=False)))
        yield spec, tuple(int(i) for i in chosen), ("uint8", "mixed", "float32")[n % 3], bool(n % 2)


@pytest.mark.parametrize("n", range(4))
def test_random_plans_never_overlap_and_cover_the_peak(n: int) -> None:
    for spec, chosen, config, sparse in itertools.islice(_random_designs(60), n * 15, n * 15 + 15):
        for plan in (plan_training(spec, chosen, config, sparse), plan_inference(spec, config)):
            peak = max(plan.live_bytes(s) for s in range(len(plan.steps)))
            assert plan.size >= peak
            assert sum(plan.breakdown().values()) == plan.size
            for b in plan.buffers:
                assert b.offset % ALIGNMENT == 0 and b.size % ALIGNMENT == 0
                assert 0 <= b.offset and b.offset + b.size <= plan.size
                assert 0 <= b.first <= b.last < len(plan.steps)
            for a, b in itertools.combinations(plan.buffers, 2):
                if a.overlaps_in_time(b):
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def test_kept_buffers_are_what_the_simulator_keeps() -> None:
    """The planner's kept tensors are exactly the simulator's ``saved`` (x, y and arg entries)."""
    cases = [(build_model("mbednet", MBEDNET, (16, 1), 4),
              [((7,), "uint8"), ((0, 7), "uint8"), ((3, 5, 7), "mixed"), ((1, 2), "float32")]),
             (paper_cnn((8, 8, 1), 10), [((1, 5), "uint8"), ((0, 4), "mixed"), ((0, 1, 4, 5), "float32")])]
    for spec, designs in cases:
        _check_kept_against_simulator(spec, designs)


def _check_kept_against_simulator(spec, designs) -> None:
    x = np.random.default_rng(0).normal(size=(8,) + spec.input_shape).astype(np.float32)
    model = quantize_model(init_float_params(spec, seed=0), x)
    for trainable, config in designs:
        plan = sim.make_plan(model, config, trainable, 1.0)
        _, saved = sim.forward(plan, sim.plan_weights(plan, model), sim.runtime_constants(model), jnp.asarray(x), True)
        expected = set()
        buffers = {b.name: b for b in training_buffers(spec, trainable, config, False)}
        for key, value in saved.items():
            kind, index = key[0], int(key.lstrip("xyarg"))
            tensor = index - 1 if kind == "x" else index
            while tensor >= 0 and isinstance(spec.layers[tensor], Flatten):
                tensor -= 1  # a view: it shares its input's buffer
            name = f"arg{index}" if kind == "a" else ("input" if tensor < 0 else f"act{tensor}")
            expected.add(name)
            # The simulator carries zero-point-centred ints (and dequantizes at the mixed boundary);
            # the runtime stores the uint8 tensor itself, or float32 in float layers.
            stored_float = jnp.issubdtype(value.dtype, jnp.floating) and not (
                kind == "x" and config == "mixed" and index == plan.float_from)
            assert buffers[name].size == aligned(value[0].size * (4 if stored_float else 1)), key
        kept = {b.name for b in training_buffers(spec, trainable, config, False) if b.category == "kept"}
        assert kept == expected, (trainable, config)
