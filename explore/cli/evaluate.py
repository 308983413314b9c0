"""``explore evaluate``: progress bars per stage and a closing summary."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import click

from explore.cli.options import campaign_argument

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from explore.data import Dataset
    from explore.train.pipeline import Progress as StageProgress

_STAGE_TITLES = {"pretrain": "float training + AGP", "ptq": "quantize (PTQ)", "on_device": "on-device FQT"}


@dataclass(frozen=True)
class EvaluateOptions:
    campaign: Path
    genome: Path | None
    out: Path | None
    as_json: bool


@click.command()
@campaign_argument
@click.option("--genome", type=click.Path(path_type=Path), default=None,
              help="JSON object of genome keys (default: the campaign's baseline). Missing\n"
                   "architecture keys take the family's defaults; missing pipeline keys\n"
                   "(sparsity, trainable_last, lambda_min, lambda_max, config) the campaign's.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory  [default: results/<campaign name>/evaluate]")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout (progress goes to stderr).")
def evaluate(**params: Any) -> None:
    """Evaluate one design point of CAMPAIGN end to end.

    \b
    Stages (design.md, "Data flow of one trial"):
      1. build the network from the genome
      2. float pre-training (source task first, with dataset.transfer),
         with automated gradual pruning (AGP) to the genome's sparsity
      3. post-training quantization to uint8, calibrated on training data
      4. reset of the trainable layers
      5. simulated on-device FQT retraining (bit-exact integer arithmetic)

    Writes DIR/metrics.json (accuracy.float32/ptq/on_device on the test
    split, update rates, sparsity, parameters, seconds per stage) and
    DIR/model.npz (the trained quantized model, format in explore/model/artifacts.py).

    \b
    Example:
      explore evaluate search_spaces/quickstart.yaml
      explore evaluate search_spaces/quickstart.yaml --genome g.json --out /tmp/g
    """
    options = EvaluateOptions(**params)
    from rich.console import Console

    from explore.train.evaluate import evaluate_campaign

    console = Console(stderr=options.as_json)
    evaluation = evaluate_campaign(options.campaign, options.genome, options.out, _StageBars(console))
    metrics = evaluation.metrics
    if options.as_json:
        print(json.dumps(metrics, indent=2))
        return
    console.print(_summary(metrics))
    console.print(f"wrote {evaluation.out_dir / 'metrics.json'} and {evaluation.out_dir / 'model.npz'} "
                  f"in {metrics['seconds']['total']:.0f} s")


class _StageBars:
    """A spinner while the data load, then one progress bar per stage of the pipeline."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def loading(self, dataset_name: str) -> AbstractContextManager[Any]:
        return self.console.status(f"loading {dataset_name} ...")

    @contextmanager
    def training(self, dataset_name: str, data: Dataset) -> Iterator[StageProgress]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console.print(f"{dataset_name}: {len(data.x_train)} train / {len(data.x_val)} validation / "
                           f"{len(data.x_test)} test samples, input {data.input_shape}, {data.num_classes} classes")
        columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=self.console) as progress:
            tasks = {stage: progress.add_task(title, total=None, status="waiting", start=False)
                     for stage, title in _STAGE_TITLES.items()}

            def on_progress(stage: str, done: int, total: int, status: str) -> None:
                task = tasks[stage]
                if not progress.tasks[task].started:
                    progress.start_task(task)
                progress.update(task, completed=done, total=total, status=status)

            yield on_progress


def _summary(metrics: dict) -> Table:
    from rich.table import Table

    table = Table(title=f"{metrics['campaign']}: {metrics['family']}, {metrics['params']['total']} parameters, "
                        f"sparsity {metrics['sparsity']['reached']:.2f} ({metrics['sparsity']['kind']})")
    table.add_column("test accuracy", justify="left")
    table.add_column("value", justify="right")
    accuracy = metrics["accuracy"]
    table.add_row("float32 after pre-training", f"{accuracy['float32']:.4f}")
    table.add_row("uint8 after PTQ", f"{accuracy['ptq']:.4f}")
    table.add_row(f"on-device ({metrics['config']}, layers {metrics['trainable']})", f"{accuracy['on_device']:.4f}")
    rates = ", ".join(f"L{k}: {v:.2f}" for k, v in metrics["update_rate"].items())
    table.add_row("update rate per trainable layer", rates)
    return table
