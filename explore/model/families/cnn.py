"""``cnn``: the paper's small full-training family: n conv layers with pooling, then m dense layers.

The defaults are the paper's section IV-D network (conv 8, conv 16, max-pool, dense 32, dense).
"""

from __future__ import annotations

from explore.model.families.common import kernel
from explore.model.families.keys import choice_key, int_key
from explore.model.spec import AvgPool, Conv, Dense, Flatten, MaxPool, ModelSpec

NAME = "cnn"
SUMMARY = "n conv layers (BN + ReLU) with pooling, flatten, m dense layers"
KEYS = {
    "conv_layers": int_key(1, 6, 2, "number of conv layers"),
    "channels": int_key(2, 128, 8, "output channels of the first conv"),
    "growth": choice_key((1, 2), 2, "channel factor from one conv to the next"),
    "kernel": choice_key((3, 5, 7), 3, "conv kernel size per spatial axis"),
    "pool": choice_key(("max", "avg", "none"), "max", "pooling kind (window 2, non-overlapping)"),
    "pool_every": int_key(1, 6, 2, "pool after every this many convs"),
    "dense_layers": int_key(1, 4, 2, "dense layers, the classifier included"),
    "hidden": int_key(4, 512, 32, "units of each hidden dense layer"),
}


def build(genome: dict, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
    dims = len(input_shape) - 1
    spatial = input_shape[:-1]
    pool_type = {"max": MaxPool, "avg": AvgPool}.get(genome["pool"])
    layers: list = []
    for i in range(genome["conv_layers"]):
        layers.append(Conv(genome["channels"] * genome["growth"] ** i, kernel(genome["kernel"], dims)))
        if pool_type and (i + 1) % genome["pool_every"] == 0:
            window = tuple(2 if n >= 2 else 1 for n in spatial)
            if window != (1,) * dims:
                layers.append(pool_type(window))
                spatial = tuple(n // w for n, w in zip(spatial, window))
    layers.append(Flatten())
    layers += [Dense(genome["hidden"], activation="relu") for _ in range(genome["dense_layers"] - 1)]
    layers.append(Dense(num_classes))
    return ModelSpec(input_shape, num_classes, tuple(layers))
