"""Cost of a design on a board: SRAM, flash, latency and energy of on-device training, before any
training happens (design.md, "Memory accounting" and "Latency and energy").

:func:`plan_design` computes the board-independent part once (arena plans, trainable state, model
flash, work per kernel); :func:`cost_on_board` prices the work with the board's instructions per
unit of work and its cycles per instruction, adds the memory, and checks the budgets.

Latency per training sample = forward + backward + update / batch size, the backward work scaled by
the design's kept-channel rates: the rates recorded by a training run when given, otherwise a prior,
the rate at ε = 1/2 (the midpoint of λ_min and λ_max) rounded down to whole channels as design 10
does.  Energy per sample = latency × (active − idle current) × supply voltage, as the paper reports
it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from explore.campaign.boards import BoardProfile, Runtime
from explore.cost.design import Design
from explore.cost.lifetimes import plan_inference, plan_training
from explore.cost.planner import ArenaPlan
from explore.cost.result import BoardCost, Budget, Flash, Instructions, Phases, Sram, Violation
from explore.cost.state import model_flash, trainable_state
from explore.cost.work import PHASES, OpCounts, op_counts


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
    statics = int(runtime.statics_bytes.value + runtime.layer_state_bytes.value * len(design.spec.layers)
                  + _integer_stack(design, runtime))
    arena, trainable = plans.training.size, plans.trainable["total"]
    return Sram(arena=arena, trainable=trainable, statics=statics, total=arena + trainable + statics,
                budget=board.sram_budget, inference_arena=plans.inference.size,
                inference_total=plans.inference.size + statics)


def _integer_stack(design: Design, runtime: Runtime) -> float:
    """Stack of the integer kernels' scratch: the deepest kernel's, not their sum.  The conv family's
    backward kernels' scratch is the largest, so a design that runs one in uint8 pays it (over the
    forward's); the depthwise forward's weight table counts only where none runs."""
    if not design.runs_integer_layers:
        return 0.0
    if design.runs_integer_conv_backward:
        return runtime.integer_stack_bytes.value + runtime.integer_training_stack_bytes.value
    return runtime.integer_stack_bytes.value + (runtime.integer_depthwise_stack_bytes.value
                                                if design.runs_integer_depthwise else 0.0)


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
