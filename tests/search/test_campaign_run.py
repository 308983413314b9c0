"""The search side of ``explore run``, ``worker`` and ``status`` without the terminal: the trial
target, the Pareto front as rows, the study's status document, the looks at a running study, the
worker processes ``run`` starts, a whole run through a recording display, and when the gradient
search's proposals are not made (issue 15, item 4)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from explore.campaign import load_campaign
from explore.errors import BadInput
from explore.search.campaign_run import Snapshot, search_campaign, snapshot, target_trials, worker_command
from explore.search.proposals import Proposals, propose_designs
from explore.search.status import Objectives, StudyStatus, front_json, study_status
from explore.search import open_storage, open_study
from runs import tiny_campaign

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

LABELS = ["accuracy", "train_sram@nrf52840"]
OBJECTIVES = Objectives(LABELS, ["maximize", "minimize"])
FEASIBLE = {"constraints": [-1.0]}
DISTRIBUTIONS = {"channels": IntDistribution(4, 12)}


def _trained(number: int, accuracy: float, sram: float) -> optuna.trial.FrozenTrial:
    trial = create_trial(values=[accuracy, sram], params={"channels": number + 4}, distributions=DISTRIBUTIONS,
                         user_attrs={**FEASIBLE, "genome": {"channels": number + 4},
                                     "artefacts": {"dir": f"results/tiny/trials/{number}"}})
    trial.number = number
    return trial


def _trials() -> list[optuna.trial.FrozenTrial]:
    """0 and 1 on the front; 2 dominated by 0; 3 infeasible though it looks best; 4 stopped early; 5 running."""
    infeasible = create_trial(values=[0.99, 1.0], user_attrs={"infeasible": True, "constraints": [5.0]})
    pruned = create_trial(state=TrialState.PRUNED)
    running = create_trial(state=TrialState.RUNNING)
    trials = [_trained(0, 0.9, 100.0), _trained(1, 0.8, 50.0), _trained(2, 0.7, 200.0), infeasible, pruned, running]
    for number, trial in enumerate(trials):
        trial.number = number
    return trials


def test_the_target_is_the_option_else_the_campaign(tmp_path: Path) -> None:
    campaign = load_campaign(tiny_campaign(tmp_path, trials=7))
    assert target_trials(campaign, None) == 7
    assert target_trials(campaign, 3) == 3
    with pytest.raises(BadInput, match=r"--trials: must be at least 1 \(got 0\)"):
        target_trials(campaign, 0)


def test_front_rows_are_the_feasible_undominated_trials_by_number() -> None:
    rows = front_json(_trials(), OBJECTIVES)
    assert rows == [
        {"trial": 0, "values": {"accuracy": 0.9, "train_sram@nrf52840": 100.0}, "genome": {"channels": 4},
         "artefacts": "results/tiny/trials/0"},
        {"trial": 1, "values": {"accuracy": 0.8, "train_sram@nrf52840": 50.0}, "genome": {"channels": 5},
         "artefacts": "results/tiny/trials/1"},
    ]
    assert front_json(_trials()[3:], OBJECTIVES) == []


def test_status_document_counts_by_state_and_hides_the_password(tmp_path: Path) -> None:
    campaign = load_campaign(tiny_campaign(tmp_path, trials=9))
    status = StudyStatus.of(campaign, "postgresql://explore:secret@db/explore", _trials())
    document = status.to_dict()
    assert document["campaign"] == "tiny" and document["requested"] == 9
    assert document["objectives"] == LABELS
    assert "secret" not in document["storage"] and "db/explore" in document["storage"]
    assert document["trials"] == {"complete": 3, "infeasible": 1, "pruned": 1, "failed": 0, "running": 1,
                                  "waiting": 0, "retried": 0, "finished": 5}
    assert [row["trial"] for row in document["front"]] == [0, 1]


def test_status_of_a_campaign_without_a_study_is_bad_input(tmp_path: Path) -> None:
    path = tiny_campaign(tmp_path)
    with pytest.raises(BadInput, match="no study yet for tiny"):
        study_status(path, None, tmp_path / "results")


def test_each_look_reports_only_the_trials_finished_since_the_last() -> None:
    trials, seen = _trials(), set()
    first = snapshot(trials, seen, OBJECTIVES)
    assert [t.number for t in first.newly_finished] == [0, 1, 2, 3, 4]  # not the running one
    assert first.counts.finished == 5 and first.front_size == 2
    trials[5] = _trained(5, 0.95, 60.0)   # the running trial finishes and joins the front
    second = snapshot(trials, seen, OBJECTIVES)
    assert [t.number for t in second.newly_finished] == [5]
    assert second.counts.finished == 6 and second.front_size == 2   # it dominates trial 0
    assert snapshot(trials, seen, OBJECTIVES).newly_finished == []


def test_local_workers_are_explore_worker_processes_of_the_same_study(tmp_path: Path) -> None:
    from explore.cli.worker import worker

    command = worker_command(tmp_path / "tiny.yaml", "postgresql://db/x", 12, tmp_path / "results", 3, 5.0)
    assert command[:4] == [sys.executable, "-m", "explore", "worker"]
    params = worker.make_context("worker", command[4:]).params
    assert params == {"campaign": tmp_path / "tiny.yaml", "storage": "postgresql://db/x", "trials": 12,
                      "results": tmp_path / "results", "seed_offset": 3, "heartbeat": 5.0, "quiet": False}


class _Recorder:
    """A display that writes down what the search showed it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.looks: list[Snapshot] = []

    @contextmanager
    def proposing(self):
        self.calls.append("proposing")
        yield lambda stage, done, total: None

    def proposed(self, proposals) -> None:
        self.calls.append("proposed")

    def started(self, plan) -> None:
        self.calls.append(f"started {plan.campaign.name} {plan.target} {plan.workers}")

    @contextmanager
    def watching(self, plan):
        self.calls.append("watching")
        yield self.looks.append
        self.calls.append("watched")

    def interrupted(self) -> None:
        self.calls.append("interrupted")


