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
    """Validate CAMPAIGN, print it with every default filled in, how its data
    are read, and the size of its search space.  Exit status 0 if it is
    valid, 2 (one line naming file:line and the key) if not.

    \b
    Checks everything a run would reject before training:
      the sections and their values, the boards and the search space;
      the data set: it exists, is readable, its labels are whole numbers
        with at least 2 classes and one per sample, and its layout reads
        plausibly (or dataset.layout says how: nlc, ncl, nhwc, nchw);
      batch sizes: at most the training samples;
      the AGP schedule: it ends before float training does;
      trainable layers: the baseline's and every search.trainable.sets
        entry name conv/dense layers of the networks.

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
    for line in checked.checked.data_lines():
        print(line)
    space = checked.space
    if space is None:
        print(f"{options.campaign}: valid; no search section (explore evaluate runs its baseline)")
        return
    continuous = f" x {len(space['continuous'])} continuous ({', '.join(space['continuous'])})" \
        if space["continuous"] else ""
    print(f"{options.campaign}: valid.  Search space: {space['discrete_combinations']:,} discrete "
          f"combinations{continuous}; {space['trials']} trials with {space['sampler']} on "
          f"{', '.join(space['objectives'])}; storage: {space['storage']}.")
