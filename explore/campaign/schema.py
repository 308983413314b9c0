"""Campaign files: YAML validated once, at the edge, into typed frozen objects.

``load_campaign(path)`` reads the YAML, checks it against the schema below and returns a
:class:`Campaign`; any problem is one :class:`~explore.errors.BadInput` line naming the file, the
key and what is allowed.  The search sections (issue 5) extend this schema later.
"""

from __future__ import annotations

import importlib.util

import json
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from explore.campaign.boards import BoardProfile, Budgets, UnknownBoard, find_board
from explore.campaign.space import BLACK_BOX_SAMPLERS, SPACE_PIPELINE_KEYS, SearchConfig, check_space
from explore.campaign.storage import check_storage_form
from explore.config import StrictModel
from explore.data import DatasetConfig
from explore.errors import BadInput, YamlLines, validation_line
from explore.io import read_yaml_mapping
from explore.model.families import FAMILIES, SUPERNET_FAMILIES, get_family
from explore.model.families.keys import check_genome, choice_key, float_key, int_key
from explore.model.spec import CONFIGS, ModelSpec

MAX_TRAINABLE_LAST = 64


class ModelConfig(StrictModel):
    family: str

    @field_validator("family")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FAMILIES:
            raise ValueError(f"unknown model family {v!r}; allowed: {', '.join(FAMILIES)}")
        return v


class PretrainConfig(StrictModel):
    """Float training on the host (Adam).  With ``dataset.transfer``, ``source_epochs`` train on the
    source task first and ``epochs`` then fine-tune (and prune) on the target."""

    epochs: int = Field(30, ge=1)
    source_epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0)


class PruningConfig(StrictModel):
    """AGP: s_t = s_f + (s_0 - s_f)(1 - (t - t_0)/(n dt))^3, pruning every dt float training steps."""

    kind: Literal["none", "structured", "unstructured"] = "none"
    initial_sparsity: float = Field(0.0, ge=0, lt=1)
    final_sparsity: float = Field(0.5, ge=0, lt=1)
    start_step: int = Field(0, ge=0)
    steps: int = Field(10, ge=1)
    frequency: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> PruningConfig:
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError("initial_sparsity must not exceed final_sparsity")
        return self


class QuantizationConfig(StrictModel):
    calibration: Literal["minmax", "percentile"] = "minmax"
    percentile: float = Field(99.99, gt=50, le=100)
    calibration_samples: int = Field(1000, ge=1)


class OnDeviceConfig(StrictModel):
    """Simulated on-device FQT retraining.  ``trainable``: an int k (the last k conv/dense layers),
    ``all``, or an explicit list of layer indices."""

    config: Literal["uint8", "mixed", "float32"] = "uint8"
    trainable: int | Literal["all"] | list[int] = 2
    reset: bool = True
    lambda_min: float = Field(1.0, ge=0, le=1)
    lambda_max: float = Field(1.0, ge=0, le=1)
    lr: float = Field(0.01, gt=0)
    batch_size: int = Field(48, ge=1)
    epochs: int = Field(10, ge=1)

    @field_validator("trainable")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, int) and not 1 <= v <= MAX_TRAINABLE_LAST:
            raise ValueError(f"trainable must lie in [1, {MAX_TRAINABLE_LAST}] (the last k conv/dense layers)")
        if isinstance(v, list) and (not v or min(v) < 0):
            raise ValueError("trainable must list at least one non-negative layer index")
        return v

    @model_validator(mode="after")
    def _lambdas(self) -> OnDeviceConfig:
        if self.lambda_min > self.lambda_max:
            raise ValueError(f"lambda_min ({self.lambda_min}) must not exceed lambda_max ({self.lambda_max})")
        return self


