"""The Optuna sampler a campaign's ``search.sampler`` names.

Budgets reach the samplers as Optuna constraints: the worker records each finished trial's relative
budget excess with :meth:`optuna.trial.Trial.set_constraint` (:func:`record_constraints`), which
Optuna 5's TPE, NSGA-II and GP samplers read from the trial itself.

A worker's sampler is seeded afresh for every trial, from the worker's seed and the trial's number
(:class:`TrialSeededSampler`).  One seeded stream per worker would replay from its start whenever
a worker starts again, so a resumed campaign would draw the designs it already has.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

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


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` for a worker seeded ``seed``: distinct trial numbers give
    unrelated seeds (a hash, so seed + number of one worker never equals that of another)."""
    entropy = [seed & 0xFFFF_FFFF_FFFF_FFFF, number]  # SeedSequence takes non-negative integers only
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """The campaign's sampler, made anew for each trial with :func:`trial_seed`.

    What a trial draws then depends on the study (the finished trials the sampler learns from) and
    on the trial's number, never on how many trials this process drew before: a worker started
    again continues the search instead of replaying it."""

    def __init__(self, config: SamplerConfig, seed: int) -> None:
        self._config, self._seed = config, seed
        self._number: int | None = None
        self._inner: optuna.samplers.BaseSampler | None = None

    def for_trial(self, number: int) -> optuna.samplers.BaseSampler:
        """The sampler of trial ``number`` (one worker runs one trial at a time, so one is kept)."""
        if self._inner is None or number != self._number:
            self._number, self._inner = number, make_sampler(self._config, trial_seed(self._seed, number))
        return self._inner

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.for_trial(trial.number).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.for_trial(trial.number).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.for_trial(trial.number).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.for_trial(trial.number).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.for_trial(trial.number).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial's sampler is seeded from its number."""
