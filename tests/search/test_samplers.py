"""The sampler a campaign names (explore/search/samplers.py), and the budgets it is told about."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import create_trial

from explore.campaign.space import SamplerConfig
from explore.search.samplers import make_sampler, trial_constraints


@pytest.mark.filterwarnings("ignore:`constraints_func` has been deprecated:FutureWarning")
@pytest.mark.parametrize(("name", "kind"), [
    ("tpe", optuna.samplers.TPESampler), ("dnas+tpe", optuna.samplers.TPESampler),
    ("nsga2", optuna.samplers.NSGAIISampler), ("dnas+nsga2", optuna.samplers.NSGAIISampler),
    ("gp", optuna.samplers.GPSampler), ("random", optuna.samplers.RandomSampler),
    ("dnas", optuna.samplers.RandomSampler),  # once the gradient search's proposals are used up
])
def test_each_sampler_name_makes_its_optuna_sampler(name: str, kind: type) -> None:
    sampler = make_sampler(SamplerConfig(name=name), seed=1)
    assert type(sampler) is kind
    if kind is not optuna.samplers.RandomSampler:  # the random sampler has no use for budgets
        assert sampler._constraints_func is trial_constraints


@pytest.mark.filterwarnings("ignore:`constraints_func` has been deprecated:FutureWarning")
def test_the_settings_reach_the_sampler() -> None:
    tpe = make_sampler(SamplerConfig(name="tpe", n_startup_trials=3), seed=1)
    nsga2 = make_sampler(SamplerConfig(name="nsga2", population_size=6), seed=1)
    assert tpe._n_startup_trials == 3 and nsga2._population_size == 6


def test_constraints_are_the_budget_excess_a_trial_recorded() -> None:
    assert list(trial_constraints(create_trial(value=1.0, user_attrs={"constraints": [0.5, -0.2]}))) == [0.5, -0.2]
    assert list(trial_constraints(create_trial(value=1.0))) == []  # e.g. a trial added by hand