class Campaign(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
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


# Genome keys every family shares: the pipeline choices a search may make per design (issue 5).
PIPELINE_KEYS = {
    "sparsity": float_key(0.0, 0.95, 0.0, "AGP final sparsity (overrides pruning.final_sparsity)"),
    "trainable_last": int_key(1, MAX_TRAINABLE_LAST, 2, "train the last k conv/dense layers on-device"),
    "lambda_min": float_key(0.0, 1.0, 1.0, "dynamic sparse update: smallest fraction of channels updated"),
    "lambda_max": float_key(0.0, 1.0, 1.0, "dynamic sparse update: largest fraction of channels updated"),
    "config": choice_key(CONFIGS, "uint8", "numeric configuration of on-device training"),
}


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign YAML; BadInput names the file, the line and the key of the first
    problem."""
    path = Path(path)
    raw = read_yaml_mapping(path, "campaign file", "name, dataset, model, ...")
    lines = YamlLines(path.read_text())

    def at(*loc: Any) -> str:
        line = lines.line(list(loc))
        return f"{path}:{line}: " if line else f"{path}: "

    try:
        campaign = Campaign.model_validate({**raw, "base_dir": path.resolve().parent, "source": path})
    except ValidationError as e:
        raise BadInput(validation_line(path, e, Campaign, lines)) from None
    resolve_genome(campaign, campaign.baseline, f"{at('baseline')}baseline")
    boards = {}
    for i, entry in enumerate(campaign.boards):
        try:
            boards[entry] = find_board(entry, campaign.base_dir)  # a bad profile file raises its own error
        except UnknownBoard as e:
            raise BadInput(f"{at('boards', i)}boards[{i}]: {e}") from None
    if campaign.search is not None:
        _check_search(campaign, boards, at)
    return campaign


def location(campaign: Campaign, *loc: Any) -> str:
    """``<file>:<line>: `` of the key at ``loc`` in the campaign's file (for errors found after loading)."""
    if campaign.source is None:
        return ""
    try:
        line = YamlLines(Path(campaign.source).read_text()).line(list(loc))
    except OSError:
        line = None
    return f"{campaign.source}:{line}: " if line else f"{campaign.source}: "


def _check_search(campaign: Campaign, boards: dict, at: Callable[..., str]) -> None:
    search = campaign.search
    keys = {**get_family(campaign.model.family).keys, **{k: PIPELINE_KEYS[k] for k in SPACE_PIPELINE_KEYS}}
    for name in search.space:
        check_space(search.model_copy(update={"space": {name: search.space[name]}}), keys,
                    at("search", "space", name))
    if "sparsity" in search.space and campaign.pruning.kind == "none":
        raise BadInput(f"{at('search', 'space', 'sparsity')}search.space.sparsity: needs pruning.kind "
                       "structured or unstructured")
    for i, objective in enumerate(search.objectives):
        if objective.board is not None and objective.board not in boards:
            raise BadInput(f"{at('search', 'objectives', i, 'board')}search.objectives[{i}].board: "
                           f"{objective.board!r} is not one of the campaign's boards {list(boards)}")
        if objective.name != "accuracy" and not boards:
            raise BadInput(f"{at('search', 'objectives', i)}search.objectives[{i}]: objective "
                           f"{objective.name!r} needs at least one entry in boards")
    for name, budgets in search.budgets.items():
        if name not in boards:
            raise BadInput(f"{at('search', 'budgets', name)}search.budgets.{name}: not one of the campaign's "
                           f"boards {list(boards)}")
        try:
            with_budgets(boards[name], budgets)
        except BadInput as e:
            raise BadInput(f"{at('search', 'budgets', name)}search.budgets.{name}: {e}") from None
    if search.sampler.gradient and campaign.model.family not in SUPERNET_FAMILIES:
        raise BadInput(f"{at('search', 'sampler', 'name')}search.sampler.name: {search.sampler.name} needs a "
                       f"supernet and model family {campaign.model.family!r} has none (supernets: "
                       f"{', '.join(SUPERNET_FAMILIES)}); samplers that work with {campaign.model.family}: "
                       f"{', '.join(BLACK_BOX_SAMPLERS)}")
    if search.sampler.name == "gp" and importlib.util.find_spec("torch") is None:
        raise BadInput(f"{at('search', 'sampler', 'name')}search.sampler.name: gp needs PyTorch "
                       "(pip install torch); tpe, nsga2 and random need nothing more")
    if search.storage is not None:
        check_storage_form(search.storage, f"{at('search', 'storage')}search.storage")


def campaign_board(campaign: Campaign, name_or_path: str, base_dir: Path | None = None) -> BoardProfile:
    """A board as this campaign sees it: its profile (looked up from ``base_dir``, by default the
    campaign's directory), with the campaign's ``search.budgets`` for it in place of the profile's."""
    board = find_board(name_or_path, campaign.base_dir if base_dir is None else base_dir)
    if campaign.search is not None and name_or_path in campaign.search.budgets:
        board = with_budgets(board, campaign.search.budgets[name_or_path])
    return board


def with_budgets(board: BoardProfile, budgets: Budgets) -> BoardProfile:
    """``board`` with the campaign's budgets in place of the profile's; a budget larger than the
    board is BadInput."""
    data = board.model_dump(by_alias=True)
    data["budgets"] = {**data["budgets"], **budgets.model_dump(exclude_none=True)}
    try:
        return BoardProfile.model_validate({**data, "path": board.path})
    except ValidationError as e:
        first = e.errors()[0]
        raise BadInput(first["msg"].removeprefix("Value error, ")
                       + (f" (got {first['ctx']['got']!r})" if "got" in (first.get("ctx") or {}) else "")) from None


def resolved_dict(campaign: Campaign) -> dict:
    """The campaign with every default filled in, as plain JSON data."""
    return json.loads(campaign.model_dump_json(exclude={"base_dir"}, by_alias=True))


def genome_keys(campaign: Campaign) -> dict:
    return {**get_family(campaign.model.family).keys, **PIPELINE_KEYS}


def resolve_genome(campaign: Campaign, genome: dict, where: str) -> dict:
    """Architecture keys from ``genome`` (family defaults fill gaps); pipeline keys from ``genome``
    or, when absent, from the campaign's sections.  Returns the complete genome."""
    if not isinstance(genome, dict):
        raise BadInput(f"{where}: a genome must be a mapping of key to value")
    defaults = {
        "sparsity": campaign.pruning.final_sparsity if campaign.pruning.kind != "none" else 0.0,
        "lambda_min": campaign.on_device.lambda_min,
        "lambda_max": campaign.on_device.lambda_max,
        "config": campaign.on_device.config,
    }
    explicit = _explicit_trainable(genome, where)
    if isinstance(campaign.on_device.trainable, int) and explicit is None:
        defaults["trainable_last"] = campaign.on_device.trainable
    full = check_genome(genome_keys(campaign), {**defaults, **{k: v for k, v in genome.items() if k != "trainable"}},
                        where)
    if "trainable_last" not in genome and "trainable_last" not in defaults:
        del full["trainable_last"]  # the layers are named explicitly, by the genome or the campaign
    if explicit is not None:
        full["trainable"] = explicit
    if full["lambda_min"] > full["lambda_max"]:
        raise BadInput(f"{where}: lambda_min = {full['lambda_min']} must not exceed lambda_max = {full['lambda_max']}")
    if full["sparsity"] > 0 and campaign.pruning.kind == "none":
        raise BadInput(f"{where}: sparsity = {full['sparsity']} needs pruning.kind structured or unstructured")
    return full


def architecture(genome: dict) -> dict:
    """The family's part of a genome: everything but the pipeline keys and an explicit trainable set."""
    return {k: v for k, v in genome.items() if k not in PIPELINE_KEYS and k != "trainable"}


def _explicit_trainable(genome: dict, where: str) -> list[int] | None:
    """A genome's ``trainable`` (an explicit set of layer indices, from a search's ``trainable.sets``)."""
    if "trainable" not in genome:
        return None
    value = genome["trainable"]
    if (not isinstance(value, list) or not value
            or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value)):
        raise BadInput(f"{where}: trainable = {value!r} must be a non-empty list of layer indices")
    if "trainable_last" in genome:
        raise BadInput(f"{where}: give trainable_last or trainable, not both")
    return sorted(set(value))


