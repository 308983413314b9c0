"""The commands run end to end as a user runs them (functional, not timed: speed lives in the bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _explore(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_bench_fqt_writes_required_keys(tmp_path: Path) -> None:
    run = _explore("bench", "fqt", "--steps", "2", "--out", str(tmp_path / "bench"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "bench" / "fqt.json").read_text())
    for key in ("float32_samples_per_s", "uint8_samples_per_s", "uint8_over_float32_step_time", "compile_s"):
        assert isinstance(result[key], float) and result[key] > 0, key
    ratio = result["float32_step_ms"] and result["uint8_step_ms"] / result["float32_step_ms"]
    assert abs(result["uint8_over_float32_step_time"] - ratio) < 1e-9
    assert not list((tmp_path / "bench").glob(".fqt.json.*")), "no temporary file may be left behind"


def test_demo_json_reports_a_trained_model(tmp_path: Path) -> None:
    run = _explore("demo", "--epochs", "2", "--lambda-min", "0.5", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["config"] == "uint8"
    assert len(summary["history"]) == 2
    assert summary["float_pretrained_accuracy"] > 0.9
    assert summary["test_accuracy"] > 0.8
    assert all(0.5 <= rate < 1.0 for rate in summary["update_rates"].values())
