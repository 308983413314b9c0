"""Deployable models as plain data: the folded float network and its uint8 quantization.

Both are frozen dataclasses over numpy arrays, so they pickle, hash by identity, and cross process
boundaries.  Layer parameters are keyed by layer index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from explore.model.spec import Add, ModelSpec
from explore.errors import BadInput

LayerParams = dict[str, np.ndarray]


@dataclass(frozen=True)
class FloatModel:
    """A network with BatchNorm folded into its conv weights: ``{index: {"w": ..., "b": ...}}``."""

    spec: ModelSpec
    params: dict[int, LayerParams]

    def __post_init__(self) -> None:
        for index in self.spec.param_layers():
            if index not in self.params or set(self.params[index]) != {"w", "b"}:
                raise BadInput(f"params[{index}] must hold exactly 'w' and 'b'")


@dataclass(frozen=True)
class TensorQuant:
    """Static per-tensor quantization of an activation tensor (design 3)."""

    scale: np.float32
    zero: int


@dataclass(frozen=True)
class QuantizedModel:
    """The uint8 deployment of a :class:`FloatModel`.

    ``params[i]`` for every conv/dense layer ``i`` holds ``w_q`` (uint8), ``w_scale`` (float32),
    ``w_zero`` (int32), ``b_f`` (float32 master copy), ``b_q`` (int32, scale ``w_scale * s_x``),
    ``m0`` and ``shift`` (int32, the requantization multiplier of ``w_scale * s_x / s_y``).
    ``adds[i]`` for every :class:`~explore.model.spec.Add` holds the six int32 multiplier parts of
    TFLite's quantized add.  ``float_model`` is what was quantized; the ``mixed`` and ``float32``
    configurations train its float weights.
    """

    spec: ModelSpec
    float_model: FloatModel
    input_quant: TensorQuant
    act_quant: tuple[TensorQuant, ...]
    params: dict[int, LayerParams]
    adds: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.act_quant) != len(self.spec.layers):
            raise BadInput("act_quant needs one entry per layer")
        missing = [i for i in self.spec.param_layers() if i not in self.params]
        if missing:
            raise BadInput(f"params missing for layers {missing}")
        adds = [i for i, layer in enumerate(self.spec.layers) if isinstance(layer, Add)]
        if sorted(self.adds) != adds:
            raise BadInput(f"adds must hold the multipliers of layers {adds}")

    def tensor_quant(self, tensor: int) -> TensorQuant:
        """Quantization of tensor ``tensor`` (``-1`` is the network input)."""
        return self.input_quant if tensor == -1 else self.act_quant[tensor]

    def with_params(self, params: dict[int, LayerParams], float_model: FloatModel | None = None) -> "QuantizedModel":
        return replace(self, params=params, float_model=float_model or self.float_model)
