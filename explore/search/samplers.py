"""The Optuna sampler a campaign's ``search.sampler`` names.

Budgets reach the samplers as Optuna constraints: the worker records each finished trial's relative
budget excess with :meth:`optuna.trial.Trial.set_constraint` (:func:`record_constraints`), which
Optuna 5's TPE, NSGA-II and GP samplers read from the trial itself.
"""

from __future__ import annotations

from typing import Sequence

import optuna

from explore.campaign.space import SamplerConfig


def record_constraints(trial: optuna.Trial, constraints: Sequence[float]) -> None:
    """Tell Optuna a finished trial's constraint values (> 0 violates a budget).  They are keyed by
    position, as Optuna stored the lists of the samplers' former ``constraints_func``, so a study
    begun before keeps one set of keys."""
    for index, value in enumerate(constraints):
        trial.set_constraint(str(index), value)


def make_sampler(config: SamplerConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    if config.name in ("tpe", "dnas+tpe"):
        return optuna.samplers.TPESampler(n_startup_trials=config.n_startup_trials, seed=seed)
    if config.name in ("nsga2", "dnas+nsga2"):
        return optuna.samplers.NSGAIISampler(population_size=config.population_size, seed=seed)
    if config.name == "gp":
        return optuna.samplers.GPSampler(n_startup_trials=config.n_startup_trials, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)  # random, and dnas once its proposals are used up
