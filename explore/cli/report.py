"""``explore report``: the Pareto report of a campaign's study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.cli.options import campaign_argument, results_option, storage_option


@dataclass(frozen=True)
class ReportOptions:
    campaign: Path
    out: Path | None
    storage: str | None
    results: Path


@click.command()
@campaign_argument
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for index.html, pareto.csv and summary.md  [default: results/<campaign>/report]")
@storage_option
@results_option
def report(**params: Any) -> None:
    """Write the Pareto report of CAMPAIGN's study.

    \b
    index.html (self-contained; open it in any browser):
      - per board: accuracy against training SRAM, latency per training
        sample and flash; trained, stopped-early and infeasible designs
        apart; budgets as red dashed lines; the front circled
      - hypervolume over trials; parameter importance for accuracy
      - the front as a table; its memory by segment (arena / trainable
        state / statics, and flash) and its latency split into forward,
        backward and update; its training curves
    pareto.csv and summary.md: the front table, for terminals and CI.

    \b
    Example:
      explore report search_spaces/quickstart.yaml
    """
    options = ReportOptions(**params)
    run_report(options.campaign, options.out, options.storage, options.results)


def run_report(campaign_path: Path, out: Path | None, storage: str | None, results: Path) -> Path:
    """Write the report (also for ``explore run --report``), say where; returns its directory."""
    from explore.report.study_report import write_report

    written = write_report(campaign_path, out, storage, results)
    print(f"report: {written.out / 'index.html'} ({written.front_size} front designs, {written.figures} figures); "
          f"also {written.out / 'pareto.csv'} and {written.out / 'summary.md'}")
    return written.out
