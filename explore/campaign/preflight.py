"""What a run would reject, checked before any training (``explore check`` and ``explore run``).

:func:`load_campaign` checks a campaign's sections; :func:`preflight` then checks it against its
data and its networks: the data set loads (exists, is readable, has sane labels, and its layout is
read as :mod:`explore.data.layout` says), the batch sizes fit the training split, the AGP schedule
ends inside float training, and every trainable set names layers the networks have.  Each problem
is one :class:`~explore.errors.BadInput` line naming the campaign file, the line, the key and what
is allowed.  No JAX: the networks are only built as specs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from explore.campaign.genome import Genome, resolve_genome
from explore.campaign.load import location
from explore.campaign.schema import Campaign
from explore.campaign.space import Choices, Range
from explore.data import Dataset, load_dataset
from explore.errors import BadInput
from explore.model.families import get_family
from explore.model.spec import ModelSpec


def training_steps(n: int, epochs: int, batch_size: int) -> int:
    """Optimizer steps of float training on ``n`` samples: full batches only, ``epochs`` times."""
    return epochs * (n // min(batch_size, n))


@dataclass(frozen=True)
class Preflight:
    """A campaign that passed every check, with its loaded data and its baseline network."""

    data: Dataset
    baseline: ModelSpec

    def data_lines(self) -> list[str]:
        """How the data were read, then their splits: what ``explore check`` prints."""
        d = self.data
        return ([f"data: {reading.describe()}" for reading in d.readings]
                + [f"data: {len(d.y_train)} train / {len(d.y_val)} validation / {len(d.y_test)} test samples, "
                   f"{d.num_classes} classes; the networks see samples of shape {d.input_shape}"])

    def to_dict(self) -> dict[str, Any]:
        return {**self.data.summary(), "readings": [r.to_dict() for r in self.data.readings]}


def preflight(campaign: Campaign) -> Preflight:
    """Check ``campaign`` against its data and its networks; BadInput on the first problem."""
    data = campaign_data(campaign)
    _check_batch_sizes(campaign, data)
    baseline = resolve_genome(campaign, campaign.baseline, f"{location(campaign, 'baseline')}baseline")
    _check_schedule(campaign, baseline, data)
    spec = _check_baseline_network(campaign, baseline, data)
    _check_trainable_sets(campaign, data)
    return Preflight(data, spec)


def campaign_data(campaign: Campaign) -> Dataset:
    """The campaign's data set; a loader's BadInput is prefixed with the campaign file and line."""
    try:
        return load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    except BadInput as e:
        # The loader names the data file or the dataset key; the campaign file and its line come first.
        key = re.search(r"dataset\.([A-Za-z_]+)", str(e))
        raise BadInput(f"{location(campaign, 'dataset', *([key.group(1)] if key else []))}{e}") from None


def _check_batch_sizes(campaign: Campaign, data: Dataset) -> None:
    train = len(data.y_train)
    sets = [("pretrain", campaign.pretrain.batch_size, train, "training"),
            ("on_device", campaign.on_device.batch_size, train, "training")]
    if data.y_source is not None:
        sets.append(("pretrain", campaign.pretrain.batch_size, len(data.y_source), "transfer source"))
    for section, batch, samples, split in sets:
        if batch > samples:
            raise BadInput(f"{location(campaign, section, 'batch_size')}{section}.batch_size = {batch} exceeds the "
                           f"{samples} {split} samples of {data.name}; allowed: 1 to {samples}")


def _check_schedule(campaign: Campaign, baseline: Genome, data: Dataset) -> None:
    """The AGP schedule must end inside float training, wherever a design of the campaign prunes."""
    pruning, pretrain = campaign.pruning, campaign.pretrain
    if pruning.kind == "none" or not (baseline.sparsity > 0 or _space_may_prune(campaign)):
        return
    n = len(data.y_train)
    total = training_steps(n, pretrain.epochs, pretrain.batch_size)
    end = pruning.start_step + pruning.steps * pruning.frequency
    if end >= total:
        raise BadInput(
            f"{location(campaign, 'pruning')}pruning: the AGP schedule ends at start_step + steps × frequency = "
            f"{pruning.start_step} + {pruning.steps} × {pruning.frequency} = {end}, but float training has "
            f"{total} steps (pretrain.epochs {pretrain.epochs} × {total // pretrain.epochs} batches of "
            f"{min(pretrain.batch_size, n)} from {n} training samples); allowed: an end below {total} "
            "(lower pruning.start_step, steps or frequency, or raise pretrain.epochs)")


def _space_may_prune(campaign: Campaign) -> bool:
    entry = campaign.search.space.get("sparsity") if campaign.search is not None else None
    if isinstance(entry, Range):
        return entry.high > 0
    return isinstance(entry, Choices) and any(c > 0 for c in entry.choices)


def _check_baseline_network(campaign: Campaign, baseline: Genome, data: Dataset) -> ModelSpec:
    spec = baseline.network(data.input_shape, data.num_classes, f"{location(campaign, 'baseline')}baseline")
    try:
        baseline.trainable_layers(spec)
    except BadInput as e:
        if baseline.trainable is not None or "trainable_last" in campaign.baseline:
            key = "trainable" if baseline.trainable is not None else "trainable_last"
            where, what = location(campaign, "baseline", key), f"baseline.{key}"
        else:
            where, what = location(campaign, "on_device", "trainable"), "on_device.trainable"
        reason = re.sub(r"^(genome|on_device\.trainable): ", "", str(e))
        raise BadInput(f"{where}{what}: {reason} (the baseline network on samples of shape "
                       f"{data.input_shape})") from None
    return spec


def _check_trainable_sets(campaign: Campaign, data: Dataset) -> None:
    """Every explicit set of ``search.trainable.sets`` must name conv/dense layers of the networks at
    the space's corners (every key the space narrows at its low end, then at its high end)."""
    search = campaign.search
    if search is None or search.trainable is None or search.trainable.sets is None:
        return
    for corner, choices in _corners(campaign).items():
        genome = resolve_genome(campaign, choices, f"{location(campaign, 'search', 'space')}search.space")
        try:
            spec = genome.network(data.input_shape, data.num_classes)
        except BadInput:
            continue  # a corner that does not build fails as a trial; its layers name nothing here
        for i, chosen in enumerate(search.trainable.sets):
            try:
                replace(genome, trainable=tuple(chosen)).trainable_layers(spec)
            except BadInput as e:
                reason = re.sub(r"^genome: trainable ", "", str(e))
                raise BadInput(f"{location(campaign, 'search', 'trainable', 'sets', i)}search.trainable.sets[{i}]: "
                               f"{reason} (the network at the space's {corner}: "
                               f"{_shown(choices, campaign)})") from None


def _corners(campaign: Campaign) -> dict[str, dict[str, Any]]:
    """The baseline with each architecture key of the space at its low (first) and its high (last) value."""
    keys = get_family(campaign.model.family).keys
    low, high = dict(campaign.baseline), dict(campaign.baseline)
    for name, entry in campaign.search.space.items():
        if name not in keys:
            continue  # pipeline keys (sparsity, config) leave the layers as they are
        if isinstance(entry, Choices):
            low[name], high[name] = entry.choices[0], entry.choices[-1]
        else:
            low[name], high[name] = entry.low, _top(entry)
    return {"low corner": low, "high corner": high}


def _top(entry: Range) -> int | float:
    """The largest value a range with a step can take."""
    if entry.step is None or entry.log:
        return entry.high
    top = entry.low + ((entry.high - entry.low) // entry.step) * entry.step
    return int(top) if all(isinstance(v, int) for v in (entry.low, entry.high, entry.step)) else top


def _shown(choices: dict[str, Any], campaign: Campaign) -> str:
    space = campaign.search.space
    return ", ".join(f"{k}={v}" for k, v in choices.items() if k in space) or "the baseline"
