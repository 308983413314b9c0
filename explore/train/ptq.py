"""Post-training quantization: a folded float network -> its uint8 deployment (design.md, FQT 1-3).

Activation ranges are calibrated on training data with min/max and then stay static; weights are
quantized per tensor from their own range.  Pooling and flatten keep their input's quantization,
as TFLite Micro requires.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from explore.errors import BadInput
from explore.fqt import kernels as K
from explore.fqt import quant
from explore.model.deployable import FloatModel, LayerParams, QuantizedModel, TensorQuant
from explore.fqt.simulator import float_plan, run_layers
from explore.model.spec import Add, AvgPool, Flatten, GlobalAvgPool, MaxPool, ModelSpec, check_inputs

_SHARES_INPUT_QUANT = (MaxPool, AvgPool, GlobalAvgPool, Flatten)


CALIBRATIONS = ("minmax", "percentile")
HISTOGRAM_BINS = 4096
#: Samples per calibration forward pass (the last batch is padded to it).
CALIBRATION_BATCH = 256


def _tensor_outputs(spec: ModelSpec, weights: dict, xb: jax.Array) -> list[jax.Array]:
    """Every tensor of the float network for the batch ``xb`` (index 0 is the input)."""
    outputs = run_layers(float_plan(spec), weights, {}, xb, None)
    return [outputs[t] for t in range(-1, len(spec.layers))]


def _tensor_extremes(spec: ModelSpec, weights: dict, xb: jax.Array) -> tuple[jax.Array, jax.Array]:
    outputs = _tensor_outputs(spec, weights, xb)
    return jnp.stack([jnp.min(o) for o in outputs]), jnp.stack([jnp.max(o) for o in outputs])


# The spec is hashable plain data and keys the compilation cache; weights are arguments, so every
# model of one spec shares the compiled calibration forward.
_tensor_outputs_jit = jax.jit(_tensor_outputs, static_argnums=0)
_tensor_extremes_jit = jax.jit(_tensor_extremes, static_argnums=0)


def _batches(x: np.ndarray, batch_size: int):
    """``(padded batch, real samples)``: the last batch repeats its last sample, which leaves every
    minimum and maximum unchanged and keeps one compiled shape."""
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        padded = np.pad(chunk, [(0, batch_size - len(chunk))] + [(0, 0)] * (chunk.ndim - 1), mode="edge")
        yield jax.device_put(np.asarray(padded, np.float32)), len(chunk)


def calibration_passes(method: str, percentile: float) -> int:
    """Forward passes over the calibration data: one for the extremes, and a second for the
    histogram when ``percentile`` clips."""
    return 1 if method == "minmax" or percentile == 100.0 else 2


def calibration_ranges(model: FloatModel, x: np.ndarray, batch_size: int = CALIBRATION_BATCH,
                       method: str = "minmax", percentile: float = 99.99) -> list[tuple[float, float]]:
    """Range of the network input and of every layer output over ``x`` (index 0 is the input).

    ``minmax`` takes the observed extremes.  ``percentile`` clips outliers: the range runs from the
    (100 - p)-th to the p-th percentile of all values, read from a 4096-bin histogram over the
    observed extremes (a second pass), as TensorRT's and PyTorch's percentile calibrators do.
    """
    if method not in CALIBRATIONS:
        raise BadInput(f"calibration {method!r} must be one of {CALIBRATIONS}")
    if not 50.0 < percentile <= 100.0:
        raise BadInput(f"percentile = {percentile} must lie in (50, 100]")
    spec = model.spec
    weights = {i: jax.device_put(dict(p)) for i, p in model.params.items()}
    tensors = len(spec.layers) + 1
    low, high = np.full(tensors, np.inf), np.full(tensors, -np.inf)
    for xb, _ in _batches(x, batch_size):
        lows, highs = _tensor_extremes_jit(spec, weights, xb)
        low, high = np.minimum(low, np.asarray(lows)), np.maximum(high, np.asarray(highs))
    if calibration_passes(method, percentile) == 1:
        return list(zip(low.tolist(), high.tolist()))
    counts = np.zeros((tensors, HISTOGRAM_BINS), np.int64)
    for xb, real in _batches(x, batch_size):
        for t, o in enumerate(_tensor_outputs_jit(spec, weights, xb)):
            values = np.asarray(o)[:real]
            counts[t] += np.histogram(values, bins=HISTOGRAM_BINS, range=(low[t], max(high[t], low[t] + 1e-12)))[0]
    return [_percentile_range(counts[t], low[t], high[t], percentile) for t in range(tensors)]


def _percentile_range(counts: np.ndarray, low: float, high: float, percentile: float) -> tuple[float, float]:
    edges = np.linspace(low, high, len(counts) + 1)
    cdf = np.cumsum(counts) / counts.sum()
    tail = 1.0 - percentile / 100.0
    lo_bin = int(np.searchsorted(cdf, tail, side="right"))
    hi_bin = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    return float(edges[lo_bin]), float(edges[min(hi_bin + 1, len(counts))])


def _tensor_quant(low: float, high: float) -> TensorQuant:
    qp = _choose_qparams_jit(np.float32(low), np.float32(high))
    return TensorQuant(np.float32(qp.scale), int(qp.zero))


# One compiled program each instead of one per jnp operation (they run on scalars and small padded
# vectors, so every spec shares them).
_choose_qparams_jit = jax.jit(quant.choose_qparams)
_quantize_tensor_jit = jax.jit(quant.quantize_tensor)
_bias_and_multiplier_jit = jax.jit(quant.bias_and_multiplier)


def _padded(values: np.ndarray) -> np.ndarray:
    """``values`` flattened and padded with its first element to a power-of-two length (min and max
    unchanged), so the compiled quantizers see a handful of shapes instead of one per layer."""
    flat = np.asarray(values, np.float32).reshape(-1)
    size = 1 << max(6, (len(flat) - 1).bit_length())
    return np.pad(flat, (0, size - len(flat)), mode="edge")


def quantize_layer(w: np.ndarray, b: np.ndarray, x_quant: TensorQuant, y_quant: TensorQuant) -> LayerParams:
    """uint8 weights from their own min/max, int32 bias and the fixed-point requantization multiplier."""
    w_q, wp = _quantize_tensor_jit(_padded(w))
    w_q = np.asarray(w_q)[:np.size(w)].reshape(np.shape(w))
    b_q, m0, shift = _bias_and_multiplier_jit(_padded(b), wp.scale, np.float32(x_quant.scale),
                                              np.float32(y_quant.scale))
    b_q = np.asarray(b_q)[:np.size(b)]
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


def quantize_model(model: FloatModel, x_calibration: np.ndarray, method: str = "minmax",
                   percentile: float = 99.99) -> QuantizedModel:
    """Calibrate activation ranges on ``x_calibration`` (see :func:`calibration_ranges`) and quantize
    every layer."""
    spec = model.spec
    x_calibration = check_inputs(spec, x_calibration, "x_calibration")
    ranges = calibration_ranges(model, x_calibration, method=method, percentile=percentile)
    input_quant, acts = _activation_quant(spec, ranges)

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
