"""The `search:` section of a campaign: what a study may choose, what it optimizes, where it stores.

A search space narrows genome keys (the family's architecture keys plus ``sparsity`` and
``config``) to ranges or choice lists; the trainable set is either "the last k layers" with k in a
range or one of explicit layer sets; λ is sampled so that λ_min <= λ_max always holds (λ_max in
``[low, high]``, then λ_min = low + u (λ_max - low) with u in [0, 1]).  Objectives are chosen from
:data:`OBJECTIVES`; per-board budgets may tighten a board profile's.  Cross-checks against the family
and the boards happen in :func:`check_search`, after the schema, so that every error names its key.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal

from pydantic import Field, model_validator

from explore.campaign.boards import Budgets
from explore.config import MAX_COUNT, MAX_EPOCHS, MAX_TRIALS, StrictModel
from explore.errors import BadInput, shown
from explore.model.families.keys import Key

#: objective -> (default direction, unit, what it is)
OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "accuracy": ("maximize", "", "test accuracy after on-device training"),
    "train_sram": ("minimize", "bytes", "SRAM during on-device training (arena + trainable + statics)"),
    "flash": ("minimize", "bytes", "flash"),
    "train_latency": ("minimize", "ms", "latency per training sample"),
    "infer_latency": ("minimize", "ms", "latency per inference"),
    "energy": ("minimize", "mJ", "energy per training sample"),
}
SAMPLERS = ("tpe", "nsga2", "gp", "random", "dnas", "dnas+tpe", "dnas+nsga2")
#: samplers that need no supernet
BLACK_BOX_SAMPLERS = ("tpe", "nsga2", "gp", "random")
#: genome keys `search.space` may narrow besides the family's architecture keys
SPACE_PIPELINE_KEYS = ("sparsity", "config")


class Range(StrictModel):
    """A number range; ``log`` samples on a log scale; ``step`` discretizes it."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class Choices(StrictModel):
    choices: list[int | float | str | bool] = Field(min_length=1)


