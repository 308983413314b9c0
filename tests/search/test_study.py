"""The campaign's study (explore/search/study.py) on real storages: where it lives, its objective
labels, and refusing a study whose values would mean something else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.study import StudyDirection
from optuna.trial import create_trial
from processes import ROOT
from runs import tiny_campaign

from explore.campaign import Campaign, load_campaign
from explore.errors import BadInput
from explore.search.storage import open_storage
from explore.search.study import (existing_study, load_search_campaign, objective_labels, open_study,
                                  storage_location)

RANDOM = optuna.samplers.RandomSampler(seed=0)


def _campaign(tmp_path: Path, edit=None, **options) -> tuple[Campaign, Path]:
    """The tiny digits campaign, with ``edit(raw)`` applied to its YAML mapping first."""
    path = tiny_campaign(tmp_path, **options)
    if edit is not None:
        raw = yaml.safe_load(path.read_text())
        edit(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_campaign(path), path


def _objectives(*objectives: dict):
    def edit(raw: dict) -> None:
        raw["boards"] = ["nrf52840", "rp2040"]
        raw["search"]["objectives"] = list(objectives)
    return edit


@pytest.fixture(params=["journal", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> optuna.storages.BaseStorage:
    url = str(tmp_path / "study.journal") if request.param == "journal" else f"sqlite:///{tmp_path}/study.db"
    return open_storage(url, "test")


def test_objective_labels_name_the_board_of_each_cost(tmp_path: Path) -> None:
    tiny, _ = _campaign(tmp_path)
    assert objective_labels(tiny) == ["accuracy", "train_sram@nrf52840"]  # a cost's board defaults to the first
    three, _ = _campaign(tmp_path, _objectives({"name": "accuracy"}, {"name": "train_sram"},
                                               {"name": "flash", "board": "rp2040"}))
    assert objective_labels(three) == ["accuracy", "train_sram@nrf52840", "flash@rp2040"]


def test_the_study_is_created_once_named_after_the_campaign_with_its_objectives(tmp_path: Path,
                                                                                storage) -> None:
    campaign, _ = _campaign(tmp_path)
    study = open_study(campaign, storage, RANDOM, "test")
    assert study.study_name == "tiny" and study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert study.user_attrs["objectives"] == ["accuracy", "train_sram@nrf52840"]
    study.add_trial(create_trial(values=[0.5, 100.0]))
    again = open_study(campaign, storage, RANDOM, "test")  # resumes, does not start over
    assert [t.values for t in again.trials] == [[0.5, 100.0]]
    assert optuna.study.get_all_study_names(storage) == ["tiny"]


def test_a_study_made_by_hand_gets_the_campaigns_labels(tmp_path: Path, storage) -> None:
    campaign, _ = _campaign(tmp_path)
    optuna.create_study(study_name="tiny", storage=storage, directions=["maximize", "minimize"])
    assert open_study(campaign, storage, RANDOM, "test").user_attrs["objectives"] == objective_labels(campaign)


@pytest.mark.parametrize("create", [True, False])
def test_a_study_made_with_other_objectives_is_refused(tmp_path: Path, storage, create: bool) -> None:
    campaign, _ = _campaign(tmp_path)
    open_study(campaign, storage, RANDOM, "test")
    # Same name and the same two directions, but the cost is now read on another board.
    changed, _ = _campaign(tmp_path, _objectives({"name": "accuracy"}, {"name": "train_sram", "board": "rp2040"}))
    with pytest.raises(BadInput) as error:
        open_study(changed, storage, RANDOM, "--storage", create=create)
    assert str(error.value) == ("--storage: study 'tiny' there was made with objectives ['accuracy', "
                                "'train_sram@nrf52840'], the campaign now has ['accuracy', 'train_sram@rp2040']; "
                                "rename the campaign or use another storage")
    assert open_study(campaign, storage, RANDOM, "test").user_attrs["objectives"] == objective_labels(campaign)


def test_a_missing_study_is_only_created_when_asked_to(tmp_path: Path, storage) -> None:
    campaign, _ = _campaign(tmp_path)
    with pytest.raises(BadInput, match=r"^where: no study named 'tiny' yet; start it with explore run$"):
        open_study(campaign, storage, RANDOM, "where", create=False)
    assert optuna.study.get_all_study_names(storage) == []


def test_the_storage_is_the_option_else_the_campaigns_else_a_journal_in_the_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    plain, _ = _campaign(tmp_path)
    assert storage_location(plain, None, results) == (str(results / "tiny" / "study.journal"), "journal")
    url = f"sqlite:///{tmp_path}/shared.db"
    named, path = _campaign(tmp_path, storage=url)
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip().startswith("storage:"))
    assert storage_location(named, None, results) == (url, f"{path}:{line}: search.storage")
    assert storage_location(named, "other.journal", results) == ("other.journal", "--storage")
    with pytest.raises(BadInput, match=r"^--storage: .*mongodb"):
        storage_location(named, "mongodb://host/db", results)


def test_existing_study_needs_a_run_first(tmp_path: Path) -> None:
    campaign, path = _campaign(tmp_path)
    results = tmp_path / "results"
    with pytest.raises(BadInput) as error:
        existing_study(campaign, path, None, results)
    journal = results / "tiny" / "study.journal"
    assert str(error.value) == (f"{journal}: no study yet for tiny (so no finished trials); "
                                f"start it with explore run {path}")
    assert not journal.exists()  # looking does not create it
    open_study(campaign, open_storage(str(journal), "journal"), RANDOM, "journal").add_trial(
        create_trial(values=[0.5, 100.0]))
    study, where = existing_study(campaign, path, None, results)
    assert where == str(journal) and [t.values for t in study.trials] == [[0.5, 100.0]]


def test_commands_on_a_study_need_a_search_section(tmp_path: Path) -> None:
    _, path = _campaign(tmp_path, lambda raw: raw.pop("search"))
    with pytest.raises(BadInput, match=r"search: the campaign has no search section") as error:
        load_search_campaign(path)
    assert str(error.value).startswith(str(path))
    assert load_search_campaign(tiny_campaign(tmp_path, name="other")).search.trials == 4


def test_the_search_package_is_light_and_study_keeps_its_names() -> None:
    code = ("import sys, explore.search\n"
            "from explore.search.study import existing_study, load_search_campaign, objective_labels, open_storage, "
            "open_study, storage_location\n"
            "assert explore.search.open_study is open_study and explore.search.count_trials\n"
            "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)[:5]")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
