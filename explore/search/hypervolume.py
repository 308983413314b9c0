"""Hypervolume of a study's feasible front, for ``explore bench search`` and ``explore report``."""

from __future__ import annotations

import datetime

import numpy as np
from optuna._hypervolume import compute_hypervolume  # Optuna's WFG; no public equivalent takes raw points
from optuna.trial import FrozenTrial

from explore.campaign import Campaign, campaign_board
from explore.search.front import is_feasible_complete


def reference_point(campaign: Campaign, points: np.ndarray) -> np.ndarray:
    """Per objective, in minimization form: accuracy 0; a cost's board budget when it has one, else
    10 % beyond the worst value any variant reached."""
    ref = []
    for j, objective in enumerate(campaign.search.objectives):
        if objective.name == "accuracy":
            ref.append(0.0 if objective.resolved_direction == "maximize" else 1.0)
            continue
        board = campaign_board(campaign, objective.board or campaign.boards[0])
        budget = {"train_sram": board.sram_budget, "flash": board.flash_budget,
                  "train_latency": board.budgets.train_latency_ms, "infer_latency": board.budgets.infer_latency_ms,
                  "energy": board.budgets.energy_mj_per_sample}[objective.name]
        ref.append(float(budget) if budget else float(points[:, j].max()) * 1.1 if len(points) else 1.0)
    return np.array(ref)


def shared_reference(campaign: Campaign, trial_sets: list[list[FrozenTrial]]) -> np.ndarray:
    """One reference point for the feasible completed trials of several studies (or of one)."""
    points = [np.array(loss_vector(campaign, t.values)) for trials in trial_sets for t in trials
              if is_feasible_complete(t)]
    return reference_point(campaign, np.array(points) if points else np.zeros((0, len(campaign.search.objectives))))


def loss_vector(campaign: Campaign, values: list[float]) -> list[float]:
    return [-v if o.resolved_direction == "maximize" else v for o, v in zip(campaign.search.objectives, values)]


def hypervolume_curve(campaign: Campaign, trials: list[FrozenTrial], ref: np.ndarray,
                      start: datetime.datetime | None = None) -> list[dict]:
    """Hypervolume of the feasible completed trials after each finished trial, by wall time since
    ``start`` (default: the first trial's start)."""
    start = start or min(t.datetime_start for t in trials if t.datetime_start is not None)
    done = sorted((t for t in trials if t.state.is_finished() and t.datetime_complete is not None),
                  key=lambda t: t.datetime_complete)
    curve, points = [], []
    for t in done:
        if is_feasible_complete(t):
            loss = np.array(loss_vector(campaign, t.values))
            if np.all(loss < ref):
                points.append(loss)
        hv = float(compute_hypervolume(np.array(points), ref)) if points else 0.0
        curve.append({"seconds": (t.datetime_complete - start).total_seconds(), "trial": t.number,
                      "state": t.state.name.lower(), "hypervolume": hv})
    return curve


