"""``explore worker``: one worker of a campaign's study, on this or any machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.cli.options import campaign_argument, heartbeat_option, results_option, storage_option, trials_option


@dataclass(frozen=True)
class WorkerCommandOptions:
    campaign: Path
    storage: str | None
    trials: int | None
    results: Path
    seed_offset: int | None
    heartbeat: float
    quiet: bool


@click.command()
@campaign_argument
@storage_option
@trials_option
@results_option
@click.option("--seed-offset", type=int, default=None,
              help="Sampler seed = campaign seed + this, mixed with each trial's number  [default: the process id].")
@heartbeat_option
@click.option("--quiet", is_flag=True, help="Print nothing per trial.")
def worker(**params: Any) -> None:
    """Join CAMPAIGN's study as one worker, on this or any machine.

    Runs trials until the study holds --trials finished ones, then exits.
    Start as many as you like, on as many machines as reach the storage;
    the count stays exact and a killed worker's trial is run again.

    \b
    Example (on each machine):
      explore worker campaign.yaml --storage postgresql://explore@db/explore
    """
    options = WorkerCommandOptions(**params)
    from explore.search.campaign_run import join_study

    join_study(options.campaign, options.storage, options.trials, options.results, options.seed_offset,
               options.heartbeat, log=_silent if options.quiet else _print)


def _silent(line: str) -> None:
    pass


def _print(line: str) -> None:
    print(line, flush=True)
