"""A tiny digits search campaign and the ``explore`` command line, shared by the tests that run
searches (search, report): a trial trains in seconds, everything else is the real thing.  Also what
those tests check of a study: the exact count, and the front as ``explore run``/``status`` print it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

TIMEOUT = 600


def tiny_campaign(tmp_path: Path, *, trials: int = 4, sram: int = 40000, on_device_epochs: int = 3,
              early: bool = False, storage: str | None = None, name: str = "tiny") -> Path:
    search = {"space": {"channels": {"low": 4, "high": 12}, "hidden": {"low": 16, "high": 48, "step": 16}},
              "lambda": {"low": 0.5, "high": 1.0},
              "objectives": [{"name": "accuracy"}, {"name": "train_sram"}],
              "budgets": {"nrf52840": {"sram_bytes": sram}},
              "sampler": {"name": "random"}, "early_stopping": {"enabled": early, "min_epochs": 2},
              "trials": trials}
    if storage:
        search["storage"] = storage
    campaign = {"name": name, "seed": 3, "dataset": {"name": "digits", "validation_fraction": 0.1},
                "model": {"family": "cnn"}, "pretrain": {"epochs": 2},
                "pruning": {"kind": "unstructured", "final_sparsity": 0.5, "start_step": 5, "steps": 3, "frequency": 5},
                "on_device": {"config": "uint8", "trainable": 2, "epochs": on_device_epochs},
                "boards": ["nrf52840"], "baseline": {"channels": 8, "hidden": 32}, "search": search}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


def explore(*args: str, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def journal_study(tmp_path: Path, name: str = "tiny") -> optuna.Study:
    """The study ``explore run`` keeps in the default journal under ``tmp_path/results``."""
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "results" / name / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def assert_exact(study: optuna.Study, n: int, tmp_path: Path) -> None:
    """Exactly ``n`` trials finished; every failed one was retried, and its retry finished."""
    trials = study.get_trials()
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n, [(t.number, t.state) for t in trials]
    assert all(t.state != TrialState.RUNNING and t.state != TrialState.WAITING for t in trials)
    assert {t.number for t in trials if t.state == TrialState.FAIL} == retried
    assert len({t.number for t in finished}) == n
    for t in finished:  # trained trials have their artefacts; infeasible ones never trained
        trial_dir = tmp_path / "results" / study.study_name / "trials" / str(t.number)
        if t.user_attrs.get("infeasible") and "metrics" not in t.user_attrs:
            assert not trial_dir.exists(), t.number
        else:
            assert (trial_dir / "metrics.json").is_file(), t.number


def assert_front_printed_whole(stdout: str, front: list[dict], labels: list[str]) -> None:
    """The front table in ``stdout`` (piped, so no terminal width) has one line per design: its
    header names every column on one line and each design's whole genome is on its trial's line."""
    from explore.cli.study_view import fmt

    lines = stdout.splitlines()
    assert any(all(label in line for label in ["trial", *labels, "genome"]) for line in lines), stdout
    for row in front:
        genome = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in row["genome"].items())
        assert any(line.split()[1:2] == [str(row["trial"])] and genome in line for line in lines if line.split()), \
            (row, stdout)
    width = {len(line) for line in lines if line.startswith(("┃", "│", "┏", "┡", "└"))}
    assert len(width) == 1, stdout  # a fixed-width table
