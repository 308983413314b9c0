"""One minibatch of on-device fully quantized training, simulated bit for bit (design.md, FQT 3-12).

The ``b`` samples of a minibatch are processed in parallel (weights change only at its end, design 7);
every floating-point sum that crosses samples is taken in sample order with :func:`jax.lax.scan`.
Float layers of a deployment plan (configs ``mixed`` and ``float32``) sum within a sample in the
fixed order of :mod:`explore.fqt.ordered`, so the C runtime can reproduce them too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt import kernels as K
from explore.fqt import quant
from explore.fqt.fmath import exp_f32, log_f32
from explore.model.deployable import QuantizedModel
from explore.fqt.quant import QParams, strict
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec

Config = Literal["uint8", "mixed", "float32"]
STD_EPSILON = np.float32(1e-8)

Array = jax.Array


@dataclass(frozen=True)
class Plan:
    """Everything static about a training run: the graph, which layers are float, which train.

    Nothing here depends on a model's quantization (ranges, scales, zero points, multipliers travel
    in :func:`runtime_constants`), so one compiled step serves every model of the same shapes.
    """

    spec: ModelSpec
    config: str
    trainable: tuple[int, ...]
    sparse: bool
    float_from: int
    #: Float layers sum in the C runtime's fixed order (explore.fqt.ordered); off only for plain
    #: float inference and calibration, which need speed, not bit-exactness.
    ordered: bool = True
    #: First layer the plan runs.  The layers before it are a frozen prefix whose outputs never
    #: change, so they come in computed once (:func:`prefix_outputs`); 0 runs from the network input.
    start: int = 0

    @property
    def first(self) -> int:
        """First trainable layer; with nothing trainable (inference), one past the last layer."""
        return self.trainable[0] if self.trainable else len(self.spec.layers)

    def is_float(self, index: int) -> bool:
        return index >= self.float_from

    def param_info(self, index: int, consts: dict) -> K.ParamLayerQ:
        return K.ParamLayerQ(self.spec.layers[index], self.spec.input_of(index),
                             self.spec.terms(index), consts["act"][index]["range"])


def make_plan(model: QuantizedModel, config: str, trainable: tuple[int, ...], lambda_min: float) -> Plan:
    spec = model.spec
    return Plan(spec, config, tuple(sorted(trainable)), lambda_min < 1.0, spec.float_from(config))


def _activation(layer) -> str:
    return getattr(layer, "activation", "none")


def output_ranges(model: QuantizedModel) -> tuple[tuple[int, int], ...]:
    """uint8 clamp range of every layer's output (ReLU / ReLU6 folded into the clamp, design 2)."""
    return tuple(K.activation_range(_activation(layer), tq.scale, tq.zero)
                 for layer, tq in zip(model.spec.layers, model.act_quant))


def gradient_windows(model: QuantizedModel) -> tuple[tuple[int, int], ...]:
    """Open interval of output codes where each layer's activation passes gradient."""
    return tuple(K.gradient_window(_activation(layer), tq.scale, tq.zero)
                 for layer, tq in zip(model.spec.layers, model.act_quant))


def runtime_constants(model: QuantizedModel) -> dict:
    """Everything about ``model``'s quantization, as arrays: activation scales, zero points, clamp
    ranges and gradient windows, and the add multipliers.

    They are arguments of the jitted step, not constants baked into it: one compiled step then serves
    every model of the same shapes, and XLA cannot rewrite a division by a constant scale into a
    multiplication by its reciprocal.
    """
    def tq(t):
        return {"scale": np.float32(t.scale), "zero": np.int32(t.zero)}

    acts = [{**tq(t), "range": np.asarray(r, np.int32), "window": np.asarray(w, np.int32)}
            for t, r, w in zip(model.act_quant, output_ranges(model), gradient_windows(model))]
    # device_put moves host data without compiling anything (jnp.asarray compiles per shape).
    return jax.device_put({"input": tq(model.input_quant), "act": acts, "add": dict(model.adds)})


def _tensor_qp(consts: dict, tensor: int) -> QParams:
    t = consts["input"] if tensor == -1 else consts["act"][tensor]
    return QParams(t["scale"], t["zero"])


# --- forward -----------------------------------------------------------------------------------------------


