"""Calibration of the cost model from runtime_c under QEMU (issue 7, item 4).

For a core, :func:`measure_design` builds the validation harness of a bundle, runs a few training steps
under QEMU with instruction counting and returns what it measured: instructions of every kernel call
(a profiling build, ``EXPLORE_PROFILE``), instructions per training sample and per inference (a plain
build), flash and SRAM.  :func:`fit_kernels` then finds the instructions per unit of work of every
kernel of the board profile by non-negative least squares on relative errors, from the profiled calls
of a *fit* set of designs; :func:`fit_footprint` finds the runtime's code and table bytes and its
static and per-layer SRAM.  :func:`evaluate` prices a separate *held-out* set with the fitted figures
and compares with the plain builds' totals (MAPE, Spearman).  :func:`write_profile` puts the figures
into a board's YAML file with their source.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explore.cost import EVENTS, Design, cost_on_board, layer_work, plan_design
from explore.campaign.boards import KERNELS, BoardProfile, Figure, KernelCost
from explore.cost import model_flash
from explore.deploy.runtime import RUNTIME_DIR
from explore.deploy.validate import (HOST, Report, build_harness, kept_rates, make_samples, measured_figures, parse_report,
                                     read_bundle, run_harness, state_floats, write_harness_data)

PRECISIONS = ("uint8", "float32")
COLUMNS = tuple((kernel, precision) for kernel in KERNELS for precision in PRECISIONS)


@dataclass
class Measurement:
    """One design run on one core: its cost-model design and what QEMU counted."""

    bundle: Path
    design: Design
    calls: dict[tuple[int, str], float]   # (layer, event) -> instructions per call (profiled build)
    per_sample: float                     # instructions per training sample, update amortised (plain build)
    per_inference: float
    flash_bytes: int
    sram_bytes: int


def _run(bundle: Path, target: str, work: Path, steps: int, profile: bool,
         samples: tuple[np.ndarray, np.ndarray] | None = None, runtime: Path = RUNTIME_DIR) -> tuple[Report, Path]:
    model, training, _ = read_bundle(bundle)
    x, y = samples if samples is not None else make_samples(model, 16, 0)
    data = work / ("data-profile" if profile else "data")
    write_harness_data(data, x, y, training.batch_size, steps, 2, 0, state_floats(model, training.trainable))
    binary = build_harness(bundle, data, work / f"build-{target}{'-profile' if profile else ''}", target,
                           profile=profile, runtime=runtime)
    status, text = run_harness(binary, target, 600)
    if status != 0:
        raise RuntimeError(f"{bundle}: harness exited with {status}: {text[-300:]}")
    return parse_report(text), binary


def measure_design(bundle: Path, target: str, work: Path, steps: int = 4, profile: bool = True,
                   samples: tuple[np.ndarray, np.ndarray] | None = None, runtime: Path = RUNTIME_DIR) -> Measurement:
    """Run ``bundle`` on ``target`` (a Cortex-M core under QEMU), plain and (``profile``) profiled, on
    ``samples`` (default: generated ones), with the kernels of ``runtime`` (a runtime_c tree)."""
    if target == HOST:
        raise ValueError("calibration needs instruction counts: a Cortex-M target")
    model, training, _ = read_bundle(bundle)
    report, binary = _run(bundle, target, work, steps, profile=False, samples=samples, runtime=runtime)
    figures = measured_figures(binary, report, training.batch_size)
    design = Design(model.spec, training.trainable, training.config, training.lambda_min, training.lambda_max,
                    training.batch_size, kept_rates(report, training.trainable))
    calls: dict[tuple[int, str], float] = {}
    if profile:
        profiled, _ = _run(bundle, target, work, steps, profile=True, samples=samples, runtime=runtime)
        calls = {(layer, EVENTS[event]): total / count for (layer, event), (total, count) in profiled.profile.items()}
    return Measurement(bundle, design, calls, figures["instructions_per_train_sample"],
                       figures["instructions_per_inference"], figures["flash_bytes"], figures["sram_bytes"])


# --- kernel costs ------------------------------------------------------------------------------------------


def _rows(measurements: list[Measurement], events: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units of work per column, measured instructions and the call's design total (its design's
    instructions per sample, per minibatch for an update), one row per profiled kernel call (its
    event name is appended to ``events`` when given)."""
    index = {column: k for k, column in enumerate(COLUMNS)}
    rows, targets, totals = [], [], []
    for m in measurements:
        for work in layer_work(m.design):
            measured = m.calls.get((work.layer, work.event))
            if not measured:
                continue
            row = np.zeros(len(COLUMNS))
            for key, units in work.units.items():
                row[index[key]] += units
            rows.append(row)
            targets.append(measured)
            totals.append(m.per_sample * (m.design.batch_size if work.phase == "update" else 1))
            if events is not None:
                events.append(work.event)
    return np.array(rows), np.array(targets), np.array(totals)


