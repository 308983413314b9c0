"""``explore bench runtime``: runtime_c on the Cortex-M cores under QEMU.

1. **Kernel efficiency.**  runtime_c/bench/bench_kernels.c runs the integer forward conv, input error
   and weight gradient (a 12x12x{16,32} input, 3x3, 16 channels): instructions per MAC over the whole
   kernel and the marginal cost per MAC as the input channels double, with the DSP path and with the
   portable loops; on DSP cores also each SMLAD inner loop alone at two trip counts, whose
   difference is the inner loop's instructions per MAC (the issue's target: at most 2).
2. **Sparse-update speedup** on a real design (a quickstart winner when given, in the mixed
   configuration the paper reports): instructions of the backward pass per sample with λ_min = 0.1
   against λ_min = 1.0.
3. **Calibration** of every core's kernel costs and runtime footprint from profiled runs of a fit set
   of generated designs, checked on the held-out fuzz set (MAPE, Spearman, flash and SRAM errors).
   ``--write-profiles`` puts the figures into hw_profiles/*.yaml.

Writes ``results/bench/runtime.json``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from explore.campaign import load_campaign
from explore.data import load_dataset
from explore.deploy.calibrate import (Measurement, calibrated_board, evaluate, fit_footprint, fit_kernels, footprint_errors,
                                      measure_design, profile_notes, write_profile)
from explore.campaign.boards import find_board
from explore.io import write_json_atomic
from explore.resources import hw_profiles_dir
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.qemu import RUNTIME_DIR, TARGETS, TOOLCHAIN_FILE, configure_and_build, require_tools, run_image

#: Boards whose profiles a core's calibration writes (the first one prices the checks).
BOARDS_OF_CORE = {"cortex-m0plus": ("rp2040",), "cortex-m4": ("nrf52840", "stm32l476"),
                  "cortex-m7": ("imxrt1062", "stm32f746")}
KERNEL_CASES = ("forward_conv", "input_error", "weight_grad")
#: training samples of the winner's campaign that drive the dynamic update rate
CAMPAIGN_SAMPLES = 256


# --- 1. kernels --------------------------------------------------------------------------------------------


def kernel_bench(core: str, work: Path, dsp: bool) -> dict:
    build = work / f"bench-{core}-{'dsp' if dsp else 'portable'}"
    configure_and_build(RUNTIME_DIR, build, TOOLCHAIN_FILE,
                        {"EXPLORE_BENCH": "ON", "EXPLORE_CPU": core, "EXPLORE_DSP": "ON" if dsp else "OFF"})
    result = run_image(build / "bench_kernels.elf", TARGETS[core].machine, 300)
    rows: dict[str, dict[str, list[tuple[int, int]]]] = {"R": {}, "L": {}}
    for line in result.stdout.decode().splitlines():
        parts = line.split()
        if parts and parts[0] in rows:
            rows[parts[0]].setdefault(parts[1], []).append((int(parts[3]), int(parts[4])))
    out: dict = {}
    for name, points in rows["R"].items():
        (m0, i0), (m1, i1) = sorted(points)[:2]
        out[name] = {"macs": m1, "instructions": i1, "instructions_per_mac": i1 / m1,
                     "marginal_instructions_per_mac": (i1 - i0) / (m1 - m0)}
    for name, points in rows["L"].items():
        (m0, i0), (m1, i1) = sorted(points)[:2]
        out[name]["inner_loop_instructions_per_mac"] = (i1 - i0) / (m1 - m0)
    return out


# --- 2. sparse speedup -------------------------------------------------------------------------------------


def backward_instructions(m: Measurement) -> float:
    """Instructions of the backward pass per sample (loss and update excluded), from the profile."""
    per_sample = [calls for (layer, event), calls in m.calls.items()
                  if event not in ("input", "forward", "loss", "update")]
    return float(sum(per_sample))


def rebundle(bundle: Path, out_dir: Path, config: str, lambda_min: float, lambda_max: float) -> Path:
    """The model of ``bundle`` exported again with another configuration and λ range (same trainable
    set, batch size and learning rate)."""
    from explore.campaign import campaign_board, resolve_genome
    from explore.deploy.bundle import export_bundle
    from explore.deploy.model_fuzz import fuzz_campaign
    from explore.deploy.validate import read_bundle

    model, training, manifest = read_bundle(bundle)
    board = manifest["board"]["name"]
    campaign = fuzz_campaign(training.batch_size, training.lr, board)
    genome = resolve_genome(campaign, {"lambda_min": lambda_min, "lambda_max": lambda_max, "config": config},
                            "re-export")
    metrics = {"config": config, "trainable": list(training.trainable), "accuracy": {}, "validation_accuracy": {}}
    return export_bundle(campaign, int(manifest["trial"]), genome, metrics, model, campaign_board(campaign, board),
                         out_dir)


def sparse_speedup(bundles: dict[float, Path], core: str, work: Path, samples=None) -> dict:
    """Backward instructions per sample of the same design exported with different λ_min."""
    runs = {lam: measure_design(path, core, work / f"sparse-{lam}", steps=20, samples=samples)
            for lam, path in bundles.items()}
    dense = backward_instructions(runs[1.0])
    return {"core": core, "backward_instructions": {str(lam): backward_instructions(m) for lam, m in runs.items()},
            "speedup": {str(lam): dense / backward_instructions(m) for lam, m in runs.items()},
            "kept_rates": {str(lam): {str(k): v for k, v in m.design.update_rates.items()} for lam, m in runs.items()}}


# --- 3. calibration ----------------------------------------------------------------------------------------


def make_bundles(seeds: list[tuple[int, str | None, bool]], out: Path) -> list[Path]:
    return [synthetic_bundle(random_design(seed, config, large), out / f"{config or 'drawn'}{'-large' * large}")
            for seed, config, large in seeds]


#: The cost model's uint8 MAC columns and the kernel benchmark's case that measures each alone.
PINNED_MAC_CASES = {("conv_mac", "uint8"): "forward_conv", ("input_grad_mac", "uint8"): "input_error",
                    ("weight_grad_mac", "uint8"): "weight_grad"}


def pinned_macs(kernel_figures: dict) -> dict[tuple[str, str], float]:
    """The uint8 MAC costs of a core's kernel benchmark (DSP path where the core has one): the
    marginal instructions per MAC as the input channels double, per-output work excluded."""
    figures = kernel_figures.get("dsp") or kernel_figures["portable"]
    return {column: figures[case]["marginal_instructions_per_mac"] for column, case in PINNED_MAC_CASES.items()}


def calibrate_core(core: str, fit: list[Path], held_out: list[Path], work: Path,
                   progress: Callable[[str], None], winners: list[Path] = (),
                   pinned: dict[tuple[str, str], float] | None = None) -> tuple[dict, dict, dict]:
    board = find_board(BOARDS_OF_CORE[core][0])
    started = time.perf_counter()
    fit_runs = [measure_design(b, core, work / f"fit-{core}") for b in fit]
    progress(f"{core}: profiled {len(fit_runs)} fit designs in {time.perf_counter() - started:.0f} s")
    held = [measure_design(b, core, work / f"held-{core}", profile=False) for b in held_out]
    kernels, info = fit_kernels(fit_runs, board.kernels, pinned)
    footprint = fit_footprint(fit_runs)
    source = profile_notes(core, TARGETS[core].machine, len(fit_runs))[0]["kernels"]
    calibrated = calibrated_board(board, kernels, footprint, source)
    check = {"before": evaluate(held, {k: {"uint8": v.uint8, "float32": v.float32} for k, v in board.kernels.items()}),
             "after": evaluate(held, kernels),
             "footprint_before": footprint_errors(held, board), "footprint_after": footprint_errors(held, calibrated)}
    if winners:
        runs = [measure_design(b, core, work / f"winners-{core}", profile=False) for b in winners]
        check["winners"] = evaluate(runs, kernels)
        check["winners_footprint"] = footprint_errors(runs, calibrated)
        progress(f"{core}: {len(runs)} given bundles: MAPE {check['winners']['mape_pct']:.1f} %")
    del check["before"]["rows"]
    del check["footprint_before"]["rows"]
    return {"kernels": kernels, "footprint": footprint, "fit": info, "source": source}, check, {"board": board.name}


def write_core_profiles(core: str, calibration: dict, designs: int) -> list[Path]:
    """Put a core's calibration into the profiles of its boards (BOARDS_OF_CORE)."""
    sources, notes = profile_notes(core, TARGETS[core].machine, designs)
    paths = [hw_profiles_dir() / f"{board}.yaml" for board in BOARDS_OF_CORE[core]]
    for path in paths:
        write_profile(path, calibration["kernels"], calibration["footprint"], sources, notes)
    return paths