def forward(plan: Plan, weights: dict, consts: dict, x: Array, keep: bool) -> tuple[Array, dict]:
    """Logits (float32) and, with ``keep``, the tensors the backward pass needs.

    Layers before the first trainable one keep nothing (design 12).  Kept tensors are named
    ``x{i}`` (input of trainable layer ``i``), ``y{i}`` (activation output, for its mask) and
    ``arg{i}`` (max-pool winners).
    """
    saved: dict[str, Array] = {}
    outputs = run_layers(plan, weights, consts, x, saved if keep else None)
    last = len(plan.spec.layers) - 1
    logits = outputs[last]
    if not plan.is_float(last):
        logits = quant.dequantize(logits, _tensor_qp(consts, last))
    return logits, saved


def run_layers(plan: Plan, weights: dict, consts: dict, x, saved: dict | None,
               stop: int | None = None) -> dict[int, Array]:
    """Every layer's output from ``plan.start`` up to ``stop`` (exclusive; default: all layers).

    ``-1`` is the network input as the first layer sees it.  With ``plan.start > 0``, ``x`` is the
    tuple of the prefix's tensors, in the order of :func:`prefix_tensors`.
    """
    if plan.start == 0:
        outputs = {-1: x if plan.float_from == 0 else quant.quantize(x, _tensor_qp(consts, -1))}
    else:
        outputs = dict(zip(prefix_tensors(plan.spec, plan.start), x, strict=True))
    end = len(plan.spec.layers) if stop is None else stop
    for i in range(plan.start, end):
        layer = plan.spec.layers[i]
        inp = outputs[i - 1]
        if plan.is_float(i) and i - 1 >= 0 and not plan.is_float(i - 1):
            inp = quant.dequantize(inp, _tensor_qp(consts, i - 1))
        keeping = saved is not None and i >= plan.first
        outputs[i] = _layer_forward(plan, weights, consts, i, layer, inp, outputs, saved if keeping else None)
    return outputs


def prefix_tensors(spec: ModelSpec, start: int) -> tuple[int, ...]:
    """Tensors made before layer ``start`` that layers from ``start`` on read (``-1`` is the network
    input): ``start - 1``, and the skip input of any residual add that crosses the cut."""
    return tuple(t for t in range(-1, start) if any(reader >= start for reader in spec.consumers(t)))


def prefix_outputs(plan: Plan, weights: dict, consts: dict, x: Array) -> tuple[Array, ...]:
    """The tensors of :func:`prefix_tensors` for the network input ``x``: what a plan starting at
    ``plan.start`` takes instead of ``x``.  Integer layers give exact uint8 codes."""
    outputs = run_layers(replace(plan, start=0), weights, consts, x, None, stop=plan.start)
    return tuple(outputs[t] for t in prefix_tensors(plan.spec, plan.start))


def float_plan(spec: ModelSpec) -> Plan:
    """A float32 plan with nothing trainable, for plain float inference and calibration."""
    return Plan(spec, "float32", (), False, 0, ordered=False)


def inference_plan(model: QuantizedModel, config: str) -> Plan:
    """Forward only, in ``config``: nothing trainable, nothing kept."""
    return make_plan(model, config, (), 1.0)


def plan_weights(plan: Plan, model: QuantizedModel) -> dict[int, dict]:
    """Parameters of every conv/dense layer in the numeric form ``plan`` runs it in."""
    source = {i: model.float_model.params[i] if plan.is_float(i) else model.params[i]
              for i in plan.spec.param_layers()}
    return {i: jax.device_put(dict(p)) for i, p in source.items()}


def split_weights(plan: Plan, model: QuantizedModel) -> tuple[dict, dict]:
    """``(trainable, frozen)`` parameters, the two weight arguments of :func:`train_step`; frozen
    holds only the layers the step runs (from ``plan.start`` on), sparing the call the others."""
    weights = plan_weights(plan, model)
    trainable = {i: w for i, w in weights.items() if i in plan.trainable}
    return trainable, {i: w for i, w in weights.items() if i not in trainable and i >= plan.start}


