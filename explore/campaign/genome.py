"""The genome: one design point, resolved once at the edge into a frozen :class:`Genome`.

A search samples a genome as a plain dict of choices (that is what Optuna stores); a genome file
holds the same.  :func:`resolve_genome` checks it against the family's keys and the pipeline keys,
fills every gap from the family's defaults and the campaign's sections, and returns a
:class:`Genome` that the cost model, the trial pipeline, export and the report all read by
attribute.  :meth:`Genome.to_dict` gives back the flat JSON form that metrics, manifests and trial
attributes store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping

from explore.campaign.schema import MAX_TRAINABLE_LAST, Campaign
from explore.config import MAX_COUNT
from explore.errors import BadInput, shown
from explore.model.families import build_model, get_family
from explore.model.families.keys import Key, Value, check_genome, choice_key, float_key, int_key
from explore.model.spec import CONFIGS, ModelSpec

# Genome keys every family shares: the pipeline choices a search may make per design (issue 5).
PIPELINE_KEYS = {
    "sparsity": float_key(0.0, 0.95, 0.0, "AGP final sparsity (overrides pruning.final_sparsity)"),
    "trainable_last": int_key(1, MAX_TRAINABLE_LAST, 2, "train the last k conv/dense layers on-device"),
    "lambda_min": float_key(0.0, 1.0, 1.0, "dynamic sparse update: smallest fraction of channels updated"),
    "lambda_max": float_key(0.0, 1.0, 1.0, "dynamic sparse update: largest fraction of channels updated"),
    "config": choice_key(CONFIGS, "uint8", "numeric configuration of on-device training"),
}


@dataclass(frozen=True)
class Genome:
    """A complete design point.

    ``architecture`` holds the family's keys.  The trainable set is ``trainable_last`` (the last k
    conv/dense layers) or ``trainable`` (explicit layer indices); when the genome names neither,
    ``campaign_trainable`` is the campaign's ``on_device.trainable`` (``"all"`` or a list), which
    :meth:`to_dict` leaves out as the campaign, not the genome, chose it.
    """

    family: str
    architecture: Mapping[str, Value] = field(hash=False)
    sparsity: float
    lambda_min: float
    lambda_max: float
    config: str
    trainable_last: int | None = None
    trainable: tuple[int, ...] | None = None
    campaign_trainable: Literal["all"] | tuple[int, ...] | None = None
    #: where the genome came from (its file, or the campaign's baseline), for messages
    source: str = field(default="genome", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON form: architecture keys, then the pipeline keys the genome sets."""
        data: dict[str, Any] = {**self.architecture, "sparsity": self.sparsity}
        if self.trainable_last is not None:
            data["trainable_last"] = self.trainable_last
        data.update(lambda_min=self.lambda_min, lambda_max=self.lambda_max, config=self.config)
        if self.trainable is not None:
            data["trainable"] = list(self.trainable)
        return data

    def network(self, input_shape: tuple[int, ...], num_classes: int, where: str | None = None) -> ModelSpec:
        """The family's network for this architecture (before any pruning)."""
        return build_model(self.family, self.architecture, input_shape, num_classes, where or self.source)

    def trainable_layers(self, spec: ModelSpec) -> tuple[int, ...]:
        """The conv/dense layers of ``spec`` retrained on-device."""
        params = spec.param_layers()
        if self.trainable is not None:
            return _named_layers(self.trainable, params, f"{self.source}: trainable layers")
        if self.trainable_last is not None:
            if self.trainable_last > len(params):
                raise BadInput(f"{self.source}: trainable_last = {self.trainable_last} exceeds the {len(params)} "
                               "conv/dense layers of this network")
            return params[-self.trainable_last:]
        if self.campaign_trainable == "all":
            return params
        return _named_layers(self.campaign_trainable, params, f"{self.source}: on_device.trainable: layers")


def _named_layers(chosen: tuple[int, ...], params: tuple[int, ...], what: str) -> tuple[int, ...]:
    wrong = sorted(set(chosen) - set(params))
    if wrong:
        raise BadInput(f"{what} {shown(wrong)} are not conv/dense layers; this network has {list(params)}")
    return tuple(sorted(set(chosen)))


def genome_keys(campaign: Campaign) -> dict[str, Key]:
    return {**get_family(campaign.model.family).keys, **PIPELINE_KEYS}


