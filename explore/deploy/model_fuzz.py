"""Random small designs for checking runtime_c against the simulator and for calibrating the cost model.

:func:`random_design` draws a network (1-D or 2-D input; conv, depthwise conv, residual blocks with
and without an activation before the add, max/average/global pooling, flatten, dense head), a
trainable set, λ_min/λ_max and a numeric configuration, all from one seed.  :func:`synthetic_bundle`
quantizes it (random weights, calibrated on random inputs) and exports it as a firmware bundle, as
``explore export`` would a trained winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explore.campaign import Campaign, campaign_board, resolve_genome
from explore.deploy.bundle import export_bundle
from explore.train.floatnet import init_float_params
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec
from explore.model.spec import CONFIGS
from explore.train.ptq import quantize_model


@dataclass(frozen=True)
class FuzzDesign:
    spec: ModelSpec
    trainable: tuple[int, ...]
    config: str
    lambda_min: float
    lambda_max: float
    seed: int


def _conv(rng: np.random.Generator, spatial: int, channels: int, activation: str | None = None) -> Conv:
    kernel = tuple(int(k) for k in rng.choice([1, 2, 3], size=spatial))
    strides = tuple(int(s) for s in rng.choice([1, 1, 2], size=spatial))
    return Conv(channels, kernel, strides, str(rng.choice(["same", "valid"])),
                activation or str(rng.choice(["relu", "relu", "relu6", "none"])))


def _valid(layers: list, shape: tuple[int, ...], classes: int) -> ModelSpec | None:
    """The network ``layers`` + a flat dense head, or None if that is not a valid network."""
    try:
        return ModelSpec(shape, classes, tuple(layers) + (Flatten(), Dense(classes)))
    except ValueError:
        return None


def _block(rng: np.random.Generator, layers: list, shape: tuple[int, ...], classes: int,
           width: tuple[int, int] = (2, 9)) -> None:
    """Append one random block to ``layers`` where the result is still a valid network."""
    spatial = len(shape) - 1
    channels = _valid(layers, shape, classes).shapes[len(layers) - 1][-1]
    kind = rng.choice(["conv", "depthwise", "residual", "pool"])
    if kind == "conv":
        extra = [_conv(rng, spatial, int(rng.integers(*width)))]
    elif kind == "depthwise":
        k = tuple(int(v) for v in rng.choice([2, 3], size=spatial))
        extra = [Conv(channels, k, None, "same", str(rng.choice(["relu", "relu6"])), depthwise=True)]
    elif kind == "residual":
        # "relu" before the add makes the planner give the add's input layer its own error copy
        before_add = str(rng.choice(["none", "none", "relu"]))
        extra = [Conv(channels, (3,) * spatial, None, "same", "relu"),
                 Conv(channels, (1,) * spatial, None, "same", before_add),
                 Add(len(layers) - 1, str(rng.choice(["relu", "none"])))]
    else:
        extra = [(MaxPool if rng.random() < 0.5 else AvgPool)((2,) * spatial)]
    if _valid(layers + extra, shape, classes) is not None:
        layers += extra


def random_spec(rng: np.random.Generator, large: bool = False) -> ModelSpec:
    """A random network; ``large`` draws deployment-sized ones (longer inputs, more channels)."""
    spatial = int(rng.integers(1, 3))
    classes = int(rng.integers(2, 6)) if not large else int(rng.integers(4, 11))
    if spatial == 1:
        shape = (int(rng.integers(8, 21)), int(rng.integers(1, 4))) if not large else (int(rng.integers(32, 81)), 1)
    else:
        side = (4, 9) if not large else (10, 17)
        shape = (int(rng.integers(*side)), int(rng.integers(*side)), int(rng.integers(1, 3)))
    width = (2, 9) if not large else (8, 33)
    layers: list = [_conv(rng, spatial, int(rng.integers(*width)))]
    for _ in range(int(rng.integers(1, 4))):
        _block(rng, layers, shape, classes, width)
    layers.append(GlobalAvgPool() if rng.random() < 0.4 else Flatten())
    if rng.random() < 0.6:
        layers.append(Dense(int(rng.integers(4, 17)), str(rng.choice(["relu", "relu6", "none"]))))
    layers.append(Dense(classes))
    return ModelSpec(shape, classes, tuple(layers))


def random_design(seed: int, config: str | None = None, large: bool = False) -> FuzzDesign:
    """A random design; ``config`` fixes the numeric configuration (else it is drawn too)."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, large)
    params = spec.param_layers()
    first = int(rng.integers(0, len(params)))
    trainable = tuple(i for i in params[first:] if i == params[-1] or rng.random() < 0.8)
    lambda_min = float(rng.choice([1.0, 0.5, 0.1]))
    lambda_max = float(rng.choice([lambda_min, 1.0]))
    return FuzzDesign(spec, trainable, config or str(rng.choice(CONFIGS)), lambda_min, lambda_max, seed)


def fuzz_campaign(batch_size: int = 4, lr: float = 0.05, board: str = "nrf52840") -> Campaign:
    """The campaign a synthetic bundle claims to come from (nothing of it is run)."""
    return Campaign.model_validate({
        "name": "fuzz", "dataset": {"name": "digits"}, "model": {"family": "cnn"},
        "on_device": {"batch_size": batch_size, "lr": lr, "epochs": 1}, "boards": [board]})


def synthetic_bundle(design: FuzzDesign, out_dir: Path, board: str = "nrf52840", batch_size: int = 4,
                     lr: float = 0.05) -> Path:
    """Quantize ``design`` (random weights, calibrated on random inputs) and export its bundle to
    ``out_dir/<seed>/``."""
    rng = np.random.default_rng(design.seed)
    x = rng.normal(size=(64, *design.spec.input_shape)).astype(np.float32)
    model = quantize_model(init_float_params(design.spec, seed=design.seed), x)
    campaign = fuzz_campaign(batch_size, lr, board)
    genome = resolve_genome(campaign, {"lambda_min": design.lambda_min, "lambda_max": design.lambda_max,
                                       "config": design.config}, "fuzz design")
    metrics = {"config": design.config, "trainable": list(design.trainable),
               "accuracy": {"on_device": 0.0}, "validation_accuracy": {"on_device": 0.0}}
    return export_bundle(campaign, design.seed, genome, metrics, model, campaign_board(campaign, board), out_dir)