def _layer_forward(plan: Plan, weights: dict, consts: dict, i: int, layer, inp: Array,
                   outputs: dict, saved: dict | None) -> Array:
    is_float = plan.is_float(i)
    in_shape = plan.spec.input_of(i)
    activation = _activation(layer)
    if isinstance(layer, (Conv, Dense)):
        if is_float:
            x = inp
            y = K.param_forward_f(layer, in_shape, weights[i], x, plan.ordered)
        else:
            x = quant.centred(inp, jnp.broadcast_to(_tensor_qp(consts, i - 1).zero, inp.shape[:1]))
            y = K.param_forward_q(plan.param_info(i, consts), weights[i], x, consts["act"][i]["zero"])
        if saved is not None and i in plan.trainable:
            saved[f"x{i}"] = x
    elif isinstance(layer, MaxPool):
        y, arg = K.maxpool_forward(inp, layer.window)
        if saved is not None:
            saved[f"arg{i}"] = arg
    elif isinstance(layer, (AvgPool, GlobalAvgPool)):
        if is_float:
            y = K.pool_forward_f(layer, inp, plan.ordered)
        elif isinstance(layer, AvgPool):
            y = K.avgpool_forward_q(inp, layer.window)
        else:
            y = K.gap_forward_q(inp)
    elif isinstance(layer, Flatten):
        y = inp.reshape(inp.shape[0], -1)
    elif isinstance(layer, Add):
        other = outputs[layer.skip]
        if is_float:
            y = K.activate_float(inp + other, activation)
        else:
            y = K.add_forward_q(inp, other, _tensor_qp(consts, i - 1).zero, _tensor_qp(consts, layer.skip).zero,
                                consts["act"][i]["zero"], consts["add"][i], consts["act"][i]["range"])
    else:  # pragma: no cover - spec validation rejects unknown layers
        raise ValueError(f"unknown layer {layer!r}")
    if saved is not None and activation != "none":
        saved[f"y{i}"] = y
    return y


# --- loss and sparse-update rate (design 5, 10) ------------------------------------------------------------


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[Array, Array]:
    """Per-sample loss and ``dL/dlogits``; the class sum is taken in class order."""
    z = logits - jnp.max(logits, axis=1, keepdims=True)
    ex = exp_f32(z)
    total = ex[:, 0]
    for c in range(1, logits.shape[1]):
        total = total + ex[:, c]
    probs = strict(ex * quant.reciprocal(total)[:, None])
    onehot = jax.nn.one_hot(labels, logits.shape[1], dtype=jnp.float32)
    z_label = jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0]
    return log_f32(total) - z_label, probs - onehot


def update_rate(losses: Array, valid: Array, loss_max: Array, lambda_min: Array, lambda_max: Array) -> tuple[Array, Array]:
    """Eq. (9) rate per sample, ``eps = L / L_max`` with ``L_max`` running in sample order."""
    running = jnp.maximum(loss_max, jax.lax.cummax(jnp.where(valid, losses, 0.0), axis=0))
    eps = jnp.where(running > 0, losses / jnp.where(running > 0, running, 1.0), 0.0)
    rate = jnp.minimum(lambda_min + strict(eps * (lambda_max - lambda_min)), 1.0)
    return rate, running[-1]


# --- backward ------------------------------------------------------------------------------------------------


def _merge(contributions: dict[int, object], quantized: bool):
    """Sum the errors arriving at one tensor, in consumer order (residual forks, design 4)."""
    items = [contributions[k] for k in sorted(contributions)]
    if not quantized:
        total = items[0]
        for item in items[1:]:
            total = total + item
        return total
    if len(items) == 1 and isinstance(items[0], K.QError):
        return items[0]
    terms = [item if not isinstance(item, K.QError)
             else strict(quant.per_sample(item.scale, item.centred.ndim) * item.centred.astype(jnp.float32))
             for item in items]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    q, qp = quant.dynamic_quantize_float(total)
    return K.QError(quant.centred(q, qp.zero), qp.scale)


