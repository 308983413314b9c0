"""What one design costs on one board, as a typed, frozen value.

:class:`BoardCost` is what :func:`explore.cost.pricing.cost_on_board` returns.  Its
:meth:`~BoardCost.to_dict` is the plain form that trial attributes, ``metrics.json``, ``explore cost
--json`` and bundle manifests store (the keys are the field names), and :meth:`~BoardCost.from_dict`
reads that form back, so a study's stored costs are read by attribute too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Sram:
    """Bytes of SRAM during on-device training (design.md, "Memory accounting") and for inference."""

    arena: int
    trainable: int
    statics: int
    total: int
    budget: int
    inference_arena: int
    inference_total: int


@dataclass(frozen=True)
class Flash:
    frozen: int
    trainable_init: int
    tables: int
    runtime: int
    total: int
    budget: int


@dataclass(frozen=True)
class Phases:
    """Milliseconds per training sample by phase (the update amortised over the minibatch)."""

    forward: float
    backward: float
    update: float


@dataclass(frozen=True)
class Instructions:
    """Instructions per training sample by phase, their sum, and per inference."""

    forward: float
    backward: float
    update: float
    train_sample: float
    inference: float


@dataclass(frozen=True)
class Budget:
    limit: float
    value: float


@dataclass(frozen=True)
class Violation:
    budget: str
    limit: float
    value: float
    excess: float
    excess_pct: float


@dataclass(frozen=True)
class BoardCost:
    board: str
    sram_bytes: Sram
    flash_bytes: Flash
    train_latency_ms: float
    infer_latency_ms: float
    energy_mj_per_sample: float
    latency_ms: Phases
    instructions: Instructions
    arena_breakdown: Mapping[str, int] = field(hash=False)
    trainable_breakdown: Mapping[str, int] = field(hash=False)
    #: the kept-channel rate of each trainable layer the backward work was scaled by, keyed "<layer>"
    update_rates: Mapping[str, float] = field(hash=False)
    #: profile figures the costs rest on that no measurement has calibrated yet
    assumed: tuple[str, ...]
    #: every budget this board sets, met or not: a fixed list per board, for a search's constraints
    budgets: Mapping[str, Budget] = field(hash=False)
    feasible: bool
    violations: tuple[Violation, ...]

    # The search's cost objectives (campaign ``search.objectives`` names), read from this board.
    @property
    def train_sram(self) -> float:
        return float(self.sram_bytes.total)

    @property
    def flash(self) -> float:
        return float(self.flash_bytes.total)

    @property
    def train_latency(self) -> float:
        return self.train_latency_ms

    @property
    def infer_latency(self) -> float:
        return self.infer_latency_ms

    @property
    def energy(self) -> float:
        return self.energy_mj_per_sample

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["assumed"] = list(self.assumed)
        data["violations"] = [dataclasses.asdict(v) for v in self.violations]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BoardCost:
        """A board's costs from their stored form (:meth:`to_dict`)."""
        return cls(
            board=data["board"], sram_bytes=Sram(**data["sram_bytes"]), flash_bytes=Flash(**data["flash_bytes"]),
            train_latency_ms=data["train_latency_ms"], infer_latency_ms=data["infer_latency_ms"],
            energy_mj_per_sample=data["energy_mj_per_sample"], latency_ms=Phases(**data["latency_ms"]),
            instructions=Instructions(**data["instructions"]), arena_breakdown=dict(data["arena_breakdown"]),
            trainable_breakdown=dict(data["trainable_breakdown"]), update_rates=dict(data["update_rates"]),
            assumed=tuple(data["assumed"]),
            budgets={name: Budget(**b) for name, b in data["budgets"].items()},
            feasible=bool(data["feasible"]), violations=tuple(Violation(**v) for v in data["violations"]))


def costs_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, BoardCost]:
    """``{board: BoardCost}`` from the stored ``{board: cost dict}`` of a trial or ``metrics.json``."""
    return {name: BoardCost.from_dict(entry) for name, entry in data.items()}


def costs_to_dict(costs: Mapping[str, BoardCost]) -> dict[str, dict[str, Any]]:
    return {name: cost.to_dict() for name, cost in costs.items()}
