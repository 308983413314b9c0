"""The sampler a campaign names (explore/search/samplers.py), and how the budgets reach it."""

from __future__ import annotations

import warnings

import optuna
import pytest

from explore.campaign.space import SamplerConfig
from explore.search.samplers import make_sampler, record_constraints


@pytest.mark.parametrize(("name", "kind"), [
    ("tpe", optuna.samplers.TPESampler), ("dnas+tpe", optuna.samplers.TPESampler),
    ("nsga2", optuna.samplers.NSGAIISampler), ("dnas+nsga2", optuna.samplers.NSGAIISampler),
    ("gp", optuna.samplers.GPSampler), ("random", optuna.samplers.RandomSampler),
    ("dnas", optuna.samplers.RandomSampler),  # once the gradient search's proposals are used up
])
def test_each_sampler_name_makes_its_optuna_sampler_without_deprecated_arguments(name: str, kind: type) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # Optuna 5 deprecates constraints_func
        sampler = make_sampler(SamplerConfig(name=name), seed=1)
    assert type(sampler) is kind
    assert getattr(sampler, "_constraints_func", None) is None


def test_the_settings_reach_the_sampler() -> None:
    tpe = make_sampler(SamplerConfig(name="tpe", n_startup_trials=3), seed=1)
    nsga2 = make_sampler(SamplerConfig(name="nsga2", population_size=6), seed=1)
    assert tpe._n_startup_trials == 3 and nsga2._population_size == 6


def test_recorded_constraints_are_what_the_samplers_read() -> None:
    study = optuna.create_study(sampler=make_sampler(SamplerConfig(name="tpe"), seed=1))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    record_constraints(trial, [0.5, -0.2])
    study.tell(trial, 1.0)
    assert study.trials[0].constraints == {"0": 0.5, "1": -0.2}
    # The keys are those Optuna gave the lists of the former constraints_func, so a study begun
    # before reads the same way.
    old = optuna.trial.create_trial(value=1.0, system_attrs={"constraints": [0.5, -0.2]})
    assert old.constraints == study.trials[0].constraints