def backward(plan: Plan, weights: dict, consts: dict, saved: dict, dlogits: Array,
             rate: Array | None, errors: dict | None = None) -> tuple[dict, dict]:
    """Per-sample gradient contributions ``{layer: Grad}`` and kept-channel fractions ``{layer: [b]}``.

    ``errors``, if given, receives each layer's output error ``E_n`` (after its activation mask,
    before sparse selection), a :class:`~explore.fqt.kernels.QError` or a float array, for inspection.
    """
    spec = plan.spec
    last = len(spec.layers) - 1
    pending: dict[int, dict[int, object]] = {last: {len(spec.layers): dlogits}}
    grads: dict[int, K.Grad] = {}
    kept: dict[int, Array] = {}

    def send(tensor: int, consumer: int, err) -> None:
        if tensor >= plan.first:
            pending.setdefault(tensor, {})[consumer] = err

    for i in range(last, plan.first - 1, -1):
        if i not in pending:
            continue
        layer = spec.layers[i]
        is_float = plan.is_float(i)
        err = _merge(pending.pop(i), quantized=not is_float)
        err = _mask(plan, consts, saved, i, layer, err)
        if errors is not None:
            errors[i] = err
        in_shape = spec.input_of(i)
        need_input = i - 1 >= plan.first
        if isinstance(layer, (Conv, Dense)):
            x = saved.get(f"x{i}")
            layer_rate = rate if plan.sparse else None
            if is_float:
                grad, frac, up = K.param_backward_f(layer, in_shape, weights[i], err, x, layer_rate, need_input,
                                                    plan.ordered)
            else:
                x_scale = _tensor_qp(consts, i - 1).scale
                grad, frac, up = K.param_backward_q(plan.param_info(i, consts), weights[i], err, x, x_scale,
                                                    layer_rate, need_input)
            if grad is not None:
                grads[i], kept[i] = grad, frac
        elif isinstance(layer, MaxPool):
            up = _map_error(err, lambda e: K.maxpool_backward(e, saved[f"arg{i}"], layer.window, in_shape))
        elif isinstance(layer, (AvgPool, GlobalAvgPool)):
            inv_count = np.float32(1.0) / np.float32(K.pool_count(layer, in_shape))
            spread = _map_error(err, lambda e: K.spread(e, layer, in_shape))
            # strict: XLA would otherwise fold inv_count into the next layer's products.
            up = (strict(spread * inv_count) if is_float
                  else K.QError(spread.centred, strict(spread.scale * inv_count)))
        elif isinstance(layer, Flatten):
            up = _map_error(err, lambda e: e.reshape((e.shape[0],) + in_shape))
        else:  # Add: the error reaches both inputs unchanged
            send(layer.skip, i, err)
            up = err
        if need_input and up is not None:
            send(i - 1, i, up)
    return grads, kept


def _mask(plan: Plan, consts: dict, saved: dict, i: int, layer, err):
    activation = _activation(layer)
    if activation == "none":
        return err
    if plan.is_float(i):
        return K.mask_float(err, saved[f"y{i}"], activation)
    return K.mask_q(err, saved[f"y{i}"], consts["act"][i]["window"])


def _map_error(err, fn):
    if isinstance(err, K.QError):
        return K.QError(fn(err.centred), err.scale)
    return fn(err)


# --- gradient buffers, statistics and the update (design 6-9) ---------------------------------------------------


class ChannelStats(NamedTuple):
    """Welford statistics per output channel: element count, mean and sum of squared deviations."""

    count: Array
    mean: Array
    m2: Array


def accumulate(per_sample: Array, valid: Array) -> Array:
    """Gradient buffer: the sum of the valid samples' contributions, in sample order."""
    def add(buffer, item):
        contribution, ok = item
        return jnp.where(ok, buffer + contribution, buffer), None

    buffer, _ = jax.lax.scan(add, jnp.zeros(per_sample.shape[1:], jnp.float32), (strict(per_sample), valid))
    return buffer


def channel_statistics(per_sample: Array, valid: Array) -> ChannelStats:
    """Mean and deviation of all gradient elements per output channel (last axis) in the minibatch.

    Welford's recurrence runs over each sample's elements of a channel in memory order; the
    per-sample results are then merged in sample order with Chan's formula.
    """
    b, channels = per_sample.shape[0], per_sample.shape[-1]
    values = strict(per_sample.reshape(b, -1, channels))
    elements = values.shape[1]

    def welford(carry, item):
        mean, m2 = carry
        x, count = item
        delta = x - mean
        mean = mean + strict(delta * quant.reciprocal(count))
        m2 = m2 + strict(delta * (x - mean))
        return (mean, m2), None

    counts = jnp.arange(1, elements + 1, dtype=jnp.float32)
    zeros = jnp.zeros((b, channels), jnp.float32)
    (means, m2s), _ = jax.lax.scan(welford, (zeros, zeros), (jnp.moveaxis(values, 1, 0), counts))

    def merge(carry, item):
        n_a, mean_a, m2_a = carry
        mean_b, m2_b, ok = item
        n_b = jnp.float32(elements)
        n = n_a + n_b
        delta = mean_b - mean_a
        mean = mean_a + strict(delta * (n_b / n))
        m2 = (m2_a + m2_b) + strict((delta * delta) * ((n_a * n_b) / n))
        merged = (n, mean, m2)
        return tuple(jnp.where(ok, new, old) for new, old in zip(merged, carry)), None

    start = (jnp.float32(0.0), jnp.zeros(channels, jnp.float32), jnp.zeros(channels, jnp.float32))
    (count, mean, m2), _ = jax.lax.scan(merge, start, (means, m2s, valid))
    return ChannelStats(count, mean, m2)


