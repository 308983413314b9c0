"""A tiny digits search campaign and the ``explore`` command line, shared by the tests that run
searches (search, report): a trial trains in seconds, everything else is the real thing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

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
