"""``mbednet``: the paper's MbedNet, a MobileNetV3-like network scaled down for microcontrollers.

Stem conv, stages of inverted-residual blocks (1x1 expansion, depthwise conv, linear 1x1 projection,
residual add when shapes allow), a 1x1 head conv, global average pooling and the classifier.  On 1-D
inputs ``(time, channels)`` every kernel is 1-D: the paper maps time to one spatial axis and leaves
the other empty, which is the same network with ``k x 1`` kernels.

Left out, on purpose: squeeze-and-excite.  Its channel gate multiplies two activation tensors
through a sigmoid; the FQT method (paper Eqs. 1-9) has no quantized multiply-by-activation or
sigmoid with a backward pass, so it cannot be trained fully quantized.  Hard-swish is replaced by
ReLU for the same reason.
"""

from __future__ import annotations

from explore.model.families.common import fitting_stride, kernel, scaled, strided
from explore.model.families.keys import choice_key, float_key, int_key
from explore.model.spec import Add, Conv, Dense, GlobalAvgPool, ModelSpec

NAME = "mbednet"
SUMMARY = "MobileNetV3-like inverted-residual network for MCUs (no squeeze-excite), 1-D and 2-D"
STAGE_CHANNELS = (16, 24, 32, 48)
MAX_STAGES = len(STAGE_CHANNELS)
KEYS = {
    "width": float_key(0.25, 2.0, 1.0, "width multiplier of every channel count"),
    "stem_channels": int_key(4, 64, 16, "stem conv channels (before the width multiplier)"),
    "stem_stride": choice_key((1, 2), 2, "stem conv stride"),
    "stages": int_key(1, MAX_STAGES, 3, f"stages of inverted-residual blocks; channels {STAGE_CHANNELS}"),
    **{f"depth{s}": int_key(1, 4, 1, f"blocks in stage {s}") for s in range(1, MAX_STAGES + 1)},
    "expansion": int_key(1, 6, 3, "expansion factor of the 1x1 conv in each block"),
    "kernel": choice_key((3, 5, 7), 3, "depthwise kernel size per spatial axis"),
    "head_channels": int_key(8, 256, 64, "channels of the 1x1 head conv before pooling"),
}


def _block(layers: list, c_in: int, c_out: int, expansion: int, k: tuple, strides: tuple) -> None:
    block_input = len(layers) - 1
    c_mid = c_in * expansion
    if expansion > 1:
        layers.append(Conv(c_mid, (1,) * len(k)))
    layers.append(Conv(c_mid, k, strides=strides, depthwise=True))
    layers.append(Conv(c_out, (1,) * len(k), activation="none"))
    if c_in == c_out and set(strides) == {1}:
        layers.append(Add(skip=block_input))


def build(genome: dict, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
    dims = len(input_shape) - 1
    width = genome["width"]
    c = scaled(genome["stem_channels"], width)
    strides = fitting_stride(input_shape[:-1], genome["stem_stride"])
    layers: list = [Conv(c, kernel(3, dims), strides=strides)]
    spatial = strided(input_shape[:-1], strides)
    for stage in range(genome["stages"]):
        c_out = scaled(STAGE_CHANNELS[stage], width)
        for block in range(genome[f"depth{stage + 1}"]):
            # The first stage keeps the stem's resolution; later stages halve it once.
            strides = fitting_stride(spatial, 2 if block == 0 and stage > 0 else 1)
            _block(layers, c, c_out, genome["expansion"], kernel(genome["kernel"], dims), strides)
            spatial = strided(spatial, strides)
            c = c_out
    layers += [Conv(scaled(genome["head_channels"], width), kernel(1, dims)), GlobalAvgPool(), Dense(num_classes)]
    return ModelSpec(input_shape, num_classes, tuple(layers))
