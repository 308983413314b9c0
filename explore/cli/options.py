"""Options several commands share, written once so that their help reads the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

campaign_argument = click.argument("campaign", type=click.Path(path_type=Path))

storage_option = click.option(
    "--storage", default=None,
    help=("Optuna storage: postgresql://user@host/db (many machines), sqlite:///file.db,\n"
          "or a journal file path.  Default: the campaign's search.storage, else the\n"
          "journal file results/<campaign>/study.journal."))

results_option = click.option(
    "--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
    help="Root of results/<campaign>/ (journal, trial artefacts, worker logs).")

trials_option = click.option("--trials", type=int, default=None,
                             help="Finished trials the study should hold [default: search.trials].")

heartbeat_option = click.option(
    "--heartbeat", type=click.FloatRange(min=1), default=30.0, show_default=True,
    help=("RDB storage: seconds between a running trial's heartbeats; a trial silent for\n"
          "three of them is failed and queued again."))
