"""One design point end to end (design.md, "Data flow of one trial").

build -> float pre-training with AGP -> post-training quantization -> reset of the trainable layers
-> simulated on-device FQT retraining -> metrics.  Each stage is a function of plain data; the
search loop and ``explore evaluate`` call :func:`evaluate_design`, which only chains them, times
them and writes the artefacts.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from explore.model.artifacts import save_quantized
from explore.campaign import (BoardProfile, Campaign, Genome, OnDeviceConfig, PretrainConfig, PruningConfig,
                              QuantizationConfig, campaign_board)
from explore.cost import Design, cost_design
from explore.cost.result import BoardCost, costs_to_dict
from explore.data import Dataset, load_dataset
from explore.fqt.api import EpochRecord, TrainResult, evaluate, train_on_device
from explore.train.floatnet import reinit_layers
from explore.model.deployable import FloatModel, QuantizedModel
from explore.model.spec import ModelSpec, spec_to_dict
from explore.io import write_json_atomic
from explore.train.pretrain import accuracy, pretrain_float
from explore.train.agp import AGPSchedule, kept_channels, shrink, sparsity_report
from explore.train.compile_count import CompileCounter
from explore.train.ptq import quantize_model, requantize_layers

STAGES = ("data", "pretrain", "ptq", "on_device")

#: ``progress(stage, done, total, status)``: lets a caller draw progress without the pipeline
#: knowing how.
Progress = Callable[[str, int, int, str], None]


def _silent(stage: str, done: int, total: int, status: str) -> None:
    pass


@dataclass(frozen=True)
class Pretrained:
    float_model: FloatModel
    sparsity: dict
    history: list[dict]
    compile_seconds: float


def agp_schedule(pruning: PruningConfig, sparsity: float) -> AGPSchedule | None:
    if pruning.kind == "none" or sparsity == 0.0:
        return None
    return AGPSchedule(pruning.kind, sparsity, min(pruning.initial_sparsity, sparsity), pruning.start_step,
                       pruning.steps, pruning.frequency)


def pretrain_stage(config: PretrainConfig, pruning: PruningConfig, spec: ModelSpec, data: Dataset, sparsity: float,
                   seed: int, progress: Progress = _silent) -> Pretrained:
    """Float training (after source pre-training when the data set defines a transfer task) with
    AGP to ``sparsity``; structured pruning then shrinks the network physically."""
    schedule = agp_schedule(pruning, sparsity)
    x_val, y_val = (data.x_val, data.y_val) if len(data.x_val) else (None, None)
    transfer = data.x_source is not None
    total = config.epochs + (config.source_epochs if transfer else 0)
    done = iter(range(1, total + 1))

    def on_epoch(record: dict) -> None:
        shown = f"val acc {record['val_accuracy']:.3f}" if record["val_accuracy"] is not None else ""
        progress("pretrain", next(done), total, f"{shown} sparsity {record['sparsity']:.2f}")

    variables, history, compile_seconds = None, [], 0.0
    if transfer:
        source = pretrain_float(spec, data.x_source, data.y_source, epochs=config.source_epochs,
                                batch_size=config.batch_size, lr=config.lr, seed=seed, on_epoch=on_epoch)
        variables, compile_seconds = source.variables, source.compile_seconds
        history += [{**r, "task": "source"} for r in source.history]
    result = pretrain_float(spec, data.x_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                            lr=config.lr, seed=seed, x_val=x_val, y_val=y_val, pruning=schedule,
                            variables=variables, on_epoch=on_epoch)
    history += [{**r, "task": "target"} for r in result.history]
    model = result.model
    if schedule is not None and schedule.kind == "structured":
        model = shrink(model, kept_channels(spec, result.masks))
    return Pretrained(model, sparsity_report(spec, model, schedule, result.masks), history,
                      compile_seconds + result.compile_seconds)


def ptq_stage(config: QuantizationConfig, model: FloatModel, data: Dataset, seed: int) -> QuantizedModel:
    """uint8 post-training quantization calibrated on a seeded subset of the training data."""
    rng = np.random.default_rng(seed)
    count = min(config.calibration_samples, len(data.x_train))
    subset = np.sort(rng.choice(len(data.x_train), count, replace=False))
    return quantize_model(model, data.x_train[subset], config.calibration, config.percentile)


def reset_stage(config: OnDeviceConfig, quantized: QuantizedModel, layers: tuple[int, ...],
                seed: int) -> QuantizedModel:
    """Re-initialise the trainable layers, as a deployment that must learn them on-device would."""
    if not config.reset:
        return quantized
    fresh = reinit_layers(quantized.float_model, set(layers), seed=seed + 1)
    return requantize_layers(quantized, fresh, set(layers))


def on_device_stage(config: OnDeviceConfig, model: QuantizedModel, data: Dataset, genome: Genome,
                    layers: tuple[int, ...], seed: int, progress: Progress = _silent,
                    check: Callable[[float], None] | None = None) -> TrainResult:
    """``check`` sees the check (validation) accuracy after each epoch and may raise to stop training."""
    x_check, y_check = (data.x_val, data.y_val) if len(data.x_val) else (data.x_test, data.y_test)

    def on_epoch(record: EpochRecord) -> None:
        progress("on_device", record.epoch, config.epochs, f"loss {record.loss:.3f}")
        if check is not None:
            check(record.test_accuracy)

    return train_on_device(model, data.x_train, data.y_train, x_check, y_check, trainable=layers,
                           config=genome.config, lambda_min=genome.lambda_min, lambda_max=genome.lambda_max,
                           lr=config.lr, batch_size=config.batch_size, epochs=config.epochs, seed=seed,
                           on_epoch=on_epoch)


def _accuracies(float_model: FloatModel, ptq: QuantizedModel, trained: TrainResult, x, y) -> dict:
    return {"float32": accuracy(float_model, x, y), "ptq": evaluate(ptq, x, y, "uint8"),
            "on_device": evaluate(trained.model, x, y, trained.config)}


def check_design(genome: Genome, data: Dataset) -> ModelSpec:
    """Build the network of ``genome`` and check its trainable set, before any training."""
    spec = genome.network(data.input_shape, data.num_classes)
    genome.trainable_layers(spec)  # pruning keeps every layer, so this holds after it too
    return spec


def evaluate_design(campaign: Campaign, genome: Genome, *, out_dir: Path | None = None,
                    data: Dataset | None = None, progress: Progress = _silent,
                    check: Callable[[float], None] | None = None) -> dict:
    """Run the whole trial pipeline for ``genome``; returns the metrics and, with ``out_dir``, writes
    ``model.npz`` (the trained quantized model) and then ``metrics.json``.  ``check`` sees the check
    accuracy after each on-device epoch; what it raises ends the trial (early stopping)."""
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    with CompileCounter() as compiles:
        with _stage("data", seconds, compiles, since=start):
            if data is None:
                progress("data", 0, 1, "loading")
                data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
                progress("data", 1, 1, f"{len(data.x_train)} train samples")
        spec = check_design(genome, data)
        seed = campaign.seed

        with _stage("pretrain", seconds, compiles):
            pre = pretrain_stage(campaign.pretrain, campaign.pruning, spec, data, genome.sparsity, seed, progress)

        with _stage("ptq", seconds, compiles):
            progress("ptq", 0, 1, "calibrating")
            quantized = ptq_stage(campaign.quantization, pre.float_model, data, seed)
            progress("ptq", 1, 1, "done")

        with _stage("on_device", seconds, compiles):
            layers = genome.trainable_layers(pre.float_model.spec)
            reset = reset_stage(campaign.on_device, quantized, layers, seed)
            trained = on_device_stage(campaign.on_device, reset, data, genome, layers, seed, progress, check)

        with _stage("metrics", seconds, compiles):
            metrics = _metrics(campaign, genome, data, pre, quantized, trained)
    seconds["compile"] = pre.compile_seconds + trained.compile_seconds
    seconds["total"] = time.perf_counter() - start
    metrics["seconds"] = seconds
    metrics["compiles"] = compiles.to_dict()
    if out_dir is not None:
        save_quantized(trained.model, Path(out_dir) / "model.npz")
        write_json_atomic(Path(out_dir) / "metrics.json", metrics)
    return metrics


@contextmanager
def _stage(name: str, seconds: dict[str, float], compiles: CompileCounter, since: float | None = None) -> Iterator[None]:
    """Time the block into ``seconds[name]`` and count its compilations under ``name``."""
    tick = time.perf_counter() if since is None else since
    with compiles.stage(name):
        yield
    seconds[name] = time.perf_counter() - tick


def _metrics(campaign: Campaign, genome: Genome, data: Dataset, pre: Pretrained, quantized: QuantizedModel,
             trained: TrainResult) -> dict:
    spec = pre.float_model.spec
    metrics = {
        "campaign": campaign.name,
        "family": campaign.model.family,
        "genome": genome.to_dict(),
        "config": trained.config,
        "trainable": list(trained.trainable),
        "reset": campaign.on_device.reset,
        "lambda_min": genome.lambda_min,
        "lambda_max": genome.lambda_max,
        "accuracy": _accuracies(pre.float_model, quantized, trained, data.x_test, data.y_test),
        "update_rate": {str(i): rate for i, rate in trained.update_rates.items()},
        "sparsity": pre.sparsity,
        "params": {"total": spec.param_count(), "trainable": spec.param_count(trained.trainable)},
        "dataset": data.summary(),
        "architecture": spec_to_dict(spec),
        "history": {"pretrain": pre.history,
                    "on_device": [{"epoch": r.epoch, "loss": r.loss, "train_accuracy": r.train_accuracy,
                                   "check_accuracy": r.test_accuracy,
                                   "update_rates": {str(i): v for i, v in r.update_rates.items()}}
                                  for r in trained.history]},
    }
    if campaign.boards:
        boards = [campaign_board(campaign, name) for name in campaign.boards]
        metrics["cost"] = costs_to_dict(refined_costs(boards, campaign.on_device.batch_size, spec, trained, genome))
    if len(data.x_val):
        metrics["validation_accuracy"] = _accuracies(pre.float_model, quantized, trained, data.x_val, data.y_val)
    return metrics


def refined_costs(boards: list[BoardProfile], batch_size: int, spec: ModelSpec, trained: TrainResult,
                  genome: Genome) -> dict[str, BoardCost]:
    """Costs on ``boards`` of the network as trained, with the sparse-update rates the training
    recorded instead of the cost model's prior."""
    design = Design(spec, trained.trainable, trained.config, genome.lambda_min, genome.lambda_max,
                    batch_size, dict(trained.update_rates))
    return cost_design(design, boards)
