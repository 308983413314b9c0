"""``explore init``: a commented campaign drafted from a data file, which ``explore check`` accepts.

:func:`draft_campaign` reads the data as a campaign would (so a layout that cannot be read
plausibly is refused, naming ``--layout``), picks a model family for the samples' rank, sizes the
batches and the AGP schedule to the training split, and writes the campaign atomically only after
it has passed :func:`~explore.campaign.preflight.preflight`.  Nothing is written on any error.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from explore.campaign.boards import UnknownBoard, find_board
from explore.campaign.load import load_campaign
from explore.campaign.preflight import Preflight, preflight, training_steps
from explore.campaign.schema import Campaign
from explore.data import LAYOUTS, Dataset, DatasetConfig, load_dataset
from explore.errors import BadInput
from explore.io import write_text_atomic
from explore.model.families import FAMILIES, get_family

#: the quickstart's board, when no --board is given
DEFAULT_BOARDS = ("nrf52840",)
#: data file suffixes explore init reads, and the dataset format of each
FORMAT_OF_SUFFIX = {".npz": "npz", ".csv": "csv"}
#: the family for samples of each rank (spatial axes): MbedNet as the quickstart uses it on series,
#: the depthwise-separable CNN (global pooling keeps its head small at any image size) on images
FAMILY_OF_RANK = {1: "mbednet", 2: "dscnn"}
#: what a search may vary per family, within each key's range (`explore families FAMILY`)
SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "mbednet": {"width": {"low": 0.5, "high": 1.5}, "stages": {"low": 2, "high": 4},
                "expansion": {"low": 2, "high": 4}, "kernel": {"choices": [3, 5]},
                "head_channels": {"low": 32, "high": 96, "step": 16}},
    "dscnn": {"channels": {"low": 8, "high": 64, "log": True}, "blocks": {"low": 1, "high": 4},
              "kernel": {"choices": [3, 5]}},
    "cnn": {"conv_layers": {"low": 1, "high": 3}, "channels": {"low": 4, "high": 32, "log": True},
            "kernel": {"choices": [3, 5]}, "hidden": {"low": 16, "high": 64, "step": 16}},
}
#: the largest k of "train the last k layers" a search may pick; the smallest networks of the spaces
#: above have at least this many conv/dense layers
TRAINABLE_LAST_HIGH = {"mbednet": 3, "dscnn": 3, "cnn": 2}
PRETRAIN_EPOCHS = 20
PRETRAIN_BATCH = 64
ON_DEVICE_BATCH = 48


@dataclass(frozen=True)
class InitOptions:
    data: Path
    out: Path
    boards: tuple[str, ...] = ()
    family: str | None = None
    layout: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Draft:
    """The campaign written, its data as read, and why it was drafted as it was."""

    path: Path
    campaign: Campaign
    checked: Preflight
    family_reason: str

    def inferred_lines(self) -> list[str]:
        d = self.checked.data
        counts = class_counts(d)
        test = ("the file's own test split" if d.own_test
                else f"none in the file, so {self.campaign.dataset.test_fraction:g} of it is held out")
        return (self.checked.data_lines()[:-1]
                + [f"samples: {len(d.y_train) + len(d.y_val) + len(d.y_test)} ({len(d.y_train)} train, "
                   f"{len(d.y_val)} validation, {len(d.y_test)} test); test split: {test}",
                   f"classes: {d.num_classes}; balance: {balance(counts)}",
                   f"family: {self.campaign.model.family} ({self.family_reason})"])


def class_counts(data: Dataset) -> np.ndarray:
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    return np.bincount(labels, minlength=data.num_classes)


def balance(counts: np.ndarray) -> str:
    """Samples per class, or the extremes when there are many classes."""
    if len(counts) <= 12:
        shown = ", ".join(f"{c}: {n}" for c, n in enumerate(counts))
    else:
        shown = (f"smallest class {int(counts.argmin())} with {int(counts.min())}, "
                 f"largest class {int(counts.argmax())} with {int(counts.max())}")
    ratio = counts.max() / max(int(counts.min()), 1)
    return shown + (f" (largest/smallest {ratio:.1f}: consider class weights or more data)" if ratio >= 3 else "")


def draft_campaign(options: InitOptions) -> Draft:
    """Inspect ``options.data``, write the campaign to ``options.out`` and return what was inferred."""
    out = Path(options.out)
    _check_out(out, options.force)
    data_format = _data_format(Path(options.data), options.layout)
    boards = _checked_boards(options.boards or DEFAULT_BOARDS)
    config = DatasetConfig(name=_campaign_name(Path(options.data)), format=data_format,
                           path=os.path.relpath(Path(options.data).resolve(), out.parent.resolve()),
                           layout=options.layout)
    try:
        data = load_dataset(config, out.parent, seed=0)
    except BadInput as e:
        hint = " (explore init takes it as --layout)" if "dataset.layout" in str(e) else ""
        raise BadInput(f"--data {options.data}: {e}{hint}") from None
    family, reason = _family(options.family, data.input_shape)
    text = campaign_text(config, family, boards, len(data.y_train), reason)
    campaign, checked = _validated(text, out)
    write_text_atomic(out, text)
    return Draft(out, campaign.model_copy(update={"source": out}), checked, reason)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise BadInput(f"--out {out}: the file exists; pass --force to overwrite it, or choose another --out")
    if out.exists() and not out.is_file():
        raise BadInput(f"--out {out}: not a file")
    if not out.parent.is_dir():
        raise BadInput(f"--out {out}: the directory {out.parent} does not exist")


def _data_format(path: Path, layout: str | None) -> str:
    if not path.is_file():
        raise BadInput(f"--data {path}: no such file")
    data_format = FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if data_format is None:
        raise BadInput(f"--data {path}: explore init reads {' and '.join(FORMAT_OF_SUFFIX)} files; for npy, IDX "
                       "or CIFAR data write the campaign's dataset section by hand (README, 'Your own data')")
    if layout is not None and data_format == "csv":
        raise BadInput(f"--layout {layout}: applies to .npz arrays; a CSV row is read time-major "
                       "(t0c0, t0c1, t1c0, ...) with dataset.channels channels")
    if layout is not None and layout not in LAYOUTS:
        raise BadInput(f"--layout {layout}: allowed: {', '.join(LAYOUTS)}")
    return data_format


def _checked_boards(names: Sequence[str]) -> list[str]:
    for name in names:
        try:
            find_board(name, Path.cwd())
        except UnknownBoard as e:
            raise BadInput(f"--board {name}: {e}") from None
    return list(dict.fromkeys(names))


def _campaign_name(data: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", data.stem)
    return name if re.match(r"[A-Za-z0-9]", name) else f"data{name}"


def _family(chosen: str | None, sample_shape: tuple[int, ...]) -> tuple[str, str]:
    spatial = len(sample_shape) - 1
    kind = {1: "1-D series", 2: "2-D images"}.get(spatial)
    if kind is None:
        raise BadInput(f"--data: samples of shape {sample_shape} have {spatial} spatial axes; the model "
                       "families take 1-D series (positions, channels) or 2-D images (height, width, channels)")
    if chosen is not None:
        get_family(chosen, where="--family")
        return chosen, f"given by --family; the samples are {kind} of shape {sample_shape}"
    family = FAMILY_OF_RANK[spatial]
    return family, f"fits {kind} of shape {sample_shape}; --family chooses another of {', '.join(FAMILIES)}"


def _validated(text: str, out: Path) -> tuple[Campaign, Preflight]:
    """The campaign ``text`` as ``explore check`` would load it from ``out``'s directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".yaml", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        campaign = load_campaign(Path(tmp))
        return campaign, preflight(campaign)
    finally:
        Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the campaign's text


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a scalar without the document end marker safe_dump adds)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False)
    return text.removesuffix("...\n").strip()