def fit_kernels(measurements: list[Measurement], prior: dict[str, KernelCost],
                pinned: dict[tuple[str, str], float] | None = None) -> tuple[dict[str, KernelCost], dict]:
    """Instructions per unit of every kernel and precision: non-negative least squares over the
    profiled calls, each call's error relative to the geometric mean of the call and its design's
    total (a call's own relative error alone lets a few-instruction call outweigh the calls that
    make up a design's latency; the design's share alone neglects small calls).  ``pinned`` columns (e.g. MAC costs measured by a kernel
    microbenchmark) are not fitted: their work is subtracted first, so collinear columns cannot
    trade their figures.  A column no call exercised keeps the prior figure; the returned ``info``
    names them and gives the fit's residual."""
    from scipy.optimize import nnls

    pinned = pinned or {}
    events: list[str] = []
    a, b, totals = _rows(measurements, events)
    if not len(b):
        raise ValueError("no profiled kernel calls to fit")
    costs = np.array([pinned.get(column, getattr(prior[column[0]], column[1])) for column in COLUMNS], float)
    is_pinned = np.array([column in pinned for column in COLUMNS])
    free = (a.sum(axis=0) > 0) & ~is_pinned
    weights = 1.0 / np.sqrt(b * totals)
    rest = b - a[:, is_pinned] @ costs[is_pinned]
    solution, _ = nnls(a[:, free] * weights[:, None], rest * weights)
    costs[free] = solution
    fitted = {}
    for kernel in KERNELS:
        values = {p: float(costs[COLUMNS.index((kernel, p))]) for p in PRECISIONS}
        # a cost the fit drove to 0 (the work is absorbed by another column) keeps a floor of 0.05
        fitted[kernel] = {p: max(v, 0.05) for p, v in values.items()}
    predicted = a @ costs
    info = {"calls": int(len(b)), "pinned": {f"{k}.{p}": v for (k, p), v in pinned.items()},
            "unfitted": [f"{k}.{p}" for (k, p), u, fixed in zip(COLUMNS, a.sum(axis=0) > 0, is_pinned)
                         if not u and not fixed],
            "call_mape_pct": float(100 * np.mean(np.abs(predicted - b) / b)),
            "call_mape_pct_by_event": {e: float(100 * np.mean([abs(p - q) / q for p, q, f in zip(predicted, b, events)
                                                              if f == e])) for e in sorted(set(events))}}
    return fitted, info


def predict_instructions(design: Design, kernels: dict[str, dict[str, float]]) -> float:
    """Instructions per training sample (update amortised over the minibatch) with ``kernels``."""
    total = 0.0
    for work in layer_work(design):
        units = sum(n * kernels[k][p] for (k, p), n in work.units.items())
        total += units / design.batch_size if work.phase == "update" else units
    return total


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def evaluate(measurements: list[Measurement], kernels: dict[str, dict[str, float]]) -> dict:
    """Predicted against measured instructions per training sample on held-out designs."""
    predicted = [predict_instructions(m.design, kernels) for m in measurements]
    measured = [m.per_sample for m in measurements]
    errors = [100.0 * (p - q) / q for p, q in zip(predicted, measured)]
    return {"designs": len(measurements), "mape_pct": float(np.mean(np.abs(errors))),
            "max_abs_error_pct": float(np.max(np.abs(errors))), "spearman": spearman(predicted, measured),
            "rows": [{"bundle": str(m.bundle), "config": m.design.config, "predicted": p, "measured": q,
                      "error_pct": e} for m, p, q, e in zip(measurements, predicted, measured, errors)]}


