"""The Optuna sampler a campaign's ``search.sampler`` names, told which trials break a budget."""

from __future__ import annotations

from typing import Sequence

import optuna
from optuna.trial import FrozenTrial

from explore.campaign.space import SamplerConfig


def trial_constraints(trial: FrozenTrial) -> Sequence[float]:
    """Optuna's constraint values of a trial: relative budget excess per board and budget (> 0 violates)."""
    return trial.user_attrs.get("constraints", ())


def make_sampler(config: SamplerConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    if config.name in ("tpe", "dnas+tpe"):
        return optuna.samplers.TPESampler(n_startup_trials=config.n_startup_trials, seed=seed,
                                          constraints_func=trial_constraints)
    if config.name in ("nsga2", "dnas+nsga2"):
        return optuna.samplers.NSGAIISampler(population_size=config.population_size, seed=seed,
                                             constraints_func=trial_constraints)
    if config.name == "gp":
        return optuna.samplers.GPSampler(n_startup_trials=config.n_startup_trials, seed=seed,
                                         constraints_func=trial_constraints)
    return optuna.samplers.RandomSampler(seed=seed)  # random, and dnas once its proposals are used up
