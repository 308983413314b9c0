"""Loading a campaign: YAML in, a validated :class:`~explore.campaign.schema.Campaign` out.

``load_campaign(path)`` reads the YAML, checks it against the schema and then the rules that span
sections (the baseline genome, the boards, the search space against the family's keys, budgets,
samplers, storage); any problem is one :class:`~explore.errors.BadInput` line naming the file, the
line, the key and what is allowed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from explore.campaign.boards import BoardProfile, Budgets, UnknownBoard, find_board
from explore.campaign.genome import PIPELINE_KEYS, resolve_genome
from explore.campaign.schema import Campaign
from explore.campaign.space import BLACK_BOX_SAMPLERS, SPACE_PIPELINE_KEYS, check_space
from explore.campaign.storage import check_storage_form
from explore.errors import BadInput, shown, validation_line
from explore.io import read_yaml_document, yaml_lines
from explore.model.families import SUPERNET_FAMILIES, get_family


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign YAML; BadInput names the file, the line and the key of the first
    problem."""
    path = Path(path)
    raw, lines = read_yaml_document(path, "campaign file", "name, dataset, model, ...")

    def at(*loc: Any) -> str:
        line = lines.line(list(loc))
        return f"{path}:{line}: " if line else f"{path}: "

    try:
        campaign = Campaign.model_validate({**raw, "base_dir": path.resolve().parent, "source": path})
    except ValidationError as e:
        raise BadInput(validation_line(path, e, Campaign, lines, raw)) from None
    resolve_genome(campaign, campaign.baseline, f"{at('baseline')}baseline")
    boards = {}
    for i, entry in enumerate(campaign.boards):
        try:
            boards[entry] = find_board(entry, campaign.base_dir)  # a bad profile file raises its own error
        except UnknownBoard as e:
            raise BadInput(f"{at('boards', i)}boards[{i}]: {e}") from None
    if campaign.search is not None:
        _check_search(campaign, boards, at)
    return campaign


def location(campaign: Campaign, *loc: Any) -> str:
    """``<file>:<line>: `` of the key at ``loc`` in the campaign's file (for errors found after loading)."""
    if campaign.source is None:
        return ""
    line = yaml_lines(campaign.source).line(list(loc))
    return f"{campaign.source}:{line}: " if line else f"{campaign.source}: "


def _check_search(campaign: Campaign, boards: dict, at: Callable[..., str]) -> None:
    search = campaign.search
    keys = {**get_family(campaign.model.family).keys, **{k: PIPELINE_KEYS[k] for k in SPACE_PIPELINE_KEYS}}
    for name in search.space:
        check_space(search.model_copy(update={"space": {name: search.space[name]}}), keys,
                    at("search", "space", name))
    if "sparsity" in search.space and campaign.pruning.kind == "none":
        raise BadInput(f"{at('search', 'space', 'sparsity')}search.space.sparsity: needs pruning.kind "
                       "structured or unstructured")
    for i, objective in enumerate(search.objectives):
        if objective.board is not None and objective.board not in boards:
            raise BadInput(f"{at('search', 'objectives', i, 'board')}search.objectives[{i}].board: "
                           f"{shown(objective.board)} is not one of the campaign's boards {list(boards)}")
        if objective.name != "accuracy" and not boards:
            raise BadInput(f"{at('search', 'objectives', i)}search.objectives[{i}]: objective "
                           f"{objective.name!r} needs at least one entry in boards")
    for name, budgets in search.budgets.items():
        if name not in boards:
            raise BadInput(f"{at('search', 'budgets', name)}search.budgets.{name}: not one of the campaign's "
                           f"boards {list(boards)}")
        try:
            with_budgets(boards[name], budgets)
        except BadInput as e:
            raise BadInput(f"{at('search', 'budgets', name)}search.budgets.{name}: {e}") from None
    if search.sampler.gradient and campaign.model.family not in SUPERNET_FAMILIES:
        raise BadInput(f"{at('search', 'sampler', 'name')}search.sampler.name: {search.sampler.name} needs a "
                       f"supernet and model family {campaign.model.family!r} has none (supernets: "
                       f"{', '.join(SUPERNET_FAMILIES)}); samplers that work with {campaign.model.family}: "
                       f"{', '.join(BLACK_BOX_SAMPLERS)}")
    if search.sampler.name == "gp" and importlib.util.find_spec("torch") is None:
        raise BadInput(f"{at('search', 'sampler', 'name')}search.sampler.name: gp needs PyTorch "
                       "(pip install torch); tpe, nsga2 and random need nothing more")
    if search.storage is not None:
        check_storage_form(search.storage, f"{at('search', 'storage')}search.storage")


def campaign_board(campaign: Campaign, name_or_path: str, base_dir: Path | None = None) -> BoardProfile:
    """A board as this campaign sees it: its profile (looked up from ``base_dir``, by default the
    campaign's directory), with the campaign's ``search.budgets`` for it in place of the profile's."""
    board = find_board(name_or_path, campaign.base_dir if base_dir is None else base_dir)
    if campaign.search is not None and name_or_path in campaign.search.budgets:
        board = with_budgets(board, campaign.search.budgets[name_or_path])
    return board


def with_budgets(board: BoardProfile, budgets: Budgets) -> BoardProfile:
    """``board`` with the campaign's budgets in place of the profile's; a budget larger than the
    board is BadInput."""
    data = board.model_dump(by_alias=True)
    data["budgets"] = {**data["budgets"], **budgets.model_dump(exclude_none=True)}
    try:
        return BoardProfile.model_validate({**data, "path": board.path})
    except ValidationError as e:
        first = e.errors()[0]
        raise BadInput(first["msg"].removeprefix("Value error, ")
                       + (f" (got {shown(first['ctx']['got'])})" if "got" in (first.get("ctx") or {}) else "")) from None