def trainable_layers(campaign: Campaign, spec: ModelSpec, genome: dict) -> tuple[int, ...]:
    """The conv/dense layers retrained on-device: the genome's last k or explicit set, or the
    campaign's list / all."""
    params = spec.param_layers()
    if "trainable" in genome:
        wrong = sorted(set(genome["trainable"]) - set(params))
        if wrong:
            raise BadInput(f"genome: trainable layers {wrong} are not conv/dense layers; this network has "
                           f"{list(params)}")
        return tuple(genome["trainable"])
    if "trainable_last" in genome:
        k = genome["trainable_last"]
        if k > len(params):
            raise BadInput(f"genome: trainable_last = {k} exceeds the {len(params)} conv/dense layers of this network")
        return params[-k:]
    chosen = campaign.on_device.trainable
    if chosen == "all":
        return params
    wrong = sorted(set(chosen) - set(params))
    if wrong:
        raise BadInput(f"on_device.trainable: layers {wrong} are not conv/dense layers; this network has {list(params)}")
    return tuple(sorted(set(chosen)))


def load_genome(path: Path) -> dict:
    """A genome JSON file (an object of genome keys); BadInput names the file if it is not one."""
    try:
        genome = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: genome file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: not a JSON genome ({e})") from None
    if not isinstance(genome, dict):
        raise BadInput(f"{path}: a genome must be a JSON object of key: value")
    return genome
