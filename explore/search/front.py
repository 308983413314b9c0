"""What a study holds: its trials counted by outcome, and its Pareto front (issue 5).

A failed trial that some other trial retries (see :mod:`explore.search.liveness`) does not count as
finished; its retry does.  Infeasible designs complete (their values are the cost model's) but never
join the front.  A trial that drew the genome of a finished trial is answered from it (it is marked
with :data:`REPEAT_ATTR`); it counts as finished, but its design is on the front once, as the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from optuna.trial import FrozenTrial, TrialState

#: user attribute of a trial answered from an earlier finished trial with the same genome: that trial's number
REPEAT_ATTR = "repeat_of"
#: the states of a trial that holds its result
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a retry replaces."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    infeasible: int = 0
    pruned: int = 0
    failed: int = 0
    retried: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.infeasible + self.pruned + self.failed

    @property
    def occupied(self) -> int:
        """Finished, running or queued: the slots of the requested count already taken."""
        return self.finished + self.running + self.waiting

    def to_dict(self) -> dict[str, int]:
        return {"complete": self.complete, "infeasible": self.infeasible, "pruned": self.pruned,
                "failed": self.failed, "running": self.running, "waiting": self.waiting,
                "retried": self.retried, "finished": self.finished}


def count_trials(trials: Sequence[FrozenTrial]) -> Counts:
    retried = retried_numbers(trials)
    tally = dict.fromkeys(Counts.__dataclass_fields__, 0)
    for t in trials:
        if t.state == TrialState.COMPLETE:
            tally["infeasible" if t.user_attrs.get("infeasible") else "complete"] += 1
        elif t.state == TrialState.PRUNED:
            tally["pruned"] += 1
        elif t.state == TrialState.FAIL:
            tally["retried" if t.number in retried else "failed"] += 1
        elif t.state == TrialState.RUNNING:
            tally["running"] += 1
        elif t.state == TrialState.WAITING:
            tally["waiting"] += 1
    return Counts(**tally)


def is_feasible_complete(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and not trial.user_attrs.get("infeasible")


def is_repeat(trial: FrozenTrial) -> bool:
    return REPEAT_ATTR in trial.user_attrs


def finished_with_genome(trials: Sequence[FrozenTrial], genome: dict, number: int) -> FrozenTrial | None:
    """The first finished trial other than ``number`` that ran ``genome`` itself (not a repeat), or None.
    Genomes are compared as stored (JSON), so a tuple and a list of the same numbers match."""
    stored = json.loads(json.dumps(genome))
    same = [t for t in trials if t.state in FINISHED and t.number != number and not is_repeat(t)
            and t.user_attrs.get("genome") == stored]
    return min(same, key=lambda t: t.number, default=None)


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def pareto_front(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[FrozenTrial]:
    """Feasible completed trials that no other feasible completed trial dominates, by trial number.
    A repeat stands for its original, which is there already."""
    feasible = [t for t in trials if is_feasible_complete(t) and not is_repeat(t)]
    return sorted((t for t in feasible if not any(dominates(o.values, t.values, directions) for o in feasible)),
                  key=lambda t: t.number)
