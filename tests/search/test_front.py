"""Counting a study's trials and finding its front (explore/search/front.py), on hand-made trials."""

from __future__ import annotations

import itertools
import random

import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from explore.search.front import Counts, count_trials, dominates, is_feasible_complete, pareto_front, retried_numbers

DIRECTIONS = ["maximize", "minimize"]


def _trial(values, state=TrialState.COMPLETE, infeasible=False):
    return create_trial(state=state, values=values if state == TrialState.COMPLETE else None,
                        user_attrs={"infeasible": True} if infeasible else {})


def _numbered(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    for number, t in enumerate(trials):
        t.number = number
    return trials


def test_dominates_needs_as_good_everywhere_and_better_somewhere() -> None:
    assert dominates([0.9, 100.0], [0.8, 100.0], DIRECTIONS)  # more accurate, as cheap
    assert dominates([0.9, 90.0], [0.9, 100.0], DIRECTIONS)  # as accurate, cheaper
    assert not dominates([0.9, 100.0], [0.9, 100.0], DIRECTIONS)  # a tie dominates neither way
    assert not dominates([0.9, 200.0], [0.8, 100.0], DIRECTIONS) and not dominates([0.8, 100.0], [0.9, 200.0],
                                                                                    DIRECTIONS)
    # The directions decide what better means: minimizing both, the smaller accuracy wins.
    assert dominates([0.8, 100.0], [0.9, 100.0], ["minimize", "minimize"])
    assert not dominates([0.9, 100.0], [0.8, 100.0], ["minimize", "minimize"])


def test_front_keeps_ties_and_leaves_out_infeasible_stopped_and_failed_trials() -> None:
    trials = _numbered([
        _trial([0.9, 2000.0]),  # 0: on the front
        _trial([0.9, 2000.0]),  # 1: the same point: a tie, so on the front too
        _trial([0.99, 10.0], infeasible=True),  # 2: would dominate everything, but breaks a budget
        _trial([0.8, 1500.0]),  # 3: less accurate but cheaper: on the front
        _trial([0.8, 2500.0]),  # 4: dominated by 0
        _trial([0.7, 1500.0]),  # 5: as cheap as 3, less accurate: dominated
        _trial(None, TrialState.PRUNED),  # 6
        _trial(None, TrialState.FAIL),  # 7
        _trial(None, TrialState.RUNNING),  # 8
    ])
    shuffled = trials[:]
    random.Random(0).shuffle(shuffled)
    front = pareto_front(shuffled, DIRECTIONS)
    assert [t.number for t in front] == [0, 1, 3]  # by trial number, whatever the input order
    assert [is_feasible_complete(t) for t in trials] == [True, True, False, True, True, True, False, False, False]
    assert pareto_front([trials[2], trials[6]], DIRECTIONS) == []  # nothing feasible: no front


@pytest.mark.parametrize("seed", range(40))
def test_front_is_exactly_the_non_dominated_feasible_trials(seed: int) -> None:
    rng = random.Random(seed)
    trials = []
    for number in range(rng.randrange(1, 80)):  # coarse values: ties and duplicates happen
        t = _trial([round(rng.random(), 1), rng.randrange(1000, 5000, 500)], infeasible=rng.random() < 0.2)
        t.number = number
        trials.append(t)
    front = pareto_front(trials, DIRECTIONS)
    feasible = [t for t in trials if not t.user_attrs.get("infeasible")]
    assert bool(front) == bool(feasible) and all(not t.user_attrs.get("infeasible") for t in front)
    for point, other in itertools.product(front, feasible):
        assert not dominates(other.values, point.values, DIRECTIONS)
    for t in feasible:
        if t not in front:
            assert any(dominates(f.values, t.values, DIRECTIONS) for f in front)


def test_counts_separate_infeasible_stopped_failed_and_retried() -> None:
    trials = [_trial([0.9, 100.0]), _trial([0.0, 900.0], infeasible=True), _trial(None, TrialState.PRUNED),
              _trial(None, TrialState.FAIL), _trial(None, TrialState.FAIL), _trial(None, TrialState.RUNNING),
              _trial(None, TrialState.WAITING)]
    for number, t in enumerate(trials):
        t.number = number
    trials[6].system_attrs["retry_history"] = [4]  # trial 4's worker died; trial 6 runs it again
    counts = count_trials(trials)
    assert (counts.complete, counts.infeasible, counts.pruned, counts.failed, counts.retried) == (1, 1, 1, 1, 1)
    assert (counts.running, counts.waiting, counts.finished, counts.occupied) == (1, 1, 4, 6)


def test_a_retry_chain_counts_once_however_often_its_worker_died() -> None:
    # Trial 0 died, its retry 1 died, and the retry of that, 2, completed: one finished trial, two retried.
    failed0, failed1 = _trial(None, TrialState.FAIL), _trial(None, TrialState.FAIL)
    done = _trial([0.5, 300.0])
    failed1.system_attrs["retry_history"] = [0]
    done.system_attrs["retry_history"] = [0, 1]
    trials = _numbered([failed0, failed1, done, _trial(None, TrialState.FAIL)])  # 3 failed, nobody retries it
    assert retried_numbers(trials) == {0, 1}
    counts = count_trials(trials)
    assert (counts.complete, counts.retried, counts.failed, counts.finished) == (1, 2, 1, 2)


def test_counts_as_status_reports_them() -> None:
    counts = Counts(complete=3, infeasible=2, pruned=1, failed=1, retried=4, running=2, waiting=1)
    assert counts.to_dict() == {"complete": 3, "infeasible": 2, "pruned": 1, "failed": 1, "running": 2,
                                "waiting": 1, "retried": 4, "finished": 7}
    assert counts.occupied == 10 and count_trials([]) == Counts()
