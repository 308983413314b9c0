"""``explore boards``: the board profiles as a table, or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class BoardsOptions:
    as_json: bool


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print {\"boards\": {name: full profile}} as JSON, with sram_budget,\n"
                   "flash_budget and the profile's path.")
def boards(**params: Any) -> None:
    """List the board profiles a campaign's `boards:` can name.

    For each board: core, clock, SRAM and flash (total / budget, i.e.
    what is left after the application's reserve or the profile's
    budgets), internal or external flash, FPU/DSP, the QEMU machine that
    stands in for it, and the profile file.  KB = 1024 bytes.

    \b
    Boards are read from each directory in $EXPLORE_HW_PROFILES
    (separated by ':'), then from the repository's hw_profiles/; the
    first directory wins when two define the same board.

    \b
    To add a board, write one YAML file NAME.yaml (NAME = the board's
    `name:`) into hw_profiles/ or into a directory named by
    EXPLORE_HW_PROFILES, e.g. by copying hw_profiles/nrf52840.yaml.
    Every key, its unit and allowed values: hw_profiles/README.md.
    A profile that does not validate makes this command fail (exit 2).
    """
    options = BoardsOptions(**params)
    from explore.campaign.describe import BOARD_COLUMNS, board_listing

    listing = board_listing()
    if options.as_json:
        click.echo(json.dumps(listing.to_dict(), indent=2))
        return
    rows = [BOARD_COLUMNS, *listing.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(BOARD_COLUMNS))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not listing.profiles:
        click.echo("no board profiles found; see hw_profiles/README.md")