def standardized_gradient(buffer: Array, stats: ChannelStats, n_valid: Array) -> Array:
    """Eq. (8): ``(g_mean - mu_c) / (sigma_c + 1e-8)`` with ``g_mean = buffer / n``."""
    g_mean = strict(buffer * quant.reciprocal(n_valid))
    sigma = jnp.sqrt(stats.m2 * quant.reciprocal(jnp.maximum(stats.count, 1.0)))
    return (g_mean - stats.mean) * quant.reciprocal(sigma + STD_EPSILON)


def update_quantized(p: dict, g_hat: Array, bias_mean: Array, lr: Array, x_scale: Array, y_scale: Array) -> dict:
    """Eqs. (5)-(7): float step, re-derive the range of the whole tensor, requantize; bias follows."""
    w_old = strict((p["w_q"].astype(jnp.int32) - p["w_zero"]).astype(jnp.float32) * p["w_scale"])
    w_new = w_old - strict(lr * g_hat)
    qp = quant.choose_qparams(jnp.min(w_new), jnp.max(w_new), p["w_scale"])
    b_f = p["b_f"] - strict(lr * bias_mean)
    b_q, m0, shift = quant.bias_and_multiplier(b_f, qp.scale, x_scale, y_scale)
    return {"w_q": quant.quantize(w_new, qp), "w_scale": qp.scale, "w_zero": qp.zero,
            "b_f": b_f, "b_q": b_q, "m0": m0, "shift": shift}


def update_float(p: dict, g_hat: Array, bias_mean: Array, lr: Array) -> dict:
    return {"w": p["w"] - strict(lr * g_hat), "b": p["b"] - strict(lr * bias_mean)}


class Hyper(NamedTuple):
    lr: Array
    lambda_min: Array
    lambda_max: Array


class StepOutput(NamedTuple):
    trainable: dict
    loss_max: Array
    losses: Array
    correct: Array
    kept: dict


def gradient_buffers(plan: Plan, weights: dict, consts: dict, x: Array, labels: Array, valid: Array,
                     loss_max: Array, hyper: Hyper) -> dict:
    """Forward, loss and backward of one minibatch; returns buffers, statistics and what was kept."""
    logits, saved = forward(plan, weights, consts, x, keep=True)
    losses, dlogits = softmax_cross_entropy(logits, labels)
    losses = jnp.where(valid, losses, 0.0)
    rate, new_max = update_rate(losses, valid, loss_max, hyper.lambda_min, hyper.lambda_max)
    grads, kept = backward(plan, weights, consts, saved, dlogits, rate)
    buffers = {i: K.Grad(accumulate(g.w, valid), accumulate(g.b, valid)) for i, g in grads.items()}
    stats = {i: channel_statistics(g.w, valid) for i, g in grads.items()}
    correct = (jnp.argmax(logits, axis=1) == labels) & valid
    return {"saved": saved, "buffers": buffers, "stats": stats, "kept": kept, "losses": losses,
            "loss_max": new_max, "correct": correct, "per_sample": grads}


def train_step(plan: Plan, trainable: dict, frozen: dict, consts: dict, x: Array, labels: Array,
               valid: Array, loss_max: Array, hyper: Hyper) -> StepOutput:
    """One minibatch: accumulate gradients over its valid samples, then update every trainable layer.

    ``x`` is the minibatch as ``plan`` takes it: the samples, or from ``plan.start`` on, the prefix's
    tensors (:func:`prefix_outputs`)."""
    weights = {**frozen, **trainable}
    out = gradient_buffers(plan, weights, consts, x, labels, valid, loss_max, hyper)
    n_valid = jnp.sum(valid).astype(jnp.float32)
    new = {}
    for i, buffer in out["buffers"].items():
        g_hat = standardized_gradient(buffer.w, out["stats"][i], n_valid)
        bias_mean = buffer.b * quant.reciprocal(n_valid)
        if plan.is_float(i):
            new[i] = update_float(trainable[i], g_hat, bias_mean, hyper.lr)
        else:
            new[i] = update_quantized(trainable[i], g_hat, bias_mean, hyper.lr,
                                      _tensor_qp(consts, i - 1).scale, consts["act"][i]["scale"])
    kept = {i: jnp.where(valid, k, 0.0) for i, k in out["kept"].items()}
    return StepOutput(new, out["loss_max"], out["losses"], out["correct"], kept)
