"""The campaign schema: every section of a campaign YAML as a typed, frozen pydantic model.

Loading and the checks that need more than one section are in :mod:`explore.campaign.load`; the
genome a search samples is in :mod:`explore.campaign.genome`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from explore.campaign.space import SearchConfig
from explore.config import MAX_BATCH_SIZE, MAX_COUNT, MAX_EPOCHS, MAX_SEED, StrictModel
from explore.errors import shown
from explore.data import DatasetConfig
from explore.model.families import FAMILIES

MAX_TRAINABLE_LAST = 64


class ModelConfig(StrictModel):
    family: str

    @field_validator("family")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FAMILIES:
            raise ValueError(f"unknown model family {shown(v)}; allowed: {', '.join(FAMILIES)}")
        return v


class PretrainConfig(StrictModel):
    """Float training on the host (Adam).  With ``dataset.transfer``, ``source_epochs`` train on the
    source task first and ``epochs`` then fine-tune (and prune) on the target."""

    epochs: int = Field(30, ge=1, le=MAX_EPOCHS)
    source_epochs: int = Field(20, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)
    lr: float = Field(3e-3, gt=0)


class PruningConfig(StrictModel):
    """AGP: s_t = s_f + (s_0 - s_f)(1 - (t - t_0)/(n dt))^3, pruning every dt float training steps."""

    kind: Literal["none", "structured", "unstructured"] = "none"
    initial_sparsity: float = Field(0.0, ge=0, lt=1)
    final_sparsity: float = Field(0.5, ge=0, lt=1)
    start_step: int = Field(0, ge=0, le=MAX_COUNT)
    steps: int = Field(10, ge=1, le=MAX_COUNT)
    frequency: int = Field(50, ge=1, le=MAX_COUNT)

    @model_validator(mode="after")
    def _ordered(self) -> PruningConfig:
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError("initial_sparsity must not exceed final_sparsity")
        return self


class QuantizationConfig(StrictModel):
    calibration: Literal["minmax", "percentile"] = "minmax"
    percentile: float = Field(99.99, gt=50, le=100)
    calibration_samples: int = Field(1000, ge=1, le=MAX_COUNT)


class OnDeviceConfig(StrictModel):
    """Simulated on-device FQT retraining.  ``trainable``: an int k (the last k conv/dense layers),
    ``all``, or an explicit list of layer indices."""

    config: Literal["uint8", "mixed", "float32"] = "uint8"
    trainable: int | Literal["all"] | list[int] = 2
    reset: bool = True
    lambda_min: float = Field(1.0, ge=0, le=1)
    lambda_max: float = Field(1.0, ge=0, le=1)
    lr: float = Field(0.01, gt=0)
    batch_size: int = Field(48, ge=1, le=MAX_BATCH_SIZE)
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)

    @field_validator("trainable")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, int) and not 1 <= v <= MAX_TRAINABLE_LAST:
            raise ValueError(f"trainable must lie in [1, {MAX_TRAINABLE_LAST}] (the last k conv/dense layers)")
        if isinstance(v, list) and (not v or min(v) < 0 or max(v) > MAX_COUNT):
            raise ValueError(f"trainable must list at least one layer index in [0, {MAX_COUNT}]")
        return v

    @model_validator(mode="after")
    def _lambdas(self) -> OnDeviceConfig:
        if self.lambda_min > self.lambda_max:
            raise ValueError(f"lambda_min ({self.lambda_min}) must not exceed lambda_max ({self.lambda_max})")
        return self


class Campaign(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    dataset: DatasetConfig
    model: ModelConfig
    pretrain: PretrainConfig = PretrainConfig()
    pruning: PruningConfig = PruningConfig()
    quantization: QuantizationConfig = QuantizationConfig()
    on_device: OnDeviceConfig = OnDeviceConfig()
    boards: list[str] = Field(default_factory=list)
    baseline: dict[str, Any] = Field(default_factory=dict)
    search: SearchConfig | None = None
    #: Where the campaign file lives; relative data paths are resolved against it.
    base_dir: Path = Field(default=Path("."), exclude=True)
    #: The campaign file itself, for messages that name a line of it.
    source: Path | None = Field(default=None, exclude=True)


def resolved_dict(campaign: Campaign) -> dict:
    """The campaign with every default filled in, as plain JSON data."""
    return json.loads(campaign.model_dump_json(exclude={"base_dir"}, by_alias=True))
