"""Terminal side of ``explore validate``: run a bundle on runtime_c and hold it against the simulator."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from explore.errors import BadInput
from explore.io import write_json_atomic
from explore.deploy.qemu import TARGETS, require_tools
from explore.deploy.validate import ALL_TARGETS, HOST, Options, make_samples, read_bundle, simulate, validate_target

ROWS = (("flash_bytes", "flash (bytes)"), ("sram_bytes", "SRAM (bytes)"),
        ("instructions_per_train_sample", "instructions / training sample"),
        ("instructions_per_inference", "instructions / inference"))


def chosen_targets(target: str) -> tuple[str, ...]:
    return ALL_TARGETS if target == "all" else (target,)


def _check_tools(targets: tuple[str, ...]) -> None:
    needed = ["cmake", "gcc"]
    if any(t != HOST for t in targets):
        needed += ["arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm"]
    require_tools(needed)


def run_validation(bundle_dir: Path, target: str, options: Options, work_dir: Path | None = None,
                   echo=print) -> dict:
    """Validate ``bundle_dir`` on the chosen targets; writes and returns ``validation.json``."""
    bundle_dir = Path(bundle_dir)
    targets = chosen_targets(target)
    model, training, manifest = read_bundle(bundle_dir)
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


def _summary(bundle_dir: Path, manifest: dict, training, options: Options, results: dict) -> dict:
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


def print_summary(summary: dict, console: Console) -> None:
    for name, result in summary["targets"].items():
        if "measured" not in result:
            continue
        table = Table(title=f"{name} ({result['machine']}), predicted by the {result['predicted']['board']} profile")
        for column in ("", "predicted", "measured", "error"):
            table.add_column(column, justify="right" if column else "left")
        for key, label in ROWS:
            error = result["error_pct"].get(key)
            table.add_row(label, f"{result['predicted'][key]:,.0f}", f"{result['measured'][key]:,.0f}",
                          f"{error:+.1f} %" if error is not None else "")
        console.print(table)
    verdict = "bit-exact on every target" if summary["bit_exact"] else "NOT bit-exact"
    console.print(f"{verdict}; wrote {Path(summary['bundle']) / 'validation.json'}")


def validate_command(bundle_dir: Path, target: str, steps: int, as_json: bool, seed: int, dsp: bool) -> None:
    if not (Path(bundle_dir) / "manifest.json").is_file():
        raise BadInput(f"BUNDLE_DIR: {bundle_dir} is not a bundle (no manifest.json); make one with explore export")
    console = Console(stderr=as_json)
    options = Options(steps=steps, seed=seed, dsp=dsp)
    summary = run_validation(bundle_dir, target, options, echo=lambda text: console.print(text, highlight=False))
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(summary, console)
    if not summary["bit_exact"]:
        raise SystemExit(1)


__all__ = ["run_validation", "validate_command", "TARGETS"]
