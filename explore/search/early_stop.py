"""Early stopping for multi-objective searches (issue 5).

Optuna cannot prune multi-objective trials: ``trial.report`` refuses them and its pruners compare one
value.  Our costs, though, are known before training, so only accuracy is uncertain while a trial
trains, and a trial can be stopped once even an optimistic guess of its final accuracy cannot put
it on the Pareto front.

The rule, checked after every on-device epoch t >= ``min_epochs`` (of E):

* **optimistic accuracy** â = a_t + (E − t) · max(0, g) + slack, where a_t is the check (validation)
  accuracy after epoch t and g the largest one-epoch gain of the last two epochs.  Learning curves
  flatten, so assuming the recent pace holds for every remaining epoch overestimates the end;
  ``slack`` covers noise.
* **optimistic costs**: the cost model's values for the design with every trainable layer updating
  only λ_min of its channels, the fewest dynamic sparse updates allow.  Latency and energy grow with
  the update rate and memory does not depend on it, so no rate the training records can make the
  design cheaper.
* The trial **stops** when a feasible completed trial dominates (â, optimistic costs): it is at least
  as accurate and as cheap in every objective and strictly better in one.  Its final point would be
  dominated too, so it could not have reached the front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from explore.search.front import dominates


@dataclass(frozen=True)
class StopRule:
    epochs: int
    min_epochs: int
    slack: float = 0.01

    def optimistic_accuracy(self, accuracies: Sequence[float]) -> float:
        """â after ``len(accuracies)`` epochs (see the module docstring)."""
        t = len(accuracies)
        recent = [accuracies[i] - accuracies[i - 1] for i in range(max(1, t - 2), t)] or [1.0]
        return min(1.0, accuracies[-1] + (self.epochs - t) * max(0.0, *recent) + self.slack)


class EarlyStop(Exception):
    """Raised from the on-device epoch callback to end a trial that cannot reach the front."""

    def __init__(self, epoch: int, accuracy: float, optimistic: float, dominated_by: int) -> None:
        super().__init__(f"stopped after epoch {epoch}: accuracy {accuracy:.4f} (at best {optimistic:.4f}) "
                         f"cannot reach the front; trial {dominated_by} dominates it")
        self.epoch, self.accuracy, self.optimistic, self.dominated_by = epoch, accuracy, optimistic, dominated_by


@dataclass
class EarlyStopper:
    """The rule applied to one trial: call it with each epoch's check accuracy.

    ``front`` returns the current front as ``(trial number, values)`` pairs, read afresh at each
    check so that trials other workers finish count; ``accuracy_index`` is the position of accuracy
    among the objectives and ``optimistic_values`` the trial's values with accuracy left as is."""

    rule: StopRule
    directions: Sequence[str]
    accuracy_index: int
    optimistic_values: list[float]
    front: Callable[[], list[tuple[int, Sequence[float]]]]
    accuracies: list[float] | None = None

    def __call__(self, check_accuracy: float) -> None:
        self.accuracies = [*(self.accuracies or []), check_accuracy]
        epoch = len(self.accuracies)
        if epoch < self.rule.min_epochs or epoch >= self.rule.epochs:
            return
        best = self.rule.optimistic_accuracy(self.accuracies)
        point = list(self.optimistic_values)
        point[self.accuracy_index] = best
        for number, values in self.front():
            if dominates(values, point, self.directions):
                raise EarlyStop(epoch, check_accuracy, best, number)
