"""The search: a campaign's Optuna study, its storage, samplers, slots and liveness, the front,
early stopping and hypervolume.

Light on purpose (no JAX): the worker (:mod:`explore.search.worker`, which trains) and the
differentiable search (:mod:`explore.search.dnas`) are imported from their own modules.
"""

from explore.search.early_stop import EarlyStop, EarlyStopper, StopRule
from explore.search.front import Counts, count_trials, dominates, is_feasible_complete, pareto_front, retried_numbers
from explore.search.hypervolume import hypervolume_curve, shared_reference
from explore.search.liveness import Heartbeat, SlotLock, WorkerIdentity, recover_stale, requeue
from explore.search.samplers import make_sampler, record_constraints
from explore.search.sampling import constraint_values, objective_values, sample_genome, search_accuracy
from explore.search.storage import JournalFlock, open_storage
from explore.search.study import existing_study, load_search_campaign, objective_labels, open_study, storage_location

__all__ = [
    "Counts", "EarlyStop", "EarlyStopper", "Heartbeat", "JournalFlock", "SlotLock", "StopRule", "WorkerIdentity",
    "constraint_values", "count_trials", "dominates", "existing_study", "hypervolume_curve", "is_feasible_complete",
    "load_search_campaign", "make_sampler", "objective_labels", "objective_values", "open_storage", "open_study",
    "pareto_front", "recover_stale", "requeue", "retried_numbers", "sample_genome", "search_accuracy",
    "shared_reference", "storage_location", "record_constraints",
]
