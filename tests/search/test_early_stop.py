"""The early-stopping rule as a pure function, and the shipped campaigns as searches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from explore.search.early_stop import EarlyStop, EarlyStopper, StopRule

DIRECTIONS = ["maximize", "minimize"]
ROOT = Path(__file__).resolve().parents[2]


def test_optimistic_accuracy_extends_the_recent_pace_to_the_last_epoch() -> None:
    rule = StopRule(epochs=10, min_epochs=2, slack=0.01)
    assert rule.optimistic_accuracy([0.5]) == 1.0  # one epoch: no pace yet, nothing can be ruled out
    assert rule.optimistic_accuracy([0.5, 0.6]) == pytest.approx(min(1.0, 0.6 + 8 * 0.1 + 0.01))
    assert rule.optimistic_accuracy([0.5, 0.6, 0.62, 0.63]) == pytest.approx(0.63 + 6 * 0.02 + 0.01)
    assert rule.optimistic_accuracy([0.7, 0.8, 0.79, 0.78]) == pytest.approx(0.78 + 0.01)  # falling: no gain


def _stopper(front: list[tuple[int, list[float]]], cost: float = 5000.0) -> EarlyStopper:
    return EarlyStopper(StopRule(epochs=6, min_epochs=2, slack=0.0), DIRECTIONS, 0, [0.0, cost], lambda: front)


def test_a_dominated_trial_stops_after_min_epochs_and_not_before() -> None:
    stopper = _stopper([(7, [0.95, 4000.0])])
    stopper(0.50)  # epoch 1 < min_epochs
    with pytest.raises(EarlyStop) as stop:
        stopper(0.52)  # at best 0.52 + 4 * 0.02 = 0.60 < 0.95 at a lower cost
    assert stop.value.epoch == 2 and stop.value.dominated_by == 7
    assert stop.value.optimistic == pytest.approx(0.60)


def test_a_trial_that_could_still_reach_the_front_keeps_training() -> None:
    fast_learner = _stopper([(7, [0.95, 4000.0])])
    for accuracy in (0.5, 0.7, 0.8, 0.85, 0.91):  # e.g. 0.7 + 4 * 0.2 >= 0.95: may still catch up
        fast_learner(accuracy)
    cheaper = _stopper([(7, [0.95, 4000.0])], cost=3000.0)  # cheaper than the front point: never dominated
    for accuracy in (0.1, 0.1, 0.1, 0.1, 0.1):
        cheaper(accuracy)
    last_epoch = _stopper([(7, [0.95, 4000.0])])
    last_epoch.accuracies = [0.1] * 5
    last_epoch(0.1)  # the last epoch has nothing left to save


@pytest.mark.parametrize("name", ["quickstart", "mnist1d_nrf52840", "digits_three_boards"])
def test_shipped_campaigns_are_valid_searches(name: str) -> None:
    result = subprocess.run([sys.executable, "-m", "explore", "check", str(ROOT / "search_spaces" / f"{name}.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "discrete combinations" in " ".join(result.stdout.split())


def test_optuna_refuses_to_prune_multi_objective_trials() -> None:
    """Why explore has its own rule: Optuna's report/prune path rejects multi-objective studies."""
    study = optuna.create_study(directions=DIRECTIONS)
    trial = study.ask()
    with pytest.raises(NotImplementedError):
        trial.report(0.5, step=1)
