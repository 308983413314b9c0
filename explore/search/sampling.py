"""Search loop pieces that are plain functions of a campaign and an Optuna trial (issue 5).

:func:`sample_genome` turns the campaign's ``search`` section into a genome through the trial's
``suggest_*`` calls, so that every sampler (TPE, NSGA-II, GP, random) sees the same named
parameters.  λ is sampled as λ_max in ``[low, high]`` and a fraction ``u`` in [0, 1] with
λ_min = low + u (λ_max − low): both parameters keep fixed distributions and λ_min <= λ_max holds
by construction.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from explore.campaign import PIPELINE_KEYS, Campaign
from explore.model.families import get_family
from explore.campaign.space import SPACE_PIPELINE_KEYS, Choices
from explore.cost.result import BoardCost


def _space_keys(campaign: Campaign) -> dict:
    return {**get_family(campaign.model.family).keys, **{k: PIPELINE_KEYS[k] for k in SPACE_PIPELINE_KEYS}}


def sample_genome(trial: Any, campaign: Campaign) -> dict:
    """A genome for ``trial``: the campaign's baseline with every searched key suggested by the trial."""
    search = campaign.search
    if search is None:
        raise ValueError("the campaign has no search section")
    keys = _space_keys(campaign)
    genome = dict(campaign.baseline)
    for name, dist in search.space.items():
        if isinstance(dist, Choices):
            genome[name] = trial.suggest_categorical(name, dist.choices)
        elif keys[name].kind == "int":
            genome[name] = trial.suggest_int(name, int(dist.low), int(dist.high), step=int(dist.step or 1),
                                             log=dist.log)
        else:
            genome[name] = trial.suggest_float(name, float(dist.low), float(dist.high), step=dist.step, log=dist.log)
    if search.trainable is not None:
        if search.trainable.last is not None:
            last = search.trainable.last
            genome["trainable_last"] = trial.suggest_int("trainable_last", int(last.low), int(last.high))
        else:
            labels = [",".join(map(str, s)) for s in search.trainable.sets]
            chosen = trial.suggest_categorical("trainable_set", labels)
            genome["trainable"] = [int(i) for i in chosen.split(",")]
    if search.lambdas is not None:
        low, high = search.lambdas.low, search.lambdas.high
        lambda_max = trial.suggest_float("lambda_max", low, high)
        fraction = trial.suggest_float("lambda_min_fraction", 0.0, 1.0)
        genome["lambda_max"] = lambda_max
        genome["lambda_min"] = min(low + fraction * (lambda_max - low), lambda_max)
    return genome


# --- one trial ---------------------------------------------------------------------------------------------

def objective_values(campaign: Campaign, accuracy: float, costs: Mapping[str, BoardCost]) -> list[float]:
    """The study's values, in the order of ``search.objectives``; a cost objective is the
    :class:`~explore.cost.result.BoardCost` property of its name on its board."""
    values = []
    for objective in campaign.search.objectives:
        if objective.name == "accuracy":
            values.append(float(accuracy))
            continue
        values.append(float(getattr(costs[objective.board or campaign.boards[0]], objective.name)))
    return values


def constraint_values(campaign: Campaign, costs: Mapping[str, BoardCost]) -> list[float]:
    """Relative excess over each budget of each board, (value - limit) / limit: > 0 violates.  The
    list has the same length for every design of a campaign, as Optuna's samplers need."""
    return [(b.value - b.limit) / b.limit for name in campaign.boards for b in costs[name].budgets.values()]


def search_accuracy(metrics: dict) -> tuple[float, str]:
    """The accuracy a search optimizes: on the validation split when there is one, so that choosing
    designs never looks at the test set; else on the test set."""
    if "validation_accuracy" in metrics:
        return metrics["validation_accuracy"]["on_device"], "validation"
    return metrics["accuracy"]["on_device"], "test"
