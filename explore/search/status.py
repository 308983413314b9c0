"""What ``explore status`` and ``explore run`` show of a study: its objectives, its trial counts and
its Pareto front as plain rows (issue 5).  The terminal layer only formats them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from optuna.trial import FrozenTrial

from explore.campaign import Campaign
from explore.campaign.storage import redacted
from explore.search import (Counts, count_trials, existing_study, load_search_campaign, objective_labels,
                            pareto_front)


@dataclass(frozen=True)
class Objectives:
    """The study's objective labels (``accuracy``, ``train_sram@nrf52840``, ...) and their directions."""

    labels: list[str]
    directions: list[str]

    @classmethod
    def of(cls, campaign: Campaign) -> Objectives:
        return cls(objective_labels(campaign), [o.resolved_direction for o in campaign.search.objectives])


def front_json(trials: Sequence[FrozenTrial], objectives: Objectives) -> list[dict[str, Any]]:
    """The Pareto front, one row per design: trial number, objective values by label, genome and
    the directory of its artefacts."""
    return [{"trial": t.number, "values": dict(zip(objectives.labels, t.values)), "genome": t.user_attrs.get("genome"),
             "artefacts": t.user_attrs.get("artefacts", {}).get("dir")}
            for t in pareto_front(trials, objectives.directions)]


@dataclass(frozen=True)
class StudyStatus:
    """A study as its storage holds it now."""

    campaign: Campaign
    storage: str            # redacted: no password
    objectives: Objectives
    counts: Counts
    front: list[dict[str, Any]]

    @classmethod
    def of(cls, campaign: Campaign, storage: str, trials: Sequence[FrozenTrial]) -> StudyStatus:
        objectives = Objectives.of(campaign)
        return cls(campaign, redacted(storage), objectives, count_trials(trials), front_json(trials, objectives))

    def to_dict(self) -> dict[str, Any]:
        """The document ``explore status --json`` prints."""
        return {"campaign": self.campaign.name, "storage": self.storage, "objectives": self.objectives.labels,
                "requested": self.campaign.search.trials, "trials": self.counts.to_dict(), "front": self.front}


def study_status(campaign_path: Path, storage: str | None, results: Path) -> StudyStatus:
    """The status of the study ``explore run`` made of the campaign; BadInput if there is none."""
    campaign = load_search_campaign(campaign_path)
    study, where_storage = existing_study(campaign, campaign_path, storage, results)
    return StudyStatus.of(campaign, where_storage, study.get_trials(deepcopy=False))
