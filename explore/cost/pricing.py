"""Cost of a design on a board: SRAM, flash, latency and energy of on-device training, before any
training happens (design.md, "Memory accounting" and "Latency and energy").

A :class:`Design` is the network after pruning, its trainable set, numeric configuration, λ_min/λ_max
and on-device batch size.  Costs come in two steps:

1. :func:`op_counts` counts the work of one training sample per kernel of the board profile
   (``conv_mac``, ``input_grad_mac``, ...) and per precision, split into forward, backward and
   update (per minibatch).  It knows nothing of boards.
2. :func:`cost_on_board` prices the counts with the board's instructions per unit of work and its
   cycles per instruction, adds the memory plan, and checks the budgets.

Latency per training sample = forward + backward + update / batch size.  The backward pass of a
trainable layer computes only the channels the dynamic sparse update keeps (design 10), so its
input-error and weight-gradient work scale with the kept fraction: the rates recorded by a training
run when given, otherwise a prior, the rate at ε = 1/2 (the midpoint of λ_min and λ_max) rounded
down to whole channels as design 10 does.  Energy per sample = latency × (active − idle current) ×
supply voltage, as the paper reports it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple

from explore.campaign import Genome, PruningConfig
from explore.model.channels import pruned_spec
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec
from explore.campaign.boards import BoardProfile
from explore.cost.result import BoardCost, Budget, Flash, Instructions, Phases, Sram, Violation
from explore.cost.memory import ArenaPlan, layer_sizes, masks_error, model_flash, plan_inference, \
    plan_training, trainable_state

PHASES = ("forward", "backward", "update")
PRECISIONS = ("uint8", "float32")

#: {phase: {(kernel, precision): units of work}} for one training sample (update: per minibatch).
OpCounts = dict[str, dict[tuple[str, str], float]]


@dataclass(frozen=True)
class Design:
    """What the cost model needs to know about one design point."""

    spec: ModelSpec
    trainable: tuple[int, ...]
    config: str = "uint8"
    lambda_min: float = 1.0
    lambda_max: float = 1.0
    batch_size: int = 48
    #: Kept-channel fraction per trainable layer recorded by a training run; None: use the prior.
    update_rates: Mapping[int, float] | None = field(default=None, compare=False)

    @property
    def sparse(self) -> bool:
        return self.lambda_min < 1.0

    def rate(self, layer: int) -> float:
        """Fraction of layer ``layer``'s output channels its backward pass computes."""
        if not self.sparse:
            return 1.0
        if self.update_rates is not None and layer in self.update_rates:
            return float(self.update_rates[layer])
        channels = self.spec.layers[layer].features
        expected = min(self.lambda_min + 0.5 * (self.lambda_max - self.lambda_min), 1.0)
        return max(1, math.floor(expected * channels)) / channels


def design_from_genome(genome: Genome, pruning: PruningConfig, batch_size: int, input_shape: tuple[int, ...],
                       num_classes: int, where: str = "genome",
                       update_rates: Mapping[int, float] | None = None) -> Design:
    """The design ``genome`` describes, with structured pruning already applied."""
    spec = genome.network(input_shape, num_classes, where)
    if pruning.kind == "structured" and genome.sparsity > 0:
        spec = pruned_spec(spec, genome.sparsity)
    return Design(spec, genome.trainable_layers(spec), genome.config, genome.lambda_min, genome.lambda_max,
                  batch_size, update_rates)


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
    """The loops of one conv/dense kernel call, per sample: MACs, patch elements gathered, and entries
    into the loop over input channels."""

    macs: int
    patch: int
    taps: float


