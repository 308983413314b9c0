"""The README's first command: on-device training of the paper's small CNN, end to end, in seconds.

Pre-train in float on scikit-learn's 8x8 digits (installed with the package, no download), fold and
quantize to uint8, reset the classifier as a deployment would, and retrain every layer with the FQT
simulator (the paper's section IV-D experiment, scaled to digits).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from explore.data import Split, load_digits_split
from explore.fqt.api import EpochRecord, TrainResult, evaluate, train_on_device
from explore.train.floatnet import reinit_layers
from explore.model.deployable import QuantizedModel
from explore.model.spec import ModelSpec, paper_cnn
from explore.train.pretrain import accuracy, pretrain_float
from explore.train.ptq import quantize_model, requantize_layers

PRETRAIN_EPOCHS = 15


@dataclass(frozen=True)
class DigitsSetup:
    """A pre-trained, quantized paper CNN whose classifier has been reset for on-device retraining."""

    split: Split
    spec: ModelSpec
    float_accuracy: float
    ptq_accuracy: float
    model: QuantizedModel


def digits_setup(seed: int = 0, pretrain_epochs: int = PRETRAIN_EPOCHS) -> DigitsSetup:
    split = load_digits_split(seed=seed)
    spec = paper_cnn(split.input_shape, split.num_classes)
    pre = pretrain_float(spec, split.x_train, split.y_train, epochs=pretrain_epochs, seed=seed)
    quantized = quantize_model(pre.model, split.x_train)
    ptq_accuracy = evaluate(quantized, split.x_test, split.y_test, "uint8")
    classifier = spec.param_layers()[-1]
    reset = reinit_layers(pre.model, {classifier}, seed=seed + 1)
    model = requantize_layers(quantized, reset, {classifier})
    return DigitsSetup(split, spec, accuracy(pre.model, split.x_test, split.y_test), ptq_accuracy, model)


def _table(result: TrainResult) -> Table:
    table = Table(title=f"on-device training, {result.config}, trainable layers {list(result.trainable)}")
    for name in ("epoch", "loss", "train acc", "test acc", "update rate per layer"):
        table.add_column(name, justify="right")
    for r in result.history:
        rates = " ".join(f"L{i}:{v:.2f}" for i, v in r.update_rates.items())
        table.add_row(str(r.epoch), f"{r.loss:.4f}", f"{r.train_accuracy:.3f}", f"{r.test_accuracy:.3f}", rates)
    return table


def run_demo(*, config: str = "uint8", epochs: int = 8, lambda_min: float = 1.0, lambda_max: float = 1.0,
             lr: float = 0.01, batch_size: int = 48, seed: int = 0, as_json: bool = False) -> dict:
    """Run the demo, print a table (or JSON with ``as_json``) and return the figures."""
    console = Console(stderr=as_json)
    start = time.perf_counter()
    with console.status("pre-training in float and quantizing to uint8 ..."):
        setup = digits_setup(seed)
    console.print(f"float pre-training: test accuracy {setup.float_accuracy:.3f}; "
                  f"after uint8 post-training quantization: {setup.ptq_accuracy:.3f}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"on-device training ({config})", total=epochs, status="compiling")

        def on_epoch(record: EpochRecord) -> None:
            progress.update(task, advance=1, status=f"test acc {record.test_accuracy:.3f}")

        trainable = setup.spec.param_layers()
        result = train_on_device(setup.model, setup.split.x_train, setup.split.y_train, setup.split.x_test,
                                 setup.split.y_test, trainable=trainable, config=config, lambda_min=lambda_min,
                                 lambda_max=lambda_max, lr=lr, batch_size=batch_size, epochs=epochs, seed=seed,
                                 on_epoch=on_epoch)
    summary = {
        "config": config,
        "float_pretrained_accuracy": setup.float_accuracy,
        "ptq_accuracy": setup.ptq_accuracy,
        "test_accuracy": result.test_accuracy,
        "update_rates": {str(k): v for k, v in result.update_rates.items()},
        "history": [{"epoch": r.epoch, "loss": r.loss, "train_accuracy": r.train_accuracy,
                     "test_accuracy": r.test_accuracy} for r in result.history],
        "seconds": time.perf_counter() - start,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        console.print(_table(result))
        console.print(f"retrained all layers on-device ({config}): test accuracy "
                      f"[bold]{result.test_accuracy:.3f}[/bold] in {summary['seconds']:.0f} s")
    return summary
