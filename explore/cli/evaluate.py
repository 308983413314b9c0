"""Terminal side of ``explore evaluate``: progress bars per stage and a closing summary."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from explore.campaign import load_campaign, load_genome, resolve_genome
from explore.data import load_dataset
from explore.train.pipeline import STAGES, check_design, evaluate_design

_STAGE_TITLES = {"data": "load data", "pretrain": "float training + AGP", "ptq": "quantize (PTQ)",
                 "on_device": "on-device FQT"}


def default_out_dir(campaign_name: str) -> Path:
    return Path("results") / campaign_name / "evaluate"


def run_evaluate(campaign_path: Path, genome_path: Path | None, out_dir: Path | None, as_json: bool) -> dict:
    campaign = load_campaign(campaign_path)
    genome = load_genome(genome_path) if genome_path else campaign.baseline
    genome = resolve_genome(campaign, genome, str(genome_path) if genome_path else f"{campaign_path}: baseline")
    out_dir = out_dir or default_out_dir(campaign.name)
    console = Console(stderr=as_json)
    # Everything that can be bad input is checked before any progress display starts, so bad input
    # stays one line on stderr.
    with console.status(f"loading {campaign.dataset.name} ..."):
        data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    check_design(genome, data)
    console.print(f"{campaign.dataset.name}: {len(data.x_train)} train / {len(data.x_val)} validation / "
                  f"{len(data.x_test)} test samples, input {data.input_shape}, {data.num_classes} classes")
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console) as progress:
        tasks = {stage: progress.add_task(_STAGE_TITLES[stage], total=None, status="waiting", start=False)
                 for stage in STAGES if stage != "data"}

        def on_progress(stage: str, done: int, total: int, status: str) -> None:
            task = tasks[stage]
            if not progress.tasks[task].started:
                progress.start_task(task)
            progress.update(task, completed=done, total=total, status=status)

        metrics = evaluate_design(campaign, genome, out_dir=out_dir, data=data, progress=on_progress)
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        console.print(_summary(metrics))
        console.print(f"wrote {out_dir / 'metrics.json'} and {out_dir / 'model.npz'} "
                      f"in {metrics['seconds']['total']:.0f} s")
    return metrics


def _summary(metrics: dict) -> Table:
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
