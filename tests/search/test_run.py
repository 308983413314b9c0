"""explore run / worker / status (issue 5) on real storages: the journal file with local processes,
and a real PostgreSQL server (tests/postgres.py).  The campaign is a tiny digits search so that a
trial trains in seconds; everything else (workers, storage, costs, pipeline) is the real thing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from checks import assert_one_line_naming
from runs import (TIMEOUT, assert_exact as _assert_exact, explore as _explore, journal_study as _journal_study,
                  tiny_campaign as _campaign)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_run_with_two_local_workers_finishes_exactly_n_trials_and_reports_status(tmp_path: Path) -> None:
    path = _campaign(tmp_path, trials=5, sram=32000)
    # Two queued designs make the outcome certain: the smallest (about 16.5 kB of training SRAM) fits
    # the budget, the largest (about 102 kB) does not; the sampler draws the other three.
    from optuna.storages.journal import JournalFileBackend

    (tmp_path / "results" / "tiny").mkdir(parents=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "results" / "tiny" / "study.journal")))
    queued = optuna.create_study(study_name="tiny", storage=storage, directions=["maximize", "minimize"])
    queued.enqueue_trial({"channels": 4, "hidden": 16})
    queued.enqueue_trial({"channels": 12, "hidden": 48})
    result = _explore("run", str(path), "--workers", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = _journal_study(tmp_path)
    _assert_exact(study, 5, tmp_path)
    infeasible = [t for t in study.trials if t.user_attrs.get("infeasible")]
    trained = [t for t in study.trials if t.state == TrialState.COMPLETE and not t.user_attrs.get("infeasible")]
    assert infeasible and trained, "the budget is meant to reject some sampled designs and admit others"
    for t in infeasible:
        assert max(t.user_attrs["constraints"]) > 0 and t.values[0] == 0.0
        assert t.user_attrs["violations"] and "sram_bytes" in t.user_attrs["violations"][0]
    for t in trained:
        metrics = json.loads(Path(t.user_attrs["artefacts"]["metrics"]).read_text())
        assert t.values[0] == metrics["validation_accuracy"]["on_device"]
        assert t.values[1] == metrics["cost"]["nrf52840"]["sram_bytes"]["total"] <= 32000
        assert t.user_attrs["metrics"]["cost"]["nrf52840"]["feasible"]
        assert Path(t.user_attrs["artefacts"]["model"]).is_file()
    status = _explore("status", str(path), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    out = json.loads(status.stdout)
    assert out["trials"]["infeasible"] == len(infeasible) and out["trials"]["complete"] == len(trained)
    assert out["trials"]["running"] == out["trials"]["failed"] == out["trials"]["pruned"] == 0
    values = [t.values for t in trained]
    for row in out["front"]:  # the front: trained designs no other trained design dominates
        point = [row["values"]["accuracy"], row["values"]["train_sram@nrf52840"]]
        assert point in values
        assert not any(v[0] >= point[0] and v[1] <= point[1] and v != point for v in values)
    assert len(out["front"]) >= 1
    again = _explore("run", str(path), "--workers", "2", cwd=tmp_path)  # already done: nothing more runs
    assert again.returncode == 0, again.stderr
    assert len(_journal_study(tmp_path).trials) == len(study.trials)


def _wait_for_running_trial(load_study, proc: subprocess.Popen, timeout: float = TIMEOUT) -> int:
    """Number of a trial the worker ``proc`` is running (training, past the cost model)."""
    deadline, pid = time.monotonic() + timeout, proc.pid
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            running = load_study().get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except (KeyError, FileNotFoundError):  # no worker has created the study yet
            running = []
        for t in running:
            if t.system_attrs.get("explore:worker", {}).get("pid") == pid and "artefacts" in t.user_attrs:
                return t.number
        time.sleep(0.2)
    raise AssertionError(f"worker {pid} never started training a trial")


def _worker(path: Path, tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "explore", "worker", str(path), *extra], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    return [p.communicate(timeout=TIMEOUT)[0] for p in procs]


def test_journal_sigkilled_worker_has_its_trial_rerun_and_a_rerun_continues(tmp_path: Path) -> None:
    path = _campaign(tmp_path, trials=4, sram=200000, on_device_epochs=6)
    victim, survivor = _worker(path, tmp_path), _worker(path, tmp_path)
    killed = _wait_for_running_trial(lambda: _journal_study(tmp_path), victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    logs = _finish([survivor])
    assert survivor.returncode == 0, logs
    assert f"trial {killed}: its worker is gone; failed and queued again" in logs[0]
    study = _journal_study(tmp_path)
    _assert_exact(study, 4, tmp_path)
    dead = study.trials[killed]
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == killed)
    assert dead.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.params == dead.params
    # The whole run killed mid-trial: `explore run` again keeps what finished and completes the study.
    runner = subprocess.Popen([sys.executable, "-m", "explore", "run", str(path), "--trials", "6", "--workers", "2"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    while not _journal_study(tmp_path).get_trials(states=(TrialState.RUNNING,)) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    before = {t.number: t.values for t in _journal_study(tmp_path).trials if t.state == TrialState.COMPLETE}
    result = _explore("run", str(path), "--trials", "6", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = _journal_study(tmp_path)
    _assert_exact(study, 6, tmp_path)
    assert all(study.trials[n].values == v for n, v in before.items())


def test_postgres_three_workers_and_a_sigkilled_one(tmp_path: Path, postgres_db_url: str) -> None:
    path = _campaign(tmp_path, trials=6, sram=200000, on_device_epochs=6, storage=postgres_db_url)
    storage = optuna.storages.RDBStorage(postgres_db_url)
    procs = [_worker(path, tmp_path, "--heartbeat", "1") for _ in range(3)]
    killed = _wait_for_running_trial(lambda: optuna.load_study(study_name="tiny", storage=storage), procs[0])
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    logs = _finish(procs[1:])
    assert all(p.returncode == 0 for p in procs[1:]), logs
    study = optuna.load_study(study_name="tiny", storage=storage)
    _assert_exact(study, 6, tmp_path)
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == killed)
    assert retry.state == TrialState.COMPLETE and retry.params == study.trials[killed].params
    status = _explore("status", str(path), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)["trials"]
    assert counts["complete"] + counts["infeasible"] + counts["pruned"] == 6
    assert counts["retried"] == 1 and counts["failed"] == counts["running"] == 0


def test_early_stopping_stops_a_trial_that_cannot_reach_the_front(tmp_path: Path) -> None:
    path = _campaign(tmp_path, trials=2, sram=200000, on_device_epochs=6, early=True)
    from explore.search.storage import open_storage

    storage = open_storage(str(tmp_path / "results" / "tiny" / "study.journal"), "test")
    study = optuna.create_study(study_name="tiny", storage=storage, directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "train_sram@nrf52840"])
    # A finished design better in both objectives than anything this space holds: nothing can reach the front.
    study.add_trial(optuna.trial.create_trial(values=[1.0, 1.0], user_attrs={"constraints": [-1.0, -1.0, -1.0]}))
    result = _explore("worker", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    stopped = _journal_study(tmp_path).trials[1]
    assert stopped.state == TrialState.PRUNED, result.stdout
    record = json.loads((tmp_path / "results/tiny/trials/1/stopped.json").read_text())
    assert record["epoch"] == 2 and record["dominated_by"] == 0 and record["optimistic_accuracy"] <= 1.0
    assert not (tmp_path / "results/tiny/trials/1/metrics.json").exists()
    status = json.loads(_explore("status", str(path), "--json", cwd=tmp_path).stdout)
    assert status["trials"]["pruned"] == 1 and [row["trial"] for row in status["front"]] == [0]


@pytest.mark.parametrize("where", ["campaign", "option"])
def test_unreachable_storage_is_one_line_and_exit_2(tmp_path: Path, where: str) -> None:
    url = "postgresql://explore@127.0.0.1:1/nowhere"
    path = _campaign(tmp_path, storage=url if where == "campaign" else None)
    args = ["run", str(path)] + (["--storage", url] if where == "option" else [])
    result = _explore(*args, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().removeprefix("explore: error: ")
    if where == "campaign":
        text = path.read_text().splitlines()
        line = next(i for i, s in enumerate(text, 1) if s.strip().startswith("storage:"))
        assert message.startswith(f"{path}:{line}: search.storage: cannot reach"), message
        assert_one_line_naming(message, path, ["search.storage", "127.0.0.1:1"])
    else:
        assert message.startswith("--storage: cannot reach postgresql://explore@127.0.0.1:1/nowhere"), message
    assert not (tmp_path / "results" / "tiny" / "trials").exists()


def test_status_without_a_study_and_a_bad_storage_scheme(tmp_path: Path) -> None:
    path = _campaign(tmp_path)
    result = _explore("status", str(path), cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "no study yet for tiny" in result.stderr, result.stderr
    bad = _campaign(tmp_path, storage="mongodb://host/db", name="bad")
    result = _explore("check", str(bad), cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert_one_line_naming(result.stderr.strip().removeprefix("explore: error: "), bad,
                           ["search.storage", "mongodb", "postgresql://"])
