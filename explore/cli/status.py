"""``explore status``: trial counts of a campaign's study and its Pareto front."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.cli.options import campaign_argument, results_option, storage_option
from explore.cli.study_view import front_table, status_text, stdout_console


@dataclass(frozen=True)
class StatusOptions:
    campaign: Path
    storage: str | None
    results: Path
    as_json: bool


@click.command()
@campaign_argument
@storage_option
@results_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"trials": {complete, infeasible, pruned, failed, running, ...}, "front": [...]}.')
def status(**params: Any) -> None:
    """Trial counts of CAMPAIGN's study by state, and its Pareto front
    (feasible completed trials that no other one dominates).

    \b
    Example:
      explore status search_spaces/quickstart.yaml --json
    """
    options = StatusOptions(**params)
    from explore.search.status import study_status

    shown = study_status(options.campaign, options.storage, options.results)
    if options.as_json:
        print(json.dumps(shown.to_dict(), indent=2))
        return
    print(f"{shown.campaign.name}: {status_text(shown.counts, len(shown.front))}; storage {shown.storage}")
    table = front_table(shown)
    stdout_console(table).print(table)