def test_bad_worker_count_is_bad_input_before_any_worker_starts(tmp_path: Path) -> None:
    display = _Recorder()
    with pytest.raises(BadInput, match=r"--workers: must be at least 1 \(got 0\)"):
        search_campaign(tiny_campaign(tmp_path), trials=None, workers=0, storage=None, results=tmp_path / "results",
                        heartbeat=30.0, display=display)
    assert display.calls == [] and not (tmp_path / "results").exists()


def test_a_run_of_a_study_at_its_target_shows_its_trials_and_stops(tmp_path: Path) -> None:
    path, results = tiny_campaign(tmp_path, trials=2), tmp_path / "results"
    campaign = load_campaign(path)
    journal = str(results / "tiny" / "study.journal")
    (results / "tiny").mkdir(parents=True)
    study = open_study(campaign, open_storage(journal, "test"), optuna.samplers.RandomSampler(), "test")
    for trial in (_trained(0, 0.9, 100.0), _trained(1, 0.8, 50.0)):
        study.add_trial(trial)
    display = _Recorder()
    outcome = search_campaign(path, trials=None, workers=1, storage=None, results=results, heartbeat=30.0,
                              display=display)
    assert display.calls == ["started tiny 2 1", "watching", "watched"]
    assert [t.number for look in display.looks for t in look.newly_finished] == [0, 1]
    assert outcome.reached_target and outcome.worker_exits == {}
    assert outcome.plan.logs == results / "tiny" / "logs" and (outcome.plan.logs / "worker-0.log").is_file()
    assert outcome.status.counts.complete == 2 and [row["trial"] for row in outcome.status.front] == [0, 1]
    assert len(study.trials) == 2   # the worker found the study full and ran nothing


def _dnas_study(tmp_path: Path, trials: int) -> tuple:
    path = tiny_campaign(tmp_path, trials=trials)
    raw = yaml.safe_load(path.read_text())
    raw["search"]["sampler"] = {"name": "dnas"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    campaign = load_campaign(path)
    journal = tmp_path / "results" / "tiny" / "study.journal"
    journal.parent.mkdir(parents=True)
    study = open_study(campaign, open_storage(str(journal), "test"), optuna.samplers.RandomSampler(), "test")
    return campaign, study, str(journal)


def _no_training():
    raise AssertionError("the supernet must not be trained")


def test_proposals_already_in_the_study_are_not_made_again(tmp_path: Path) -> None:
    campaign, study, journal = _dnas_study(tmp_path, trials=4)
    study.set_user_attr("dnas", {"proposals": 3})
    proposals = propose_designs(campaign, study, journal, 4, tmp_path / "results", _no_training)
    assert proposals == Proposals(3) and proposals.result is None
    assert study.get_trials() == []


def test_no_proposals_when_the_study_has_no_slot_left(tmp_path: Path) -> None:
    campaign, study, journal = _dnas_study(tmp_path, trials=2)
    for trial in (_trained(0, 0.9, 100.0), _trained(1, 0.8, 50.0)):
        study.add_trial(trial)
    assert propose_designs(campaign, study, journal, 2, tmp_path / "results", _no_training) is None
    assert "dnas" not in study.user_attrs and len(study.get_trials()) == 2
