"""``explore export``: firmware bundles of chosen trials of a campaign's study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.cli.options import campaign_argument, results_option, storage_option


@dataclass(frozen=True)
class ExportOptions:
    campaign: Path
    trial: int | None
    pareto: bool
    board: str | None
    out: Path
    storage: str | None
    results: Path


@click.command()
@campaign_argument
@click.option("--trial", type=int, default=None, help="Export this trial number.")
@click.option("--pareto", is_flag=True, help="Export every design on the Pareto front.")
@click.option("--board", default=None,
              help="One of the campaign's boards: costs, budgets and arena plan are for it  [default: its first]")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory for the bundles; each goes to OUT/<trial>/.")
@storage_option
@results_option
def export(**params: Any) -> None:
    """Write firmware bundles of CAMPAIGN's trials for runtime_c: C99 sources
    (model.h, model.c), manifest.json (schema explore.bundle/1) and a README
    for firmware engineers, one directory per trial.  Each bundle builds on
    its own: a copy of the runtime, a CMakeLists.txt with the library target
    explore_model (for add_subdirectory) and an example main.c that trains
    the model on a buffer of samples.

    \b
    model.c holds frozen weights as const arrays (flash), trainable weights
    in RAM, every quantization and requantization parameter, the layer
    table, the arena plan of the cost model and the training configuration
    (trainable layers, lambda_min/lambda_max, lr, batch size).

    \b
    Example:
      explore export search_spaces/quickstart.yaml --pareto --out bundles
      explore export search_spaces/quickstart.yaml --trial 12 --board nrf52840 --out bundles
    """
    options = ExportOptions(**params)
    run_export(options.campaign, options.trial, options.pareto, options.board, options.out, options.storage,
               options.results)


def run_export(campaign_path: Path, trial: int | None, pareto: bool, board: str | None, out: Path,
               storage: str | None, results: Path) -> list[Path]:
    """Write one bundle per chosen trial into ``out/<trial>/`` (also for ``explore run --export``);
    prints and returns where they went."""
    from explore.deploy.study_export import export_trials

    return export_trials(campaign_path, trial, pareto, board, out, storage, results, written=_say_written)


def _say_written(number: int, board: str, path: Path) -> None:
    print(f"trial {number}: bundle for {board} in {path}")