# --- runtime footprint -------------------------------------------------------------------------------------


def fit_footprint(measurements: list[Measurement]) -> dict[str, float]:
    """Runtime code and table bytes from flash, static and per-layer SRAM, by least squares:
    flash - model parameters = code + layer_record * layers + tensor_record * buffers, and
    SRAM - arena - trainable state = statics + layer_state * layers + integer_stack * [a uint8 layer]
    + integer_training_stack * [a uint8 conv-family backward kernel runs]
    + integer_depthwise_stack * [a uint8 depthwise layer, no such backward kernel] (see cost.pricing)."""
    flash_rows, flash_b, sram_rows, sram_b = [], [], [], []
    for m in measurements:
        plans = plan_design(m.design)
        params = model_flash(m.design.spec, m.design.trainable, m.design.config)["total"]
        layers = len(m.design.spec.layers)
        buffers = len(plans.training.buffers) + len(plans.inference.buffers)
        flash_rows.append([1.0, layers, buffers])
        flash_b.append(m.flash_bytes - params)
        d = m.design
        sram_rows.append([1.0, layers, float(d.runs_integer_layers), float(d.runs_integer_conv_backward),
                          float(d.runs_integer_depthwise and not d.runs_integer_conv_backward)])
        sram_b.append(m.sram_bytes - max(plans.training.size, plans.inference.size) - plans.trainable["total"])
    code, layer_record, tensor_record = np.linalg.lstsq(np.array(flash_rows), np.array(flash_b), rcond=None)[0]
    statics, layer_state, integer_stack, training_stack, depthwise_stack = np.linalg.lstsq(
        np.array(sram_rows), np.array(sram_b), rcond=None)[0]
    return {"code_bytes": float(code), "layer_record_bytes": float(layer_record),
            "tensor_record_bytes": float(tensor_record), "statics_bytes": float(statics),
            "layer_state_bytes": float(layer_state), "integer_stack_bytes": float(integer_stack),
            "integer_training_stack_bytes": float(training_stack),
            "integer_depthwise_stack_bytes": float(depthwise_stack)}


def calibrated_board(board: BoardProfile, kernels: dict[str, dict[str, float]], footprint: dict[str, float],
                     source: str) -> BoardProfile:
    """``board`` with the fitted kernel costs and runtime footprint."""
    new_kernels = {k: KernelCost(uint8=v["uint8"], float32=v["float32"], source=source) for k, v in kernels.items()}
    runtime = board.runtime.model_copy(update={k: Figure(value=max(0.0, round(v, 1)), source=source)
                                               for k, v in footprint.items()})
    return board.model_copy(update={"kernels": new_kernels, "runtime": runtime})


def footprint_errors(measurements: list[Measurement], board: BoardProfile) -> dict:
    """Flash and SRAM of the cost model (with ``board``'s figures) against the measured ones."""
    rows = []
    for m in measurements:
        cost = cost_on_board(m.design, board)
        rows.append({"bundle": str(m.bundle), "config": m.design.config,
                     "flash": [cost.flash_bytes.total, m.flash_bytes],
                     "sram": [cost.sram_bytes.total, m.sram_bytes]})
    flash = np.array([100.0 * (p - q) / q for p, q in (r["flash"] for r in rows)])
    sram = np.array([100.0 * (p - q) / q for p, q in (r["sram"] for r in rows)])
    return {"flash_max_abs_error_pct": float(np.max(np.abs(flash))),
            "flash_mean_abs_error_pct": float(np.mean(np.abs(flash))),
            "sram_max_abs_error_pct": float(np.max(np.abs(sram))), "sram_mean_abs_error_pct": float(np.mean(np.abs(sram))),
            "rows": rows}


