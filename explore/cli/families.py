"""``explore families``: the model families and their genome keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class FamiliesOptions:
    family: str | None


@click.command()
@click.argument("family", required=False)
def families(**params: Any) -> None:
    """List the model families, or the genome keys of FAMILY with their ranges."""
    options = FamiliesOptions(**params)
    from explore.campaign.describe import family_keys, model_families

    if options.family is None:
        for fam in model_families():
            click.echo(f"{fam.name:<10} {fam.summary}")
        click.echo("\nexplore families NAME lists a family's genome keys.")
        return
    for section in family_keys(options.family):
        click.echo(f"{section.title}:")
        for name, key in section.keys.items():
            click.echo(f"  {name:<15} {key.describe():<32} default {key.default!r:<8} {key.help}")
