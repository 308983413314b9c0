"""``explore validate``: a bundle trained with runtime_c on each chosen target and held against the
simulator (the pieces are in :mod:`explore.deploy.validate`); the verdict goes to validation.json."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from explore.deploy.qemu import require_tools
from explore.deploy.validate import (ALL_TARGETS, HOST, Options, Training, make_samples, read_bundle, simulate,
                                     validate_target)
from explore.io import write_json_atomic


def chosen_targets(target: str) -> tuple[str, ...]:
    return ALL_TARGETS if target == "all" else (target,)


def _check_tools(targets: tuple[str, ...]) -> None:
    needed = ["cmake", "gcc"]
    if any(t != HOST for t in targets):
        needed += ["arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm"]
    require_tools(needed)


def run_validation(bundle_dir: Path, target: str, options: Options, work_dir: Path | None = None,
                   echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Validate ``bundle_dir`` on the chosen targets (``all`` or one); writes and returns
    ``validation.json``.  ``echo`` gets a line after the simulation and after each target."""
    bundle_dir = Path(bundle_dir)
    targets = chosen_targets(target)
    model, training, manifest = read_bundle(bundle_dir)   # the bundle is checked first
    _check_tools(targets)
    samples = make_samples(model, options.samples, options.seed)
    started = time.perf_counter()
    reference = simulate(model, training, *samples, options.steps, options.infer)
    echo(f"simulated {options.steps} steps of {training.batch_size} samples ({training.config}) "
         f"in {time.perf_counter() - started:.1f} s")
    scratch = Path(tempfile.mkdtemp(prefix="explore-validate-")) if work_dir is None else Path(work_dir)
    try:
        results = {}
        for name in targets:
            started = time.perf_counter()
            results[name] = validate_target(bundle_dir, model, training, manifest, reference, samples, name,
                                            scratch / name, options)
            results[name]["seconds"] = round(time.perf_counter() - started, 2)
            verdict = "bit-exact" if results[name]["bit_exact"] else f"DIFFERS: {results[name]['first_difference']}"
            echo(f"{name}: {verdict} ({results[name]['seconds']:.1f} s)")
    finally:
        if work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = _summary(bundle_dir, manifest, training, options, results)
    write_json_atomic(bundle_dir / "validation.json", summary)
    return summary


def _summary(bundle_dir: Path, manifest: dict, training: Training, options: Options, results: dict) -> dict:
    """validation.json: the verdict over all targets and, at the top, the figures of the core of the
    bundle's board (else the first Cortex-M target run)."""
    core = (manifest.get("board") or {}).get("core")
    cortex = [t for t in results if t != HOST]
    primary = core if core in results else (cortex[0] if cortex else None)
    summary = {"bundle": str(bundle_dir), "trial": manifest.get("trial"), "config": training.config,
               "bit_exact": all(r["bit_exact"] for r in results.values()), "steps": options.steps,
               "batch_size": training.batch_size, "seed": options.seed, "targets": results}
    if primary is not None:
        summary.update(target=primary, measured=results[primary]["measured"],
                       predicted=results[primary]["predicted"], error_pct=results[primary]["error_pct"])
    return summary
