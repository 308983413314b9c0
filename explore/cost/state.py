"""The trainable state and the model's flash (design.md, "Memory accounting").

SRAM during training = arena (:mod:`explore.cost.lifetimes`) + **trainable state** + runtime statics
(the board profile's).  Flash holds the frozen layers and the trainable layers' initial values.
"""

from __future__ import annotations

import math

from explore.cost.lifetimes import check_trainable
from explore.cost.planner import aligned
from explore.model.spec import ModelSpec

#: Bytes of quantization parameters per trainable or frozen integer layer: weight scale (float32),
#: weight zero point, and the output requantization multiplier and shift (int32 each).
QPARAM_BYTES = 16
#: Per-channel Welford state of the standardized update (design 8): mean and M2 in float32.
WELFORD_BYTES_PER_CHANNEL = 8
#: Sample count of the Welford state, one int32 per trainable layer.
WELFORD_COUNT_BYTES = 4


def layer_sizes(spec: ModelSpec, i: int) -> tuple[int, int]:
    """(weight elements, output channels) of conv/dense layer ``i``."""
    return math.prod(spec.weight_shape(i)), spec.layers[i].features


def trainable_state(spec: ModelSpec, trainable: tuple[int, ...], config: str) -> dict[str, int]:
    """SRAM the trainable layers need outside the arena, by category, and its ``total``.

    Integer layer: uint8 weights, int32 bias and its float32 master copy, quantization parameters.
    Float layer: float32 weights and bias.  Both: float32 gradient buffers for weights and bias and
    the per-channel Welford statistics of the standardized update.
    """
    fp = spec.float_from(config)
    parts = dict.fromkeys(("weights", "biases", "gradients", "statistics", "qparams"), 0)
    for i in check_trainable(spec, trainable):
        weights, channels = layer_sizes(spec, i)
        if fp <= i:
            parts["weights"] += aligned(4 * weights)
            parts["biases"] += 4 * channels
        else:
            parts["weights"] += aligned(weights)
            parts["biases"] += 8 * channels
            parts["qparams"] += QPARAM_BYTES
        parts["gradients"] += 4 * (weights + channels)
        parts["statistics"] += WELFORD_BYTES_PER_CHANNEL * channels + WELFORD_COUNT_BYTES
    parts["total"] = sum(parts.values())
    return parts


def model_flash(spec: ModelSpec, trainable: tuple[int, ...], config: str) -> dict[str, int]:
    """Flash the model's parameters take: frozen layers as ``const`` data, and the initial values of
    the trainable layers (``.data`` is loaded from flash).  Gradients and statistics start at zero
    (``.bss``) and take no flash."""
    fp = spec.float_from(config)
    chosen = check_trainable(spec, trainable)
    parts = {"frozen": 0, "trainable_init": 0}
    for i in spec.param_layers():
        weights, channels = layer_sizes(spec, i)
        if fp <= i:
            nbytes = aligned(4 * weights) + 4 * channels
        else:
            nbytes = aligned(weights) + 4 * channels + QPARAM_BYTES
            if i in chosen:
                nbytes += 4 * channels  # float32 master copy of the bias
        parts["trainable_init" if i in chosen else "frozen"] += nbytes
    parts["total"] = parts["frozen"] + parts["trainable_init"]
    return parts