def campaign_samples(campaign_path: Path | None,
                     count: int = CAMPAIGN_SAMPLES) -> tuple[np.ndarray, np.ndarray] | None:
    """The first ``count`` training samples and labels of the campaign's data set; None without a campaign."""
    if campaign_path is None:
        return None
    campaign = load_campaign(campaign_path)
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    return data.x_train[:count], data.y_train[:count]


def run_runtime_bench(out_dir: Path, cores: tuple[str, ...], fit_designs: int, held_seeds: int,
                      winner: Path | None, campaign: Path | None, write_profiles: bool,
                      held_bundles: Path | None = None, progress: Callable[[str], None] = print) -> dict:
    """Run the three parts on ``cores`` and write ``out_dir/runtime.json``; ``campaign`` is the
    winner's, whose training data drive the dynamic update rate."""
    require_tools()
    samples = campaign_samples(campaign)
    work = Path(tempfile.mkdtemp(prefix="explore-bench-runtime-"))
    try:
        result: dict = {"kernels": {}, "calibration": {}, "checks": {}}
        for core in cores:
            result["kernels"][core] = {"dsp": kernel_bench(core, work, True)} if core != "cortex-m0plus" else {}
            result["kernels"][core]["portable"] = kernel_bench(core, work, False)
            progress(f"{core}: kernel benchmark done")
        if winner is not None:
            result["sparse_speedup"] = {}
            for lambda_max in (1.0, None):   # dynamic rate from 0.1 up to 1, and a fixed rate
                bundles = {lam: rebundle(winner, work / f"winner-{lam}-{lambda_max}", "mixed", lam,
                                         lambda_max if lambda_max is not None else lam) for lam in (0.1, 0.5, 1.0)}
                key = "dynamic (lambda_max 1.0)" if lambda_max else "fixed (lambda_max = lambda_min)"
                result["sparse_speedup"][key] = sparse_speedup(bundles, "cortex-m4", work / key.split()[0], samples)
                progress(f"sparse speedup, {key}: {result['sparse_speedup'][key]['speedup']}")
            result["sparse_speedup"]["winner"] = str(winner)
        # the fit covers small generated designs and deployment-sized ones, half each
        fit = make_bundles([(1000 + k, None, k % 2 == 1) for k in range(fit_designs)], work / "fit")
        held = make_bundles([(seed, config, False) for seed in range(held_seeds)
                             for config in ("uint8", "mixed", "float32")], work / "held")
        winners = sorted(p.parent for p in Path(held_bundles).glob("*/manifest.json")) if held_bundles else []
        progress(f"made {len(fit)} fit and {len(held)} held-out bundles")
        for core in cores:
            calibration, check, meta = calibrate_core(core, fit, held, work, progress, winners,
                                                      pinned_macs(result["kernels"][core]))
            result["calibration"][core] = {**calibration, **meta}
            result["checks"][core] = check
            progress(f"{core}: held-out MAPE {check['after']['mape_pct']:.1f} % (was {check['before']['mape_pct']:.1f} %),"
                     f" Spearman {check['after']['spearman']:.3f}; flash error <= "
                     f"{check['footprint_after']['flash_max_abs_error_pct']:.1f} %, SRAM error <= "
                     f"{check['footprint_after']['sram_max_abs_error_pct']:.1f} %")
            if write_profiles:
                write_core_profiles(core, calibration, len(fit))
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / "runtime.json", result)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["run_runtime_bench", "kernel_bench", "sparse_speedup", "rebundle"]
