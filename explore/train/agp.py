"""Automated gradual pruning (Zhu & Gupta, 2017) by L1 magnitude, structured or unstructured.

During float training the sparsity follows

    s_t = s_f + (s_0 - s_f) * (1 - (t - t_0) / (n * dt)) ** 3,   t = t_0, t_0 + dt, ..., t_0 + n * dt

and at each of those steps the smallest-L1 weights (unstructured) or output channels (structured)
are masked; masks only grow, and the optimizer's updates are re-masked after every step.

*Structured* pruning removes whole output channels.  A channel is removable only when nothing but
pooling, flatten and depthwise convs stand between its producer and the next conv/dense layer; a
producer whose output reaches a residual :class:`~explore.model.spec.Add` keeps all its channels, as
both operands of an add must agree.  After training, :func:`shrink` deletes the masked channels
physically (and the matching depthwise channels and input rows of the consumers), so tensors,
SRAM and flash shrink as in the paper.  Sparsity is the fraction of prunable output channels removed.

*Unstructured* pruning masks single weights of every conv/dense kernel.  The weights stay dense in
memory: the C runtime stores dense tensors, so unstructured sparsity saves neither flash nor SRAM
and the cost model does not count it.  Sparsity is the fraction of kernel weights that are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping

import jax
import numpy as np

from explore.errors import BadInput
from explore.model import spec as S
from explore.train.floatnet import BN_EPSILON
from explore.model.deployable import FloatModel
from explore.model.channels import allocate_removed, channel_groups
from explore.model.spec import ModelSpec

Kind = Literal["structured", "unstructured"]


@dataclass(frozen=True)
class AGPSchedule:
    """s_0 = ``initial_sparsity``, s_f = ``final_sparsity``, t_0 = ``start_step``, n = ``steps``, dt = ``frequency``."""

    kind: Kind
    final_sparsity: float
    initial_sparsity: float = 0.0
    start_step: int = 0
    steps: int = 10
    frequency: int = 50

    def __post_init__(self) -> None:
        if self.kind not in ("structured", "unstructured"):
            raise BadInput(f"pruning.kind {self.kind!r} must be 'structured' or 'unstructured'")
        for name in ("initial_sparsity", "final_sparsity"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise BadInput(f"pruning.{name} = {getattr(self, name)} must lie in [0, 1)")
        if self.initial_sparsity > self.final_sparsity:
            raise BadInput(f"pruning.initial_sparsity = {self.initial_sparsity} must not exceed "
                           f"final_sparsity = {self.final_sparsity}")
        if self.start_step < 0 or self.steps < 1 or self.frequency < 1:
            raise BadInput("pruning.start_step must be >= 0, and pruning.steps and pruning.frequency >= 1")

    @property
    def end_step(self) -> int:
        return self.start_step + self.steps * self.frequency

    def is_pruning_step(self, t: int) -> bool:
        return self.start_step <= t <= self.end_step and (t - self.start_step) % self.frequency == 0

    def sparsity_at(self, t: int) -> float:
        """Target sparsity in force after step ``t`` (0 before t_0, s_f from t_0 + n dt on)."""
        if t < self.start_step:
            return 0.0
        done = min((t - self.start_step) // self.frequency, self.steps)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1 - done / self.steps) ** 3


def _name(i: int) -> str:
    return f"layer_{i}"


def _kernel_path(spec: ModelSpec, i: int) -> tuple[str, str]:
    return (_name(i), "dense" if isinstance(spec.layers[i], S.Dense) else "conv")


def ones_like_masks(params: Mapping) -> Any:
    return jax.tree_util.tree_map(lambda p: np.ones(np.shape(p), np.float32), params)


def _effective_channel_l1(spec: ModelSpec, variables: Mapping, i: int) -> np.ndarray:
    """L1 norm of each output channel's weights with BatchNorm's scale folded in (what inference sees)."""
    layer_params = variables["params"][_name(i)]
    module = _kernel_path(spec, i)[1]
    kernel = np.asarray(layer_params[module]["kernel"], np.float64)
    norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    if "bn" in layer_params:
        var = np.asarray(variables["batch_stats"][_name(i)]["bn"]["var"], np.float64)
        norms *= np.abs(np.asarray(layer_params["bn"]["scale"], np.float64)) / np.sqrt(var + BN_EPSILON)
    return norms


def _mask_channels(spec: ModelSpec, masks: dict, layer: int, off: np.ndarray) -> None:
    name = _name(layer)
    for module, leaves in masks[name].items():
        for leaf, mask in leaves.items():
            if leaf == "kernel":
                mask[..., off] = 0.0
            else:  # bias, BN scale and BN bias: one value per output channel
                mask[off] = 0.0


def update_masks(spec: ModelSpec, schedule: AGPSchedule, variables: Mapping, masks: Any, step: int) -> Any:
    """New masks at a pruning step: the smallest-L1 units go, masked units stay masked."""
    sparsity = schedule.sparsity_at(step)
    masks = jax.tree_util.tree_map(np.array, masks)  # writable copies
    if schedule.kind == "structured":
        groups = channel_groups(spec)
        norms = {i: _effective_channel_l1(spec, variables, i) * _channel_alive(spec, masks, i) for i in groups}
        counts = allocate_removed(sparsity, {i: len(n) for i, n in norms.items()})
        for i, followers in groups.items():
            off = np.argsort(norms[i], kind="stable")[:counts[i]]
            for layer in (i, *followers):
                _mask_channels(spec, masks, layer, off)
        return masks
    for i in spec.param_layers():
        name, module = _kernel_path(spec, i)
        kernel = np.abs(np.asarray(variables["params"][name][module]["kernel"])) * masks[name][module]["kernel"]
        count = round(sparsity * kernel.size)
        flat = masks[name][module]["kernel"].reshape(-1)
        flat[np.argsort(kernel.reshape(-1), kind="stable")[:count]] = 0.0
    return masks


def _channel_alive(spec: ModelSpec, masks: Any, i: int) -> np.ndarray:
    name, module = _kernel_path(spec, i)
    kernel_mask = masks[name][module]["kernel"]
    return (kernel_mask.reshape(-1, kernel_mask.shape[-1]).max(axis=0) > 0).astype(np.float64)


def kept_channels(spec: ModelSpec, masks: Any) -> dict[int, np.ndarray]:
    """Boolean kept-channel vector of every prunable producer."""
    return {i: _channel_alive(spec, masks, i) > 0 for i in channel_groups(spec)}


def shrink(model: FloatModel, kept: Mapping[int, np.ndarray]) -> FloatModel:
    """Delete the unkept output channels of each producer in ``kept``, with the depthwise channels
    and consumer input rows that carry them; a new, smaller spec results."""
    spec = model.spec
    live: np.ndarray | None = None  # kept entries of the current tensor's last axis (None: all)
    layers, params = [], {}
    for i, layer in enumerate(spec.layers):
        in_live = live
        if isinstance(layer, (S.Conv, S.Dense)):
            w, b = model.params[i]["w"], model.params[i]["b"]
            depthwise = isinstance(layer, S.Conv) and layer.depthwise
            if in_live is not None and not depthwise:
                w = w[..., in_live, :]
            out_live = in_live if depthwise else kept.get(i)
            if out_live is not None:
                w, b = w[..., out_live], b[out_live]
            layer = replace(layer, features=w.shape[-1])
            params[i] = {"w": np.ascontiguousarray(w), "b": np.ascontiguousarray(b)}
            live = out_live
        elif isinstance(layer, S.Flatten) and in_live is not None:
            live = np.broadcast_to(in_live, spec.input_of(i)).reshape(-1)
        elif isinstance(layer, S.Add) and in_live is not None:
            raise BadInput(f"layer {i}: cannot prune channels that reach a residual add")
        layers.append(layer)
    return FloatModel(ModelSpec(spec.input_shape, spec.num_classes, tuple(layers)), params)


def sparsity_report(before: ModelSpec, after: FloatModel, schedule: AGPSchedule | None,
                    masks: Any) -> dict:
    """What pruning reached: the target, the measured sparsity, per-layer detail and parameter counts."""
    report: dict = {"kind": schedule.kind if schedule else "none",
                    "target": schedule.final_sparsity if schedule else 0.0,
                    "params_before": before.param_count(), "params_after": after.spec.param_count()}
    if schedule is None:
        report["reached"] = 0.0
    elif schedule.kind == "structured":
        groups = channel_groups(before)
        layers = {i: {"channels_before": before.layers[i].features,
                      "channels_after": after.spec.layers[i].features,
                      "params_before": before.param_count((i,)),
                      "params_after": after.spec.param_count((i,))} for i in groups}
        removed = sum(v["channels_before"] - v["channels_after"] for v in layers.values())
        report["reached"] = removed / max(1, sum(v["channels_before"] for v in layers.values()))
        report["layers"] = {str(i): v for i, v in layers.items()}
    else:
        zeros = sum(int(np.sum(after.params[i]["w"] == 0)) for i in before.param_layers())
        weights = sum(after.params[i]["w"].size for i in before.param_layers())
        report["reached"] = zeros / weights
        report["nonzero_params"] = report["params_after"] - zeros
    return report
