"""What a campaign can name, and a campaign as checked: the model families' genome keys, the board
profiles as table rows, and a campaign with every default filled in and the size of its search
space (``explore families``, ``explore boards``, ``explore check``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from explore.campaign.boards import BoardProfile, list_boards
from explore.campaign.genome import PIPELINE_KEYS
from explore.campaign.load import load_campaign
from explore.campaign.preflight import Preflight, preflight
from explore.campaign.schema import Campaign, resolved_dict
from explore.campaign.space import SPACE_PIPELINE_KEYS, space_size
from explore.model.families import FAMILIES, Family, get_family
from explore.model.families.keys import Key

# --- families ----------------------------------------------------------------------------------------------


def model_families() -> list[Family]:
    return list(FAMILIES.values())


@dataclass(frozen=True)
class KeySection:
    title: str
    keys: Mapping[str, Key]


def family_keys(name: str) -> list[KeySection]:
    """The genome keys of family ``name``: its architecture keys, then the pipeline keys every family shares."""
    family: Family = get_family(name, where="FAMILY")
    return [KeySection(f"{family.name} architecture keys", family.keys),
            KeySection("pipeline keys (every family)", PIPELINE_KEYS)]


# --- boards ------------------------------------------------------------------------------------------------

BOARD_COLUMNS = ("board", "core", "clock", "SRAM total / budget", "flash total / budget", "FPU", "DSP", "QEMU", "file")


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):g} MB"
    return f"{n / 1024:g} KB"


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def board_row(p: BoardProfile) -> tuple[str, ...]:
    """One board as the cells of :data:`BOARD_COLUMNS` (KB = 1024 bytes)."""
    return (p.name, p.core, f"{p.clock_mhz:g} MHz",
            f"{_size(p.sram.bytes)} / {_size(p.sram_budget)}",
            f"{_size(p.flash.bytes)} {'ext' if p.flash.external else 'int'} / {_size(p.flash_budget)}",
            "yes" if p.fpu else "no", "yes" if p.dsp else "no", p.validation.qemu_machine, _shown_path(p.path))


@dataclass(frozen=True)
class BoardListing:
    profiles: list[BoardProfile]

    @property
    def rows(self) -> list[tuple[str, ...]]:
        return [board_row(p) for p in self.profiles]

    def to_dict(self) -> dict[str, Any]:
        """``{"boards": {name: full profile}}`` with each board's budgets and profile path."""
        return {"boards": {p.name: p.as_dict() for p in self.profiles}}


def board_listing() -> BoardListing:
    """Every board profile a campaign's ``boards:`` can name; BadInput if one does not validate."""
    return BoardListing(list_boards())


# --- a checked campaign ------------------------------------------------------------------------------------


def describe_space(campaign: Campaign) -> dict | None:
    """The size of the campaign's search space and how it is searched; None without a search section."""
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


@dataclass(frozen=True)
class CheckedCampaign:
    campaign: Campaign
    resolved: dict[str, Any]        # every default filled in
    space: dict[str, Any] | None    # describe_space
    checked: Preflight              # its data as read, and its baseline network

    def to_dict(self) -> dict[str, Any]:
        """The document ``explore check --json`` prints."""
        return {"campaign": self.resolved, "space": self.space, "data": self.checked.to_dict()}


def check_campaign(path: Path) -> CheckedCampaign:
    """Load and validate the campaign at ``path``, then check it against its data and networks as a
    run would (:func:`preflight`); BadInput names file:line and the key if it is not valid."""
    campaign = load_campaign(path)
    return CheckedCampaign(campaign, resolved_dict(campaign), describe_space(campaign), preflight(campaign))