class TrainableSpace(StrictModel):
    """Either ``last`` (k conv/dense layers from the end, k in a range) or ``sets`` (explicit index sets)."""

    last: Range | None = None
    sets: list[list[int]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> TrainableSpace:
        if (self.last is None) == (self.sets is None):
            raise ValueError("give exactly one of `last: {low, high}` or `sets: [[...], ...]`")
        if self.last is not None and (self.last.low < 1 or not float(self.last.low).is_integer()
                                      or not float(self.last.high).is_integer()):
            raise ValueError("last: low and high must be whole numbers >= 1")
        if self.sets is not None and any(not s or min(s) < 0 or max(s) > MAX_COUNT for s in self.sets):
            raise ValueError(f"sets: every set must list at least one layer index in [0, {MAX_COUNT}]")
        return self


class LambdaSpace(StrictModel):
    """λ_max in [low, high]; λ_min in [low, λ_max]."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LambdaSpace:
        if self.low > self.high:
            raise ValueError(f"inverted λ range: low ({self.low}) must not exceed high ({self.high})")
        return self


class Objective(StrictModel):
    name: str
    direction: Literal["maximize", "minimize"] | None = None
    #: the board whose cost this objective reads (default: the campaign's first board)
    board: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Objective:
        if self.name not in OBJECTIVES:
            raise ValueError(f"unknown objective {shown(self.name)}{_did_you_mean(self.name, OBJECTIVES)}; "
                             f"allowed: {', '.join(OBJECTIVES)}")
        return self

    @property
    def resolved_direction(self) -> str:
        return self.direction or OBJECTIVES[self.name][0]


class SamplerConfig(StrictModel):
    """``dnas`` proposes every design by gradient search on a supernet (leftover trials, if the
    search finds fewer distinct designs, are random); ``dnas+tpe`` / ``dnas+nsga2`` enqueue the
    proposals first and let TPE / NSGA-II continue from them."""

    name: Literal["tpe", "nsga2", "gp", "random", "dnas", "dnas+tpe", "dnas+nsga2"] = "tpe"
    n_startup_trials: int = Field(10, ge=0, le=MAX_TRIALS)
    population_size: int = Field(16, ge=2, le=MAX_TRIALS)
    #: designs the gradient search proposes (default: all trials for dnas, n_startup_trials for
    #: dnas+tpe, population_size for dnas+nsga2)
    proposals: int | None = Field(None, ge=1, le=MAX_TRIALS)
    #: supernet training epochs (default: pretrain.epochs)
    supernet_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    #: Adam steps of each gradient run
    search_steps: int = Field(40, ge=1, le=MAX_COUNT)

    @property
    def gradient(self) -> bool:
        return self.name.startswith("dnas")

    def proposal_count(self, trials: int) -> int:
        if self.proposals is not None:
            return min(self.proposals, trials)
        default = {"dnas": trials, "dnas+tpe": self.n_startup_trials, "dnas+nsga2": self.population_size}
        return max(1, min(default.get(self.name, trials), trials))


class EarlyStopping(StrictModel):
    """Stop a trial's on-device training once its accuracy can no longer reach the Pareto front."""

    enabled: bool = False
    #: epochs every trial trains before it may be stopped
    min_epochs: int = Field(2, ge=1, le=MAX_EPOCHS)
    #: accuracy added to the optimistic guess of a trial's final accuracy, for noise
    slack: float = Field(0.01, ge=0, le=1)


class SearchConfig(StrictModel):
    space: dict[str, Range | Choices] = Field(default_factory=dict)
    trainable: TrainableSpace | None = None
    lambdas: LambdaSpace | None = Field(None, alias="lambda")
    objectives: list[Objective] = Field(default_factory=lambda: [Objective(name="accuracy"),
                                                                 Objective(name="train_sram")], min_length=1)
    budgets: dict[str, Budgets] = Field(default_factory=dict)
    sampler: SamplerConfig = SamplerConfig()
    early_stopping: EarlyStopping = EarlyStopping()
    trials: int = Field(30, ge=1, le=MAX_TRIALS)
    #: None: Optuna's journal file under results/<campaign>/; else an RDB URL (postgresql://...)
    storage: str | None = None


def _did_you_mean(word: str, allowed: Any) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_space(search: SearchConfig, keys: dict[str, Key], where: str) -> None:
    """Every space key is a genome key and stays inside that key's own range or choices."""
    for name, dist in search.space.items():
        at = f"{where}search.space.{name}"
        if name not in keys:
            raise BadInput(f"{at}: unknown genome key{_did_you_mean(name, keys)}; allowed: {', '.join(keys)}")
        key = keys[name]
        if key.choices is not None:
            if not isinstance(dist, Choices):
                raise BadInput(f"{at}: {name} takes `choices:` from {list(key.choices)}, not a range")
            for value in dist.choices:
                key.check(name, value, at)
        else:
            if isinstance(dist, Choices):
                for value in dist.choices:
                    key.check(name, value, at)
                continue
            for bound in (dist.low, dist.high):
                key.check(name, int(bound) if key.kind == "int" and float(bound).is_integer() else bound, at)


def space_size(search: SearchConfig, keys: dict[str, Key]) -> dict:
    """Discrete combinations and continuous dimensions of the space (for `explore check`)."""
    discrete, continuous = 1, []
    for name, dist in search.space.items():
        if isinstance(dist, Choices):
            discrete *= len(dist.choices)
        elif keys[name].kind == "int":
            discrete *= int(dist.high) - int(dist.low) + 1 if dist.step is None else \
                int((dist.high - dist.low) // dist.step) + 1
        elif dist.step is not None:
            discrete *= int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1
        elif dist.high > dist.low:
            continuous.append(name)
    if search.trainable is not None:
        t = search.trainable
        discrete *= len(t.sets) if t.sets is not None else int(t.last.high) - int(t.last.low) + 1
    if search.lambdas is not None and search.lambdas.high > search.lambdas.low:
        continuous += ["lambda_max", "lambda_min"]
    return {"discrete_combinations": discrete, "continuous": continuous}
