"""The commands run end to end as a user runs them (functional, not timed: speed lives in the bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runs import tiny_campaign


def _explore(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_bench_fqt_writes_required_keys(tmp_path: Path) -> None:
    run = _explore("bench", "fqt", "--steps", "2", "--out", str(tmp_path / "bench"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "bench" / "fqt.json").read_text())
    for key in ("optax_samples_per_s", "float32_samples_per_s", "uint8_samples_per_s", "uint8_over_optax_step_time",
                "compile_s"):
        assert isinstance(result[key], float) and result[key] > 0, key
    for config in ("uint8", "mixed", "float32"):
        ratio = result["optax_step_ms"] and result[f"{config}_step_ms"] / result["optax_step_ms"]
        assert abs(result[f"{config}_over_optax_step_time"] - ratio) < 1e-9, config
    assert result["targets"]["uint8_over_optax_step_time"] == 2.0
    assert "uint8_over_float32_step_time" not in result
    assert not list((tmp_path / "bench").glob(".fqt.json.*")), "no temporary file may be left behind"


def test_bench_evaluate_measures_each_stage_against_the_limit_cold_and_warm(tmp_path: Path) -> None:
    campaign = tiny_campaign(tmp_path, on_device_epochs=2)
    out = tmp_path / "bench"
    run = _explore("bench", "evaluate", str(campaign), "--sparsities", "", "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "on_device" in run.stdout and "metrics" in run.stdout  # the stage table
    result = json.loads((out / "evaluate.json").read_text())
    assert set(result["targets"]) == {"limit_ratio", "compile_share", "warm_limit_ratio"}
    assert set(result["targets_met"]) == set(result["targets"])
    for figures in (result, result["warm"]):
        stages = figures["stages"]
        assert set(stages) == {"pretrain", "ptq", "on_device", "metrics"}
        for name, stage in stages.items():
            assert {"seconds", "compiles", "compile_s", "gflop", "limit_ratio"} <= set(stage), name
            assert stage["gflop"] > 0 and stage["throughput_gflops"] > 0, name
            limit_s = stage["gflop"] / stage["throughput_gflops"]
            assert stage["limit_ratio"] == pytest.approx(stage["seconds"] / limit_s, rel=1e-9), name
        limit_s = sum(s["gflop"] / s["throughput_gflops"] for s in stages.values())
        assert figures["limit_ratio"] == pytest.approx(figures["wall_s"] / limit_s, rel=1e-9)
        assert sum(s["compile_s"] for s in stages.values()) <= figures["compile_s"] + 1e-9
        assert figures["compile_s"] <= figures["wall_s"]
        assert sum(s["compiles"] for s in stages.values()) <= figures["compiles"]
        assert figures["compile_share"] == pytest.approx(figures["compile_s"] / figures["wall_s"], rel=1e-9)
        assert sum(s["seconds"] for s in stages.values()) <= figures["wall_s"]
    assert result["stages"]["on_device"]["seconds"] == result["seconds"]["on_device"]
    assert result["warm_limit_ratio"] == result["warm"]["limit_ratio"]
    # The cold evaluate started from an empty cache and filled it; the fresh process read from it.
    assert any((out / "evaluate" / "jax_cache").iterdir())
    assert result["warm"]["cache_hits"] > 0
    for stage, throughput in result["throughput"].items():
        assert throughput["limit_gflops"] == max(throughput["matmul_gflops"], throughput["conv1x1_gflops"]), stage
    assert result["accuracy_vs_sparsity"] == []


def test_demo_json_reports_a_trained_model(tmp_path: Path) -> None:
    run = _explore("demo", "--epochs", "2", "--lambda-min", "0.5", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["config"] == "uint8"
    assert len(summary["history"]) == 2
    assert summary["float_pretrained_accuracy"] > 0.9
    assert summary["test_accuracy"] > 0.8
    assert all(0.5 <= rate < 1.0 for rate in summary["update_rates"].values())


def test_bench_kernels_measures_every_shape_and_compares_with_a_baseline(tmp_path: Path) -> None:
    from explore.bench.kernels import KERNELS, SHAPES
    from explore.deploy.runtime import RUNTIME_DIR

    # The checkout's own runtime as the baseline: the same kernels must count the same instructions.
    out = tmp_path / "bench"
    run = _explore("bench", "kernels", "--core", "cortex-m4", "--baseline", str(RUNTIME_DIR), "--designs", "1",
                   "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "dw_12x12x32_k3" in run.stdout and "m4_forward_at_cmsis_nn" in run.stdout
    result = json.loads((out / "kernels.json").read_text())
    assert set(result["cortex-m4"]) == set(KERNELS)
    for kernel in KERNELS:
        assert set(result["cortex-m4"][kernel]) == set(SHAPES), kernel
        # A MAC costs at least one instruction and no kernel here should need 200.
        assert all(1.0 < v < 200.0 for v in result["cortex-m4"][kernel].values()), kernel
        assert all(r == 1.0 for r in result["after_over_before"]["cortex-m4"][kernel].values()), kernel
    e2e = result["end_to_end"]
    assert e2e["core"] == "cortex-m4" and e2e["seeds"] == [0]
    assert e2e["current"]["instructions_per_train_sample"][0] > 1000
    assert e2e["median_before_over_after"] == 1.0 and "end to end (1 uint8 designs" in run.stdout
    assert set(result["verdicts"]["m4_forward_at_cmsis_nn"]) == {
        "conv_12x12x16_o16_k3", "conv_12x12x32_o16_k3", "conv_1x40x16_o32_k5", "dw_12x12x32_k3", "conv_8x8x64_o16_k3"}


def test_bench_kernels_rejects_a_baseline_that_is_not_a_runtime(tmp_path: Path) -> None:
    run = _explore("bench", "kernels", "--core", "cortex-m4", "--baseline", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 2
    assert "not a runtime_c directory" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "results" / "bench" / "kernels.json").exists()