# --- writing a profile -------------------------------------------------------------------------------------


def _number(value: float) -> str:
    text = f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return text if "e" not in text else f"{value:.1f}"


def write_profile(path: Path, kernels: dict[str, dict[str, float]], footprint: dict[str, float], sources: dict,
                  notes: dict) -> None:
    """Rewrite the ``kernels:`` and ``runtime:`` entries of a profile file in place (other lines kept),
    with ``sources["kernels"]`` / ``sources["runtime"]`` (written once, as a YAML anchor on the block's
    first entry); the comments above the two blocks become ``notes["kernels"]`` / ``notes["runtime"]``."""
    from explore.io import write_text_atomic

    text = Path(path).read_text()

    def source(block: str, first: bool) -> str:
        quoted = '"' + sources[block].replace('"', "'") + '"'
        return f"&{block}_source {quoted}" if first else f"*{block}_source"

    missing = [k for k in kernels if not re.search(rf"^  {k}:", text, flags=re.M)]
    if missing:
        raise ValueError(f"{path}: no kernels.{missing[0]} line to replace")
    # the anchor must come before its aliases: the block's first line in the file carries it
    in_file = sorted(kernels, key=lambda k: re.search(rf"^  {k}:", text, flags=re.M).start())
    for k, kernel in enumerate(in_file):
        values = kernels[kernel]
        line = (f"  {kernel}: {{uint8: {_number(values['uint8'])}, float32: {_number(values['float32'])}, "
                f"source: {source('kernels', k == 0)}}}")
        text = re.sub(rf"^  {kernel}:.*$", line, text, count=1, flags=re.M)
    # a new figure goes to the end of the block, so the line that carries the anchor stays first
    for key in [k for k in footprint if not re.search(rf"^  {k}:", text, flags=re.M)]:
        text = re.sub(r"^(runtime:\n(?:  [^\n]*\n)*)", rf"\g<1>  {key}: x\n", text, count=1, flags=re.M)
    order = sorted(footprint, key=lambda k: re.search(rf"^  {k}:", text, flags=re.M).start())
    for k, key in enumerate(order):
        line = f"  {key}: {{value: {max(0, round(footprint[key]))}, source: {source('runtime', k == 0)}}}"
        text = re.sub(rf"^  {key}:.*$", line, text, count=1, flags=re.M)
    for block in ("kernels", "runtime"):
        comment = "".join(f"# {line}\n" if line else "#\n" for line in notes[block].splitlines())
        text = re.sub(rf"(?:^#[^\n]*\n)*(?=^{block}:)", comment, text, count=1, flags=re.M)
    write_text_atomic(Path(path), text)


def profile_notes(core: str, machine: str, designs: int) -> tuple[dict, dict]:
    """Sources and comments :func:`write_profile` puts into a profile calibrated on ``core``."""
    today = datetime.date.today().isoformat()
    sources = {"kernels": f"calibrated: explore bench runtime {today}, QEMU {machine} instruction counts, "
                          f"{designs} generated designs",
               "runtime": f"calibrated: explore bench runtime {today}, sections and stack of {designs} {core} "
                          f"builds under QEMU {machine}"}
    notes = {"kernels": (f"Instructions per unit of work of runtime_c's kernels on {core} (-O2, the DSP path where "
                         "the core has\none), fitted by non-negative least squares to per-kernel instruction "
                         f"counts under QEMU {machine}\n(explore bench runtime; results/bench/runtime.json holds "
                         "the fit and its check on held-out designs).\nPer-call overheads (loop set-up, operand "
                         "regrouping) are folded into the per-unit figures."),
             "runtime": (f"Footprint of runtime_c on {core}, fitted to {designs} builds: code and table bytes from "
                         ".text + .rodata + .data,\nSRAM from .data + .bss + stack high-water mark less arena and "
                         "trainable state (explore bench runtime).")}
    return sources, notes


__all__ = ["Measurement", "measure_design", "fit_kernels", "fit_footprint", "evaluate", "predict_instructions",
           "calibrated_board", "footprint_errors", "write_profile", "spearman"]