def _schedule(train_samples: int) -> tuple[int, int, int, int]:
    """Pre-training batch, then AGP start step, steps and frequency ending at 3/5 of float training."""
    batch = min(PRETRAIN_BATCH, train_samples)
    total = training_steps(train_samples, PRETRAIN_EPOCHS, batch)  # >= PRETRAIN_EPOCHS
    frequency = max(1, total // 20)
    return batch, total // 5, 8, frequency


def campaign_text(config: DatasetConfig, family: str, boards: list[str], train_samples: int, reason: str) -> str:
    """The commented campaign YAML for ``config``'s data (``train_samples`` after the splits)."""
    batch, start, steps, frequency = _schedule(train_samples)
    on_device_batch = min(ON_DEVICE_BATCH, train_samples)
    dataset = {"name": config.name, "format": config.format, "path": config.path}
    if config.layout is not None:
        dataset["layout"] = config.layout
    keys = get_family(family).keys
    baseline = {name: key.default for name, key in keys.items()}
    space = "\n".join(f"    {k}: {_flow(v)}" for k, v in SEARCH_SPACES[family].items())
    dataset_lines = "\n".join(f"  {k}: {_flow(v)}" for k, v in dataset.items())
    layout_note = ("  # layout: nlc | ncl | nhwc | nchw   how the arrays are stored (channels last or first)\n"
                   if config.layout is None and config.format == "npz" else "")
    return f"""# Campaign drafted by `explore init` from {config.path}.
# `explore check` shows it resolved and how the data are read; `explore cost` costs the baseline on
# the boards; `explore evaluate` trains the baseline; `explore run` searches.
name: {config.name}
seed: 0

dataset:
{dataset_lines}
{layout_note}  normalize: standard      # per-channel mean/std from the training split
  validation_fraction: 0.1 # of the training data, for choosing designs without the test set
  test_fraction: 0.2       # held out when the file has no x_test/y_test

model:
  {'family: ' + family:<24} # {reason}

pretrain:                  # float training on the host (Adam)
  epochs: {PRETRAIN_EPOCHS}
  batch_size: {batch}
  lr: 0.003

pruning:                   # automated gradual pruning (AGP) by L1 magnitude
  kind: structured         # none | structured (channels removed) | unstructured (masks)
  final_sparsity: 0.25     # a genome's `sparsity` overrides it
  {'start_step: ' + str(start):<24} # t_0, in optimizer steps ({train_samples // batch} per epoch here)
  {'steps: ' + str(steps):<24} # n pruning steps ...
  {'frequency: ' + str(frequency):<24} # ... every dt steps; must end before training does

quantization:
  calibration: minmax      # minmax | percentile

on_device:                 # simulated on-device training (bit-exact FQT)
  config: uint8            # uint8 | mixed (float head) | float32
  trainable: 2             # last k conv/dense layers, `all`, or a list of layer indices
  reset: true              # re-initialise the trainable layers before retraining them
  lr: 0.01
  batch_size: {on_device_batch}
  epochs: 10

{'boards: ' + _flow(boards):<26} # `explore boards` lists the profiles

baseline:                  # the design `explore evaluate` and `explore cost` use ({family}'s defaults)
{chr(10).join(f"  {k}: {_flow(v)}" for k, v in baseline.items())}

search:                    # what `explore run` may choose; other keys stay at the baseline
  space:                   # `explore families {family}` lists every key and its range
{space}
    sparsity: {{low: 0.0, high: 0.5}}
    config: {{choices: [uint8, mixed]}}
  trainable: {{last: {{low: 1, high: {TRAINABLE_LAST_HIGH[family]}}}}}
  lambda: {{low: 0.2, high: 1.0}}          # dynamic sparse updates
  objectives:
    - {{name: accuracy}}
    - {{name: train_sram}}
    - {{name: train_latency, board: {boards[0]}}}
  sampler: {{name: tpe, n_startup_trials: 8}}
  early_stopping: {{enabled: true, min_epochs: 3}}
  trials: 30
"""
