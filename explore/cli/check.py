"""Terminal side of ``explore check``: the resolved campaign and the size of its search space."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from explore.campaign import PIPELINE_KEYS, Campaign, load_campaign, resolved_dict
from explore.model.families import get_family
from explore.campaign.space import SPACE_PIPELINE_KEYS, space_size


def describe_space(campaign: Campaign) -> dict | None:
    if campaign.search is None:
        return None
    keys = {**get_family(campaign.model.family).keys, **{k: PIPELINE_KEYS[k] for k in SPACE_PIPELINE_KEYS}}
    search = campaign.search
    return {**space_size(search, keys),
            "objectives": [f"{o.name} ({o.resolved_direction}{f', {o.board}' if o.board else ''})"
                           for o in search.objectives],
            "sampler": search.sampler.name, "trials": search.trials,
            "storage": search.storage or f"journal file results/{campaign.name}/study.journal",
            "early_stopping": search.early_stopping.enabled}


def run_check(campaign_path: Path, as_json: bool) -> None:
    campaign = load_campaign(campaign_path)
    resolved, space = resolved_dict(campaign), describe_space(campaign)
    if as_json:
        print(json.dumps({"campaign": resolved, "space": space}, indent=2))
        return
    print(yaml.safe_dump(resolved, sort_keys=False), end="")
    if space is None:
        print(f"{campaign_path}: valid; no search section (explore evaluate runs its baseline)")
        return
    continuous = f" x {len(space['continuous'])} continuous ({', '.join(space['continuous'])})" \
        if space["continuous"] else ""
    print(f"{campaign_path}: valid.  Search space: {space['discrete_combinations']:,} discrete "
                  f"combinations{continuous}; {space['trials']} trials with {space['sampler']} on "
                  f"{', '.join(space['objectives'])}; storage: {space['storage']}.")