def resolve_genome(campaign: Campaign, genome: Mapping[str, Any] | Genome, where: str) -> Genome:
    """Architecture keys from ``genome`` (family defaults fill gaps); pipeline keys from ``genome``
    or, when absent, from the campaign's sections."""
    if isinstance(genome, Genome):
        return genome
    if not isinstance(genome, Mapping):
        raise BadInput(f"{where}: a genome must be a mapping of key to value")
    explicit = _explicit_trainable(genome, where)
    defaults = _campaign_defaults(campaign, explicit is None)
    full = check_genome(genome_keys(campaign), {**defaults, **{k: v for k, v in genome.items() if k != "trainable"}},
                        where)
    if full["lambda_min"] > full["lambda_max"]:
        raise BadInput(f"{where}: lambda_min = {full['lambda_min']} must not exceed lambda_max = {full['lambda_max']}")
    if full["sparsity"] > 0 and campaign.pruning.kind == "none":
        raise BadInput(f"{where}: sparsity = {full['sparsity']} needs pruning.kind structured or unstructured")
    names_layers = "trainable_last" in genome or "trainable_last" in defaults
    chosen = campaign.on_device.trainable
    return Genome(
        family=campaign.model.family,
        architecture=MappingProxyType({k: v for k, v in full.items() if k not in PIPELINE_KEYS}),
        sparsity=full["sparsity"], lambda_min=full["lambda_min"], lambda_max=full["lambda_max"],
        config=full["config"],
        trainable_last=full["trainable_last"] if names_layers else None,
        trainable=explicit,
        campaign_trainable=None if names_layers or explicit is not None
        else ("all" if chosen == "all" else tuple(chosen)),
        source=where,
    )


def _campaign_defaults(campaign: Campaign, trainable_from_campaign: bool) -> dict[str, Any]:
    defaults = {
        "sparsity": campaign.pruning.final_sparsity if campaign.pruning.kind != "none" else 0.0,
        "lambda_min": campaign.on_device.lambda_min,
        "lambda_max": campaign.on_device.lambda_max,
        "config": campaign.on_device.config,
    }
    if isinstance(campaign.on_device.trainable, int) and trainable_from_campaign:
        defaults["trainable_last"] = campaign.on_device.trainable
    return defaults


def _explicit_trainable(genome: Mapping[str, Any], where: str) -> tuple[int, ...] | None:
    """A genome's ``trainable`` (an explicit set of layer indices, from a search's ``trainable.sets``)."""
    if "trainable" not in genome:
        return None
    value = genome["trainable"]
    if (not isinstance(value, list) or not value
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= MAX_COUNT for i in value)):
        raise BadInput(f"{where}: trainable = {shown(value)} must be a non-empty list of layer indices "
                       f"in [0, {MAX_COUNT}]")
    if "trainable_last" in genome:
        raise BadInput(f"{where}: give trainable_last or trainable, not both")
    return tuple(sorted(set(value)))


def load_genome(path: Path) -> dict:
    """A genome JSON file (an object of genome keys); BadInput names the file if it is not one, names
    a key twice, or holds NaN or Infinity."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BadInput(f"{path}: genome file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read the genome file ({e})") from None
    try:
        genome = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, text, path),
                            parse_constant=lambda name: _not_finite(name, text, path))
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}:{e.lineno}: not a JSON genome ({e.msg})") from None
    except BadInput:
        raise
    except RecursionError:
        raise BadInput(f"{path}: not a JSON genome (nested too deeply)") from None
    except ValueError:  # an integer of more digits than Python reads
        raise BadInput(f"{path}: not a JSON genome (a number too long to read)") from None
    if not isinstance(genome, dict):
        raise BadInput(f"{path}: a genome must be a JSON object of key: value")
    return genome


def _unique_keys(pairs: list[tuple[str, Any]], text: str, path: Path) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            # JSON gives no positions; a genome is one flat object, so the key's last spelling is it
            line = _line_of(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:", text, last=True)
            raise BadInput(f"{path}{line}: {shown(key)}: duplicate key; keep one")
        seen.add(key)
    return dict(pairs)


def _not_finite(name: str, text: str, path: Path) -> None:
    line = _line_of(r"[:,\[]\s*-?" + name, text)
    raise BadInput(f"{path}{line}: {name} is not a genome value; numbers must be finite")


def _line_of(pattern: str, text: str, last: bool = False) -> str:
    """``:<line>`` of the first (or last) match of ``pattern`` in ``text``, or nothing."""
    found = [m.start() for m in re.finditer(pattern, text)]
    if not found:
        return ""
    line = text.count("\n", 0, found[-1 if last else 0]) + 1
    return f":{line}"
