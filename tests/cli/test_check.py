"""`explore check` refuses everything a run would reject before training, and `explore run` refuses
the same through the same checks (explore.campaign.preflight) before it starts a worker: exit 2, one
line naming the campaign file, its line and the key, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from checks import assert_one_line_naming
from runs import explore

N = 120


def write_data(path: Path, shape: tuple[int, ...] = (64, 1), n: int = N, labels=None) -> None:
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 4).astype(np.int64) if labels is None else labels
    np.savez(path, x=rng.normal(size=(n,) + shape).astype(np.float32), y=y)


def campaign(tmp_path: Path, **sections) -> Path:
    """A small valid campaign on data.npz (N samples of 64 positions); ``sections`` replace its own."""
    if not (tmp_path / "data.npz").exists():
        write_data(tmp_path / "data.npz")
    text = {"name": "tiny", "dataset": {"name": "tiny", "format": "npz", "path": "data.npz"},
            "model": {"family": "cnn"}, "pretrain": {"epochs": 4, "batch_size": 16},
            "pruning": {"kind": "unstructured", "final_sparsity": 0.3, "start_step": 4, "steps": 3,
                        "frequency": 4},
            "on_device": {"trainable": 2, "batch_size": 16, "epochs": 1}, "boards": ["nrf52840"],
            "baseline": {"channels": 4, "hidden": 16}}
    text.update(sections)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    return path


def line_of(path: Path, anchor: tuple[str, ...]) -> int:
    """The line of the last of ``anchor``'s line starts, each searched from the line of the one before."""
    lines, at = path.read_text().splitlines(), 0
    for start in anchor:
        at = next(i for i in range(at, len(lines)) if lines[i].lstrip().startswith(start))
    return at + 1


def refusal(path: Path, *args: str, command: str = "check") -> str:
    before = set(path.parent.rglob("*"))
    result = explore(command, str(path), *args, cwd=path.parent, timeout=300)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert set(path.parent.rglob("*")) == before  # nothing written, no results directory
    return result.stderr.strip().removeprefix("explore: error: ")


def _missing_file(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, dataset={"name": "t", "format": "npz", "path": "nowhere.npz"}), ("dataset:", "path:"), \
        ["nowhere.npz", "dataset.path", "does not exist"]


def _garbage_file(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    (d / "data.npz").write_bytes(b"not a zip archive")
    return campaign(d), ("dataset:",), ["data.npz", "not a readable .npz archive"]


def _unknown_builtin(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, dataset={"name": "mnist2d"}), ("dataset:", "name:"), ["dataset.name", "mnist2d", "mnist1d, digits"]


def _fractional_labels(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    write_data(d / "data.npz", labels=np.arange(N) % 4 + 0.5)
    return campaign(d), ("dataset:",), ["data.npz[y]", "non-integer label", "whole numbers"]


def _one_class(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    write_data(d / "data.npz", labels=np.zeros(N, np.int64))
    return campaign(d), ("dataset:",), ["data.npz[y]", "at least 2 classes"]


def _labels_not_matching(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    write_data(d / "data.npz", labels=np.arange(N - 1) % 4)
    return campaign(d), ("dataset:",), ["data.npz[y]", f"{N - 1} labels", f"{N} samples"]


def _channel_first(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    write_data(d / "data.npz", shape=(1, 64))
    return campaign(d), ("dataset:",), ["(120, 1, 64)", "dataset.layout", "ncl"]


def _pretrain_batch(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, pretrain={"epochs": 4, "batch_size": 500}), ("pretrain:", "batch_size:"), \
        ["pretrain.batch_size", "500", "allowed: 1 to 86"]


def _on_device_batch(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    # within the static bound (tests/campaign/test_hardening.py refuses 10**30) but above the data
    return campaign(d, on_device={"batch_size": 4096}), ("on_device:", "batch_size:"), \
        ["on_device.batch_size", "4096", "allowed: 1 to 86"]


def _agp_after_training(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, pruning={"kind": "structured", "start_step": 10, "steps": 8, "frequency": 5}), ("pruning:",), \
        ["pruning", "10 + 8 × 5 = 50", "20 steps", "pretrain.epochs", "allowed: an end below 20"]


def _trainable_list(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, on_device={"trainable": [0, 42], "batch_size": 16}), ("on_device:", "trainable:"), \
        ["on_device.trainable", "[42]", "conv/dense layers"]


def _trainable_last(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    return campaign(d, baseline={"channels": 4, "trainable_last": 9}), ("baseline:", "trainable_last:"), \
        ["baseline.trainable_last", "9", "conv/dense layers"]


def _trainable_sets(d: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    search = {"space": {"conv_layers": {"low": 1, "high": 3}}, "trainable": {"sets": [[0], [3, 9]]},
              "objectives": [{"name": "accuracy"}, {"name": "train_sram"}], "trials": 2}
    return campaign(d, search=search), ("sets:", "- - 3"), ["search.trainable.sets[1]", "[9]", "conv_layers=1"]


CASES: dict[str, Callable[[Path], tuple[Path, tuple[str, ...], list[str]]]] = {
    "missing data file": _missing_file, "garbage data file": _garbage_file, "unknown builtin": _unknown_builtin,
    "fractional labels": _fractional_labels, "one class": _one_class, "labels not matching": _labels_not_matching,
    "channel-first data without layout": _channel_first, "pretrain batch": _pretrain_batch,
    "on-device batch": _on_device_batch, "AGP ends after training": _agp_after_training,
    "trainable list": _trainable_list, "trainable_last": _trainable_last, "trainable sets": _trainable_sets,
}


@pytest.mark.parametrize("case", CASES)
def test_check_refuses_what_a_run_would_reject(tmp_path: Path, case: str) -> None:
    path, anchor, names = CASES[case](tmp_path)
    message = refusal(path)
    assert message.startswith(f"{path}:{line_of(path, anchor)}: "), message
    assert_one_line_naming(message, path, names)


@pytest.mark.parametrize("case", ["garbage data file", "AGP ends after training", "trainable sets"])
def test_run_refuses_the_same_before_starting_workers(tmp_path: Path, case: str) -> None:
    path, _, _ = CASES[case](tmp_path)
    if not yaml.safe_load(path.read_text()).get("search"):
        text = yaml.safe_load(path.read_text())
        text["search"] = {"objectives": [{"name": "accuracy"}, {"name": "train_sram"}], "trials": 2}
        path.write_text(yaml.safe_dump(text, sort_keys=False))
    assert refusal(path, command="check") == refusal(path, "--workers", "1", command="run")


def test_check_accepts_the_small_campaign_and_prints_how_it_reads_the_data(tmp_path: Path) -> None:
    write_data(tmp_path / "data.npz", shape=(1, 64))
    path = campaign(tmp_path, dataset={"name": "tiny", "format": "npz", "path": "data.npz", "layout": "ncl"})
    result = explore("check", str(path), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (f"data: {tmp_path / 'data.npz'}[x] (120, 1, 64) read as ncl (dataset.layout) → 64 positions × 1 channel"
            in result.stdout.splitlines()), result.stdout
    as_json = json.loads(explore("check", str(path), "--json", cwd=tmp_path, timeout=300).stdout)
    assert as_json["data"]["input_shape"] == [64, 1] and as_json["data"]["train"] == 86
    assert as_json["data"]["readings"][0]["layout"] == "ncl"
