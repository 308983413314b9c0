"""The work of one training sample, per runtime_c kernel call (design.md, "Latency and energy").

:func:`layer_work` lists every kernel call of one training sample (and of the minibatch's update)
with its units of work per kernel of the board profile (``conv_mac``, ``input_grad_mac``, ...) and
per precision; :func:`op_counts` sums them by phase.  It knows nothing of boards.  The backward pass
of a trainable layer computes only the channels the dynamic sparse update keeps (design 10), so its
input-error and weight-gradient work scale with the design's kept fraction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from explore.cost.design import Design
from explore.cost.lifetimes import masks_error
from explore.cost.state import layer_sizes
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec

PHASES = ("forward", "backward", "update")
PRECISIONS = ("uint8", "float32")

#: {phase: {(kernel, precision): units of work}} for one training sample (update: per minibatch).
OpCounts = dict[str, dict[tuple[str, str], float]]


def _valid_taps(size: int, kernel: int, stride: int, padding: str) -> int:
    """Kernel taps that land inside the input, summed over the output positions of one axis (the C
    kernels skip the zero padding)."""
    if padding == "valid":
        return ((size - kernel) // stride + 1) * kernel
    out = -(-size // stride)
    pad_lo = max((out - 1) * stride + kernel - size, 0) // 2
    return sum(min(o * stride - pad_lo + kernel, size) - max(o * stride - pad_lo, 0) for o in range(out))


def macs(spec: ModelSpec, i: int) -> int:
    """Multiply-accumulates of the forward pass of conv/dense layer ``i``, padding excluded."""
    layer = spec.layers[i]
    in_shape = spec.input_of(i)
    if isinstance(layer, Dense):
        return math.prod(in_shape) * layer.features
    strides = layer.strides or (1,) * len(layer.kernel)
    taps = math.prod(_valid_taps(n, k, s, layer.padding) for n, k, s in zip(in_shape[:-1], layer.kernel, strides))
    return taps * layer.features * (1 if layer.depthwise else in_shape[-1])


class Loops(NamedTuple):
    """The loops of one conv/dense kernel call, per sample: MACs, patch elements gathered, entries
    into the loop over input channels, and output positions."""

    macs: int
    patch: int
    taps: float
    positions: int


def loop_units(spec: ModelSpec, i: int) -> Loops:
    """MACs (:func:`macs`), patch elements and channel-loop entries of conv/dense layer ``i`` (a dense
    layer is a 1x1 conv over a 1x1 image in runtime_c): the patch is gathered whole at every output
    position, padding taps included, and the loop over input channels is entered once per output
    element and tap inside the input.  With few channels these, not the MACs, dominate the kernel."""
    layer = spec.layers[i]
    count = macs(spec, i)
    if isinstance(layer, Dense):
        return Loops(count, math.prod(spec.input_of(i)), layer.features, 1)
    channels = 1 if layer.depthwise else spec.input_of(i)[-1]
    positions = math.prod(spec.shapes[i][:-1])
    return Loops(count, positions * math.prod(layer.kernel) * channels, count / channels, positions)


def _mac_kernel(layer: Conv | Dense) -> str:
    if isinstance(layer, Dense):
        return "dense_mac"
    return "dwconv_mac" if layer.depthwise else "conv_mac"


#: The events of runtime_c's per-kernel profile (runtime_c/src/runtime_internal.h), in its order.
EVENTS = ("forward", "loss", "merge", "mask", "select", "weight_grad", "input_error", "pool_backward", "copy",
          "update", "input")
_PHASE_OF = {"input": "forward", "forward": "forward", "update": "update"}


@dataclass(frozen=True)
class Work:
    """The work of one runtime_c kernel call: layer (``len(layers)``: the loss), event and units per
    (kernel, precision), the call itself among them.  Forward and backward calls happen per sample,
    updates per minibatch."""

    layer: int
    event: str
    units: dict[tuple[str, str], float]

    def __post_init__(self) -> None:
        precision = next(iter(self.units))[1]
        self.units[("call", precision)] = self.units.get(("call", precision), 0.0) + 1.0

    @property
    def phase(self) -> str:
        return _PHASE_OF.get(self.event, "backward")


def layer_work(design: Design) -> list[Work]:
    """Every kernel call of one training sample (and of the minibatch's update), with its work."""
    spec = design.spec
    fp = spec.float_from(design.config)
    first = min(design.trainable)
    input_precision = "float32" if fp == 0 else "uint8"
    calls: list[Work] = [Work(len(spec.layers), "input", {("input", input_precision): math.prod(spec.input_shape)})]
    for i, layer in enumerate(spec.layers):
        precision = "float32" if fp <= i else "uint8"
        forward = _forward_work(spec, i, precision)
        if forward:
            calls.append(Work(i, "forward", forward))
        if i >= first:
            calls += _backward_work(design, i, precision, fp, first)
    last_precision = "float32" if fp <= len(spec.layers) - 1 else "uint8"
    calls.append(Work(len(spec.layers), "loss", {("loss", last_precision): spec.num_classes}))
    return calls


def _backward_work(design: Design, i: int, precision: str, fp: int, first: int) -> list[Work]:
    spec, layer = design.spec, design.spec.layers[i]
    out_elems = math.prod(spec.shapes[i])
    in_elems = math.prod(spec.input_of(i))
    need_input = i - 1 >= first
    calls = []
    consumers = len(spec.consumers(i))
    if consumers > 1 or (consumers == 1 and (fp <= i + 1) != (fp <= i)):
        # errors meeting here are summed and requantized
        calls.append(Work(i, "merge", {("error_elem", precision): out_elems, ("error_quant", precision): out_elems}))
    if getattr(layer, "activation", "none") != "none":
        calls.append(Work(i, "mask", {("error_elem", precision): out_elems}))
    if isinstance(layer, (Conv, Dense)):
        trained = i in design.trainable
        rate = design.rate(i) if trained else 1.0
        loops = loop_units(spec, i) if trained or need_input else None
        if trained:
            weights, channels = layer_sizes(spec, i)
            if design.sparse:
                calls.append(Work(i, "select", {("error_elem", precision): out_elems}))  # l1 norms
            calls.append(Work(i, "weight_grad", {("weight_grad_mac", precision): rate * loops.macs,
                                                 ("weight_grad_patch", precision): loops.patch,
                                                 ("weight_grad_tap", precision): rate * loops.taps,
                                                 ("weight_grad_call", precision): 1.0,
                                                 ("weight_grad_position", precision): loops.positions,
                                                 ("grad_accum", precision): rate * (weights + channels)}))
            calls.append(Work(i, "update", {("update", precision): weights + channels}))
        if need_input:
            calls.append(Work(i, "input_error", {("input_grad_mac", precision): rate * loops.macs,
                                                 ("input_grad_patch", precision): loops.patch,
                                                 ("input_grad_tap", precision): rate * loops.taps,
                                                 ("input_grad_call", precision): 1.0,
                                                 ("input_grad_position", precision): loops.positions,
                                                 ("error_quant", precision): in_elems}))
    elif isinstance(layer, (MaxPool, AvgPool, GlobalAvgPool)) and need_input:
        calls.append(Work(i, "pool_backward", {("error_elem", precision): in_elems}))
    elif isinstance(layer, Add) and need_input and masks_error(spec, i - 1):
        calls.append(Work(i, "copy", {("error_elem", precision): in_elems}))  # the add's private error copy
    return calls


def op_counts(design: Design) -> OpCounts:
    """Units of work per kernel and precision of one training sample; ``update`` is per minibatch."""
    counts: OpCounts = {phase: defaultdict(float) for phase in PHASES}
    for call in layer_work(design):
        for key, units in call.units.items():
            counts[call.phase][key] += units
    return {phase: dict(work) for phase, work in counts.items()}


def _forward_work(spec: ModelSpec, i: int, precision: str) -> dict[tuple[str, str], float]:
    layer = spec.layers[i]
    if isinstance(layer, (Conv, Dense)):
        loops = loop_units(spec, i)
        return {(_mac_kernel(layer), precision): loops.macs, ("conv_patch", precision): loops.patch,
                ("conv_tap", precision): loops.taps, ("conv_call", precision): 1.0,
                ("conv_position", precision): loops.positions, ("output", precision): math.prod(spec.shapes[i])}
    if isinstance(layer, (MaxPool, AvgPool, GlobalAvgPool)):
        return {("pool", precision): math.prod(spec.input_of(i))}
    if isinstance(layer, Add):
        return {("add", precision): math.prod(spec.shapes[i])}
    if isinstance(layer, Flatten):
        return {}
    raise ValueError(f"no cost for layer {layer!r}")  # pragma: no cover - the spec admits no other layer
