"""The Optuna study of a campaign: where it is stored, its name and objectives, and opening it (issue 5).

The study is named after the campaign and records its objective labels, so that a campaign whose
objectives changed cannot resume a study whose values mean something else.  Opening the storage is
:mod:`explore.search.storage`; counting trials and the front, :mod:`explore.search.front`; keeping
the count exact through crashes, :mod:`explore.search.liveness`.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from explore.campaign import Campaign, load_campaign, location
from explore.campaign.storage import check_storage_form, is_rdb
from explore.errors import BadInput
from explore.search.storage import open_storage

__all__ = ["existing_study", "load_search_campaign", "objective_labels", "open_storage", "open_study",
           "storage_location"]


def storage_location(campaign: Campaign, override: str | None, results: Path) -> tuple[str, str]:
    """The storage to use and where it was named (for messages): ``--storage``, the campaign's
    ``search.storage``, or the journal file ``<results>/<campaign>/study.journal``."""
    if override:
        check_storage_form(override, "--storage")
        return override, "--storage"
    if campaign.search is not None and campaign.search.storage:
        return campaign.search.storage, f"{location(campaign, 'search', 'storage')}search.storage"
    return str(results / campaign.name / "study.journal"), "journal"


def objective_labels(campaign: Campaign) -> list[str]:
    """``accuracy``, ``train_sram@nrf52840``, ...: one per objective, naming the board of a cost."""
    first = campaign.boards[0] if campaign.boards else None
    return [o.name if o.name == "accuracy" else f"{o.name}@{o.board or first}" for o in campaign.search.objectives]


def open_study(campaign: Campaign, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler,
               where: str, create: bool = True) -> optuna.Study:
    """The campaign's study (named after it), created on first use.  A study made with other
    objectives is bad input: its values would mean something else."""
    labels = objective_labels(campaign)
    directions = [o.resolved_direction for o in campaign.search.objectives]
    if not create:
        try:
            study = optuna.load_study(study_name=campaign.name, storage=storage, sampler=sampler)
        except KeyError:
            raise BadInput(f"{where}: no study named {campaign.name!r} yet; start it with explore run") from None
    else:
        study = optuna.create_study(study_name=campaign.name, storage=storage, sampler=sampler,
                                    directions=directions, load_if_exists=True)
        if "objectives" not in study.user_attrs:
            study.set_user_attr("objectives", labels)
    stored = study.user_attrs.get("objectives", labels)
    if stored != labels:
        raise BadInput(f"{where}: study {campaign.name!r} there was made with objectives {stored}, the campaign "
                       f"now has {labels}; rename the campaign or use another storage")
    return study


def load_search_campaign(path: Path) -> Campaign:
    """A campaign that has a search section (the commands that work on its study need one)."""
    campaign = load_campaign(path)
    if campaign.search is None:
        raise BadInput(f"{location(campaign)}search: the campaign has no search section; add one "
                       "(see README, 'Searching') or run its baseline with explore evaluate")
    return campaign


def existing_study(campaign: Campaign, campaign_path: Path, storage: str | None,
                   results: Path) -> tuple[optuna.Study, str]:
    """The campaign's study as ``explore run`` left it, and where it is stored; BadInput if there is none."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    where_storage, where = storage_location(campaign, storage, results)
    if not is_rdb(where_storage) and not Path(where_storage).exists():
        raise BadInput(f"{where_storage}: no study yet for {campaign.name} (so no finished trials); "
                       f"start it with explore run {campaign_path}")
    study = open_study(campaign, open_storage(where_storage, where), optuna.samplers.RandomSampler(), where,
                       create=False)
    return study, where_storage
