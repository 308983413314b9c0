"""``explore check``: the resolved campaign and the size of its search space."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.cli.options import campaign_argument


@dataclass(frozen=True)
class CheckOptions:
    campaign: Path
    as_json: bool


@click.command()
@campaign_argument
@click.option("--json", "as_json", is_flag=True, help="Print the resolved campaign and the space as JSON.")
def check(**params: Any) -> None:
    """Validate CAMPAIGN, print it with every default filled in, and the size
    of its search space.  Exit status 0 if it is valid, 2 (one line naming
    file:line and the key) if not.

    \b
    Example:
      explore check search_spaces/quickstart.yaml
    """
    options = CheckOptions(**params)
    import yaml

    from explore.campaign.describe import check_campaign

    checked = check_campaign(options.campaign)
    if options.as_json:
        print(json.dumps(checked.to_dict(), indent=2))
        return
    print(yaml.safe_dump(checked.resolved, sort_keys=False), end="")
    space = checked.space
    if space is None:
        print(f"{options.campaign}: valid; no search section (explore evaluate runs its baseline)")
        return
    continuous = f" x {len(space['continuous'])} continuous ({', '.join(space['continuous'])})" \
        if space["continuous"] else ""
    print(f"{options.campaign}: valid.  Search space: {space['discrete_combinations']:,} discrete "
          f"combinations{continuous}; {space['trials']} trials with {space['sampler']} on "
          f"{', '.join(space['objectives'])}; storage: {space['storage']}.")
