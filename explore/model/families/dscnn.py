"""``dscnn``: a depthwise-separable CNN as used for keyword spotting (Zhang et al., "Hello Edge").

A strided stem conv, then blocks of depthwise conv + pointwise conv (each with BN + ReLU), global
average pooling and the classifier.
"""

from __future__ import annotations

from explore.model.families.common import fitting_stride, kernel, strided
from explore.model.families.keys import choice_key, int_key
from explore.model.spec import Conv, Dense, GlobalAvgPool, ModelSpec

NAME = "dscnn"
SUMMARY = "stem conv, depthwise-separable blocks, global average pooling, classifier"
KEYS = {
    "channels": int_key(4, 256, 32, "channels of the stem and of every block"),
    "blocks": int_key(1, 8, 4, "depthwise-separable blocks"),
    "kernel": choice_key((3, 5, 7, 9), 3, "depthwise kernel size per spatial axis"),
    "stem_kernel": choice_key((3, 5, 7, 9, 11), 5, "stem kernel size per spatial axis"),
    "stem_stride": choice_key((1, 2), 2, "stem stride"),
    "downsample_every": int_key(0, 8, 2, "stride 2 in every this many blocks' depthwise conv (0: never)"),
}


def build(genome: dict, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
    dims = len(input_shape) - 1
    c = genome["channels"]
    strides = fitting_stride(input_shape[:-1], genome["stem_stride"])
    layers: list = [Conv(c, kernel(genome["stem_kernel"], dims), strides=strides)]
    spatial = strided(input_shape[:-1], strides)
    for b in range(genome["blocks"]):
        every = genome["downsample_every"]
        strides = fitting_stride(spatial, 2 if every and (b + 1) % every == 0 else 1)
        layers.append(Conv(c, kernel(genome["kernel"], dims), strides=strides, depthwise=True))
        layers.append(Conv(c, kernel(1, dims)))
        spatial = strided(spatial, strides)
    layers += [GlobalAvgPool(), Dense(num_classes)]
    return ModelSpec(input_shape, num_classes, tuple(layers))