def loop_units(spec: ModelSpec, i: int) -> Loops:
    """MACs (:func:`macs`), patch elements and channel-loop entries of conv/dense layer ``i`` (a dense
    layer is a 1x1 conv over a 1x1 image in runtime_c): the patch is gathered whole at every output
    position, padding taps included, and the loop over input channels is entered once per output
    element and tap inside the input.  With few channels these, not the MACs, dominate the kernel."""
    layer = spec.layers[i]
    count = macs(spec, i)
    if isinstance(layer, Dense):
        return Loops(count, math.prod(spec.input_of(i)), layer.features)
    channels = 1 if layer.depthwise else spec.input_of(i)[-1]
    positions = math.prod(spec.shapes[i][:-1])
    return Loops(count, positions * math.prod(layer.kernel) * channels, count / channels)


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
                                                 ("grad_accum", precision): weights + channels}))
            calls.append(Work(i, "update", {("update", precision): weights + channels}))
        if need_input:
            calls.append(Work(i, "input_error", {("input_grad_mac", precision): rate * loops.macs,
                                                 ("input_grad_patch", precision): loops.patch,
                                                 ("input_grad_tap", precision): rate * loops.taps,
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
                ("conv_tap", precision): loops.taps, ("output", precision): math.prod(spec.shapes[i])}
    if isinstance(layer, (MaxPool, AvgPool, GlobalAvgPool)):
        return {("pool", precision): math.prod(spec.input_of(i))}
    if isinstance(layer, Add):
        return {("add", precision): math.prod(spec.shapes[i])}
    if isinstance(layer, Flatten):
        return {}
    raise ValueError(f"no cost for layer {layer!r}")  # pragma: no cover - the spec admits no other layer


# --- pricing on a board -----------------------------------------------------------------------------------


def _instructions(work: Mapping[tuple[str, str], float], board: BoardProfile) -> float:
    return sum(units * getattr(board.kernels[kernel], precision) for (kernel, precision), units in work.items())


def _milliseconds(instructions: float, board: BoardProfile) -> float:
    return instructions * board.cpi.value / board.clock_hz * 1e3


@dataclass(frozen=True)
class MemoryPlans:
    """The board-independent part of a design's cost: arena plans, trainable state, model flash."""

    training: ArenaPlan
    inference: ArenaPlan
    trainable: dict[str, int]
    flash: dict[str, int]
    counts: OpCounts


def plan_design(design: Design) -> MemoryPlans:
    return MemoryPlans(
        plan_training(design.spec, design.trainable, design.config, design.sparse),
        plan_inference(design.spec, design.config),
        trainable_state(design.spec, design.trainable, design.config),
        model_flash(design.spec, design.trainable, design.config),
        op_counts(design),
    )


def _violation(budget: str, limit: float, value: float) -> Violation:
    return Violation(budget, limit, value, value - limit, 100.0 * (value - limit) / limit)


def cost_on_board(design: Design, board: BoardProfile, plans: MemoryPlans | None = None) -> BoardCost:
    """Every cost of ``design`` on ``board``, with the budgets it violates."""
    plans = plans or plan_design(design)
    sram = _sram(design, board, plans)
    flash = _flash(design, board, plans)
    instructions = {phase: _instructions(plans.counts[phase], board) for phase in PHASES}
    instructions["update"] /= design.batch_size
    latency = Phases(**{phase: _milliseconds(count, board) for phase, count in instructions.items()})
    train_ms = latency.forward + latency.backward + latency.update
    infer_ms = latency.forward
    power = board.power
    energy = train_ms * (power.active_ma.value - power.idle_ma.value) * power.supply_v.value / 1e3
    checks = _budget_checks(board, sram, flash, train_ms, infer_ms, energy, plans.training.size)
    violations = tuple(_violation(name, limit, value) for name, limit, value in checks if value > limit)
    return BoardCost(
        board=board.name, sram_bytes=sram, flash_bytes=flash, train_latency_ms=train_ms, infer_latency_ms=infer_ms,
        energy_mj_per_sample=energy, latency_ms=latency,
        instructions=Instructions(**instructions, train_sample=sum(instructions.values()),
                                  inference=instructions["forward"]),
        arena_breakdown=plans.training.breakdown(),
        trainable_breakdown={k: v for k, v in plans.trainable.items() if k != "total"},
        update_rates={str(i): design.rate(i) for i in design.trainable},
        assumed=tuple(_assumed_figures(board)),
        budgets={name: Budget(limit, value) for name, limit, value in checks},
        feasible=not violations, violations=violations)


def _sram(design: Design, board: BoardProfile, plans: MemoryPlans) -> Sram:
    runtime = board.runtime
    integer = design.spec.float_from(design.config) > 0
    statics = int(runtime.statics_bytes.value + runtime.layer_state_bytes.value * len(design.spec.layers)
                  + (runtime.integer_stack_bytes.value if integer else 0))
    arena, trainable = plans.training.size, plans.trainable["total"]
    return Sram(arena=arena, trainable=trainable, statics=statics, total=arena + trainable + statics,
                budget=board.sram_budget, inference_arena=plans.inference.size,
                inference_total=plans.inference.size + statics)


def _flash(design: Design, board: BoardProfile, plans: MemoryPlans) -> Flash:
    tables = (len(design.spec.layers) * board.runtime.layer_record_bytes.value
              + (len(plans.training.buffers) + len(plans.inference.buffers)) * board.runtime.tensor_record_bytes.value)
    parts = {"frozen": plans.flash["frozen"], "trainable_init": plans.flash["trainable_init"],
             "tables": int(tables), "runtime": int(board.runtime.code_bytes.value)}
    return Flash(**parts, total=sum(parts.values()), budget=board.flash_budget)


def _budget_checks(board: BoardProfile, sram: Sram, flash: Flash, train_ms: float, infer_ms: float,
                   energy: float, arena: int) -> list[tuple[str, float, float]]:
    checks = [("sram_bytes", board.sram_budget, sram.total),
              ("flash_bytes", board.flash_budget, flash.total),
              ("arena_bytes_in_one_sram_bank", board.largest_sram_bank, arena),
              ("train_latency_ms", board.budgets.train_latency_ms, train_ms),
              ("infer_latency_ms", board.budgets.infer_latency_ms, infer_ms),
              ("energy_mj_per_sample", board.budgets.energy_mj_per_sample, energy)]
    return [(name, limit, value) for name, limit, value in checks if limit is not None]


def _assumed_figures(board: BoardProfile) -> list[str]:
    """Profile figures the costs rest on that no measurement has calibrated yet."""
    figures = {"cpi": board.cpi, **{f"power.{k}": v for k, v in board.power},
               **{f"runtime.{k}": v for k, v in board.runtime}}
    names = [name for name, fig in figures.items() if fig.source == "assumed"]
    return names + [f"kernels.{k}" for k, v in board.kernels.items() if v.source == "assumed"]


def cost_design(design: Design, boards: Iterable[BoardProfile]) -> dict[str, BoardCost]:
    """Costs of ``design`` on each board; the board-independent plans are computed once."""
    plans = plan_design(design)
    return {board.name: cost_on_board(design, board, plans) for board in boards}
