"""Calibration of the cost model (issue 7, item 4): the fit recovers known kernel costs, a written
profile loads again with every figure's source, and one real profiled run on the Cortex-M4 lines up
with the cost model's kernel calls."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from explore.deploy.calibrate import (COLUMNS, Measurement, evaluate, fit_kernels, measure_design, predict_instructions,
                                      write_profile)
from explore.cost import layer_work
from explore.campaign.boards import KERNELS, find_board, load_profile
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.qemu import INSTALL_HINT, missing_tools


def _design(seed: int):
    from explore.cost import Design

    d = random_design(seed)
    return Design(d.spec, d.trainable, d.config, d.lambda_min, d.lambda_max, 4)


def _synthetic_measurement(seed: int, truth: dict[str, dict[str, float]]) -> Measurement:
    """What a run would measure if every kernel cost exactly ``truth`` (plus 1 % noise)."""
    design = _design(seed)
    rng = np.random.default_rng(seed)
    calls = {(w.layer, w.event): sum(n * truth[k][p] for (k, p), n in w.units.items()) * rng.uniform(0.99, 1.01)
             for w in layer_work(design)}
    return Measurement(Path(f"/nowhere/{seed}"), design, calls, predict_instructions(design, truth), 0.0, 1, 1)


def test_fit_recovers_known_kernel_costs() -> None:
    rng = np.random.default_rng(0)
    truth = {k: {"uint8": float(rng.uniform(1, 30)), "float32": float(rng.uniform(1, 30))} for k in KERNELS}
    fit_set = [_synthetic_measurement(seed, truth) for seed in range(100, 160)]
    prior = find_board("nrf52840").kernels
    fitted, info = fit_kernels(fit_set, prior)
    assert info["calls"] > 300 and info["call_mape_pct"] < 2.0
    held = [_synthetic_measurement(seed, truth) for seed in range(20)]
    check = evaluate(held, fitted)
    assert check["mape_pct"] < 3.0 and check["spearman"] > 0.99
    wrong = evaluate(held, {k: {"uint8": 1.0, "float32": 1.0} for k in KERNELS})
    assert wrong["mape_pct"] > 20.0   # the check can fail


def test_written_profile_loads_with_calibrated_sources(tmp_path: Path) -> None:
    source_file = Path(__file__).resolve().parents[2] / "hw_profiles" / "nrf52840.yaml"
    target = tmp_path / "nrf52840.yaml"
    shutil.copy(source_file, target)
    kernels = {k: {"uint8": 2.5 + i, "float32": 3.25 + i} for i, k in enumerate(KERNELS)}
    footprint = {"code_bytes": 12345.6, "statics_bytes": 1500.2, "layer_record_bytes": 84.0,
                 "tensor_record_bytes": 30.0, "layer_state_bytes": 95.4}
    sources = {"kernels": "calibrated: test run, QEMU mps2-an386", "runtime": "calibrated: test sections"}
    notes = {"kernels": "Fitted in a test.\nSecond line.", "runtime": "Footprint note."}
    # a dict in another order than the file's: the YAML anchor must still precede its aliases
    write_profile(target, dict(reversed(list(kernels.items()))), footprint, sources, notes)
    board = load_profile(target)
    for i, k in enumerate(KERNELS):
        assert board.kernels[k].uint8 == pytest.approx(2.5 + i, rel=1e-2)
        assert board.kernels[k].source == sources["kernels"]
    assert board.runtime.code_bytes.value == 12346 and board.runtime.code_bytes.source == sources["runtime"]
    assert board.runtime.layer_state_bytes.value == 95
    text = target.read_text()
    assert "# Fitted in a test.\n# Second line.\nkernels:" in text and "# Footprint note.\nruntime:" in text
    write_profile(target, kernels, footprint, sources, notes)   # idempotent on a written profile
    assert load_profile(target) == board
    assert all(getattr(board.runtime, key).source == sources["runtime"] for key in footprint)


def test_profiled_run_matches_the_cost_models_calls(tmp_path: Path) -> None:
    missing = missing_tools(("cmake", "arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm",
                             "qemu-system-arm"))
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; install with: {INSTALL_HINT}")
    design = random_design(7, "uint8")
    bundle = synthetic_bundle(design, tmp_path / "bundle")
    m = measure_design(bundle, "cortex-m4", tmp_path / "work", steps=2)
    expected = {(w.layer, w.event) for w in layer_work(m.design)}
    assert set(m.calls) == expected, set(m.calls) ^ expected
    assert all(v > 0 for v in m.calls.values())
    assert m.per_sample > sum(v for (layer, event), v in m.calls.items() if event not in ("update",)) * 0.9
    assert len(COLUMNS) == 2 * len(KERNELS)


def test_pinned_columns_are_kept_and_the_rest_is_fitted_around_them() -> None:
    rng = np.random.default_rng(1)
    truth = {k: {"uint8": float(rng.uniform(1, 30)), "float32": float(rng.uniform(1, 30))} for k in KERNELS}
    fit_set = [_synthetic_measurement(seed, truth) for seed in range(100, 160)]
    pinned = {("conv_mac", "uint8"): truth["conv_mac"]["uint8"], ("weight_grad_mac", "uint8"): 3.5}
    fitted, info = fit_kernels(fit_set, find_board("nrf52840").kernels, pinned)
    assert fitted["conv_mac"]["uint8"] == truth["conv_mac"]["uint8"]
    assert fitted["weight_grad_mac"]["uint8"] == 3.5   # pinned even where the data say otherwise
    assert info["pinned"] == {"conv_mac.uint8": truth["conv_mac"]["uint8"], "weight_grad_mac.uint8": 3.5}
    truly_pinned = {("conv_mac", "uint8"): truth["conv_mac"]["uint8"]}
    fitted, info = fit_kernels(fit_set, find_board("nrf52840").kernels, truly_pinned)
    check = evaluate([_synthetic_measurement(seed, truth) for seed in range(20)], fitted)
    assert info["call_mape_pct"] < 2.0 and check["mape_pct"] < 3.0
