"""uint8 (integer inference) forms of the layers, as Flax modules over a ``quant`` variable collection.

Each module runs the same kernels the training simulator uses, so a :class:`IntNet` applied to
:func:`quant_variables` of a :class:`QuantizedModel` gives exactly the simulator's uint8 logits.
Tensors are uint8 codes; each module also receives the zero points it needs.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt import kernels as K
from explore.fqt import quant
from explore.model import spec as S
from explore.model.deployable import QuantizedModel
from explore.fqt.simulator import output_ranges

_PARAM_NAMES = ("w_q", "w_zero", "b_q", "m0", "shift")


class IntConv(nn.Module):
    """uint8 QConv (conv + folded BN + ReLU/ReLU6 as the clamp) or, with a Dense layer, uint8 dense."""

    layer: S.Conv | S.Dense
    in_shape: tuple[int, ...]
    terms: int
    out_range: tuple[int, int]

    def __call__(self, x: jax.Array, x_zero: jax.Array, y_zero: jax.Array) -> jax.Array:
        p = {name: self.get_variable("quant", name) for name in _PARAM_NAMES}
        centred = x.astype(jnp.int32) - x_zero
        info = K.ParamLayerQ(self.layer, self.in_shape, self.terms, self.out_range)
        return K.param_forward_q(info, p, centred, y_zero)


class IntMaxPool(nn.Module):
    window: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return K.maxpool_forward(x, self.window)[0]


class IntAvgPool(nn.Module):
    window: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return K.avgpool_forward_q(x, self.window)


class IntGlobalAvgPool(nn.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return K.gap_forward_q(x)


class IntFlatten(nn.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], -1)


class IntAdd(nn.Module):
    """TFLite's quantized ADD: both inputs rescaled to a common fixed-point scale, summed, requantized."""

    out_range: tuple[int, int]

    def __call__(self, a: jax.Array, b: jax.Array, a_zero: jax.Array, b_zero: jax.Array,
                 y_zero: jax.Array) -> jax.Array:
        names = ("m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out")
        multipliers = {name: self.get_variable("quant", name) for name in names}
        return K.add_forward_q(a, b, a_zero, b_zero, y_zero, multipliers, self.out_range)


class IntNet(nn.Module):
    """Integer inference of a quantized network: float input in, float (dequantized) logits out."""

    spec: S.ModelSpec
    out_ranges: tuple[tuple[int, int], ...]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        zero = lambda t: self.get_variable("quant", "zero_points")[t + 1]  # noqa: E731
        scales = self.get_variable("quant", "scales")
        q = quant.quantize(x, quant.QParams(scales[0], zero(-1)))
        outputs: dict[int, jax.Array] = {-1: q}
        for i, layer in enumerate(self.spec.layers):
            name = f"layer_{i}"
            if isinstance(layer, (S.Conv, S.Dense)):
                module = IntConv(layer, self.spec.input_of(i), self.spec.terms(i), self.out_ranges[i], name=name)
                q = module(q, zero(i - 1), zero(i))
            elif isinstance(layer, S.MaxPool):
                q = IntMaxPool(layer.window, name=name)(q)
            elif isinstance(layer, S.AvgPool):
                q = IntAvgPool(layer.window, name=name)(q)
            elif isinstance(layer, S.GlobalAvgPool):
                q = IntGlobalAvgPool(name=name)(q)
            elif isinstance(layer, S.Flatten):
                q = IntFlatten(name=name)(q)
            else:
                q = IntAdd(self.out_ranges[i], name=name)(q, outputs[layer.skip], zero(i - 1), zero(layer.skip), zero(i))
            outputs[i] = q
        last = len(self.spec.layers) - 1
        return quant.dequantize(q, quant.QParams(scales[last + 1], zero(last)))


def int_net(model: QuantizedModel) -> tuple[IntNet, dict]:
    """The uint8 Flax network of ``model`` and its variables, ready for ``net.apply(variables, x)``."""
    spec = model.spec
    ranges = output_ranges(model)
    tensors = (model.input_quant,) + model.act_quant
    variables: dict = {
        "zero_points": np.array([t.zero for t in tensors], np.int32),
        "scales": np.array([t.scale for t in tensors], np.float32),
    }
    for i in spec.param_layers():
        variables[f"layer_{i}"] = {name: np.asarray(model.params[i][name]) for name in _PARAM_NAMES}
    for i, multipliers in model.adds.items():
        variables[f"layer_{i}"] = dict(multipliers)
    return IntNet(spec, ranges), {"quant": variables}
