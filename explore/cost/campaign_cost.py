"""``explore cost``: one design of a campaign costed on each chosen board, before any training."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from explore.campaign.boards import BoardProfile, UnknownBoard, list_boards
from explore.campaign import (Campaign, Genome, campaign_board, campaign_data, load_campaign, load_genome,
                              resolve_genome)
from explore.cost.design import Design, design_from_genome
from explore.cost.pricing import MemoryPlans, cost_on_board, plan_design
from explore.cost.result import BoardCost, costs_to_dict
from explore.errors import BadInput

#: ``loading(dataset_name)``: entered while the data set is read
Loading = Callable[[str], AbstractContextManager[Any]]


def chosen_boards(campaign: Campaign, names: Sequence[str]) -> list[BoardProfile]:
    """``--board`` names or files if given, else the campaign's boards, else every known board; the
    campaign's ``search.budgets`` apply to the boards it names."""
    if names:
        boards = []
        for name in names:
            try:
                boards.append(campaign_board(campaign, name, Path.cwd()))
            except UnknownBoard as e:
                raise BadInput(f"--board {name}: {e}") from None
        return boards
    if campaign.boards:
        return [campaign_board(campaign, name) for name in campaign.boards]
    return list_boards()


def design_summary(design: Design) -> dict[str, Any]:
    """The design's size and on-device training set-up, as ``explore cost --json`` shows it."""
    return {"layers": len(design.spec.layers), "params": design.spec.param_count(),
            "trainable": list(design.trainable), "trainable_params": design.spec.param_count(design.trainable),
            "config": design.config, "lambda_min": design.lambda_min, "lambda_max": design.lambda_max,
            "batch_size": design.batch_size, "update_rates": "recorded" if design.update_rates else "prior"}


@dataclass(frozen=True)
class DesignCost:
    """A design's costs on each board (by name, in the boards' order) and its arena plans."""

    campaign: Campaign
    genome: Genome
    design: Design
    plans: MemoryPlans
    boards: list[BoardProfile]
    costs: dict[str, BoardCost]

    @property
    def summary(self) -> dict[str, Any]:
        return design_summary(self.design)

    @property
    def feasible_on(self) -> list[str]:
        return [name for name, cost in self.costs.items() if cost.feasible]

    def to_dict(self) -> dict[str, Any]:
        """The document ``explore cost --json`` prints."""
        return {"genome": self.genome.to_dict(), "design": self.summary, "boards": costs_to_dict(self.costs),
                "arena_plan": {"training": self.plans.training.to_dict(), "inference": self.plans.inference.to_dict()}}


def cost_campaign_design(campaign_path: Path, genome_path: Path | None, board_names: Sequence[str],
                         loading: Loading = lambda name: nullcontext()) -> DesignCost:
    """Cost the genome in ``genome_path`` (default: the campaign's baseline) on the chosen boards."""
    campaign = load_campaign(campaign_path)
    where = str(genome_path) if genome_path else f"{campaign_path}: baseline"
    genome = resolve_genome(campaign, load_genome(genome_path) if genome_path else campaign.baseline, where)
    boards = chosen_boards(campaign, board_names)
    # Costs need only the input shape and the class count, but those come from the data set.
    with loading(campaign.dataset.name):
        data = campaign_data(campaign)
    design = design_from_genome(genome, campaign.pruning, campaign.on_device.batch_size, data.input_shape,
                                data.num_classes, where)
    plans = plan_design(design)
    return DesignCost(campaign, genome, design, plans, boards,
                      {board.name: cost_on_board(design, board, plans) for board in boards})
