"""Post-training quantization: a folded float network -> its uint8 deployment (design.md, FQT 1-3).

Activation ranges are calibrated on training data with min/max and then stay static; weights are
quantized per tensor from their own range.  Pooling and flatten keep their input's quantization,
as TFLite Micro requires.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt import kernels as K
from explore.fqt import quant
from explore.fqt.model import FloatModel, LayerParams, QuantizedModel, TensorQuant
from explore.fqt.simulator import float_plan, run_layers
from explore.fqt.spec import Add, AvgPool, Flatten, GlobalAvgPool, MaxPool, ModelSpec, check_inputs

_SHARES_INPUT_QUANT = (MaxPool, AvgPool, GlobalAvgPool, Flatten)


def calibration_ranges(model: FloatModel, x: np.ndarray, batch_size: int = 256) -> list[tuple[float, float]]:
    """Min and max of the network input and of every layer output over ``x`` (index 0 is the input)."""
    spec = model.spec
    plan = float_plan(spec)
    weights = {i: {k: jnp.asarray(v) for k, v in p.items()} for i, p in model.params.items()}
    outputs_of = jax.jit(lambda xb: run_layers(plan, weights, {}, xb, None))
    low = np.full(len(spec.layers) + 1, np.inf, np.float32)
    high = np.full(len(spec.layers) + 1, -np.inf, np.float32)
    for start in range(0, len(x), batch_size):
        outputs = outputs_of(jnp.asarray(x[start:start + batch_size], jnp.float32))
        for tensor in range(-1, len(spec.layers)):
            low[tensor + 1] = min(low[tensor + 1], float(jnp.min(outputs[tensor])))
            high[tensor + 1] = max(high[tensor + 1], float(jnp.max(outputs[tensor])))
    return list(zip(low.tolist(), high.tolist()))


def _tensor_quant(low: float, high: float) -> TensorQuant:
    qp = quant.choose_qparams(np.float32(low), np.float32(high))
    return TensorQuant(np.float32(qp.scale), int(qp.zero))


def quantize_layer(w: np.ndarray, b: np.ndarray, x_quant: TensorQuant, y_quant: TensorQuant) -> LayerParams:
    """uint8 weights from their own min/max, int32 bias and the fixed-point requantization multiplier."""
    w_q, wp = quant.quantize_tensor(jnp.asarray(w, jnp.float32))
    b_q, m0, shift = quant.bias_and_multiplier(b, wp.scale, x_quant.scale, y_quant.scale)
    return {"w_q": np.asarray(w_q), "w_scale": np.float32(wp.scale), "w_zero": np.int32(wp.zero),
            "b_f": np.asarray(b, np.float32), "b_q": np.asarray(b_q), "m0": np.int32(m0), "shift": np.int32(shift)}


def _activation_quant(spec: ModelSpec, ranges: list[tuple[float, float]]) -> tuple[TensorQuant, tuple[TensorQuant, ...]]:
    input_quant = _tensor_quant(*ranges[0])
    acts: list[TensorQuant] = []
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, _SHARES_INPUT_QUANT):
            acts.append(input_quant if i == 0 else acts[i - 1])
        else:
            acts.append(_tensor_quant(*ranges[i + 1]))
    return input_quant, tuple(acts)


def quantize_model(model: FloatModel, x_calibration: np.ndarray) -> QuantizedModel:
    """Calibrate activation ranges on ``x_calibration`` and quantize every layer."""
    spec = model.spec
    x_calibration = check_inputs(spec, x_calibration, "x_calibration")
    input_quant, acts = _activation_quant(spec, calibration_ranges(model, x_calibration))

    def tensor(t: int) -> TensorQuant:
        return input_quant if t == -1 else acts[t]

    params = {i: quantize_layer(model.params[i]["w"], model.params[i]["b"], tensor(i - 1), acts[i])
              for i in spec.param_layers()}
    adds = {i: K.add_multipliers(tensor(i - 1).scale, tensor(layer.skip).scale, acts[i].scale)
            for i, layer in enumerate(spec.layers) if isinstance(layer, Add)}
    return QuantizedModel(spec, model, input_quant, acts, params, adds)


def requantize_layers(model: QuantizedModel, float_model: FloatModel, layers: set[int]) -> QuantizedModel:
    """Replace the float weights of ``layers`` and quantize them with the model's static activation ranges.

    Used to "reset" the trainable layers before deployment (design 12).
    """
    params = dict(model.params)
    for i in layers:
        p = float_model.params[i]
        params[i] = quantize_layer(p["w"], p["b"], model.tensor_quant(i - 1), model.act_quant[i])
    return model.with_params(params, float_model)
