"""Validation of a bundle on its target: runtime_c against the simulator, step by step.

:func:`simulate` trains the bundle's model with the JAX simulator on a fixed sample sequence and
records everything the C harness reports (losses, kept-channel fractions, every trainable array
after each minibatch, logits before and after).  :func:`write_harness_data` writes the same samples
as C; :func:`run_harness` builds ``runtime_c`` with the bundle for a target (host, or a Cortex-M core
under QEMU) and parses its report; :func:`compare` says whether the two agree bit for bit and where
they first differ.  ``explore validate`` (:mod:`explore.deploy.validation`) strings them together.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from explore.errors import BadInput
from explore.deploy.c_reader import load_bundle
from explore.deploy.c_writer import state_floats as runtime_state_floats
from explore.deploy.integrity import checked_manifest
from explore.fqt import simulator as sim
from explore.model.deployable import QuantizedModel
from explore.deploy.qemu import RUNTIME_DIR, TARGETS, configure_and_build, run_image

HOST = "host"
ALL_TARGETS = (HOST, *TARGETS)


class RuntimeRefused(Exception):
    """runtime_c's explore_init returned an error status for the bundle."""


@dataclass(frozen=True)
class Training:
    """The on-device training a bundle is compiled for (manifest ``training``)."""

    config: str
    trainable: tuple[int, ...]
    lambda_min: float
    lambda_max: float
    lr: float
    batch_size: int


@dataclass
class Report:
    """What one side (simulator or C harness) reported; arrays as raw little-endian bytes."""

    infer_before: dict[int, bytes] = field(default_factory=dict)
    infer_after: dict[int, bytes] = field(default_factory=dict)
    samples: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)   # index -> (loss, kept)
    params: dict[tuple[int, int, str], bytes] = field(default_factory=dict)  # (step, layer, name) -> bytes
    sample_instructions: dict[int, int] = field(default_factory=dict)
    update_instructions: dict[int, int] = field(default_factory=dict)
    infer_instructions: list[int] = field(default_factory=list)
    profile: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (layer, event) -> (instr, calls)
    stack_high_water: int = 0
    counts_instructions: bool = False


# --- the bundle --------------------------------------------------------------------------------------------


def read_bundle(bundle_dir: Path) -> tuple[QuantizedModel, Training, dict]:
    """The model, its training configuration and the manifest, once the bundle is as exported
    (:func:`~explore.deploy.integrity.checked_manifest`); BadInput for anything unusable."""
    bundle_dir = Path(bundle_dir)
    manifest = checked_manifest(bundle_dir)
    t = manifest["training"]
    try:
        training = Training(str(t["config"]), tuple(int(i) for i in t["trainable"]), float(t["lambda_min"]),
                            float(t["lambda_max"]), float(t["lr"]), int(t["batch_size"]))
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{bundle_dir / 'manifest.json'}: training section is incomplete ({e})") from None
    return load_bundle(bundle_dir), training, manifest


def make_samples(model: QuantizedModel, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` inputs spread over the input's quantization range (a little beyond, to exercise the
    clamp) and random labels; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    q = model.input_quant
    low = float((0 - q.zero) * q.scale)
    high = float((255 - q.zero) * q.scale)
    span = high - low
    x = rng.uniform(low - 0.05 * span, high + 0.05 * span, size=(count, *model.spec.input_shape))
    y = rng.integers(0, model.spec.num_classes, size=count)
    return x.astype(np.float32), y.astype(np.int32)


def state_floats(model: QuantizedModel, trainable: tuple[int, ...]) -> int:
    """Floats of gradient buffers and statistics runtime_c needs (weights + 3 per channel + 1)."""
    return runtime_state_floats(model.spec, trainable)


# --- the simulator's side ----------------------------------------------------------------------------------


def _param_bytes(plan: sim.Plan, layer: int, p: dict) -> dict[str, bytes]:
    if plan.is_float(layer):
        return {"w_f": np.asarray(p["w"], "<f4").tobytes(), "bias_f": np.asarray(p["b"], "<f4").tobytes()}
    qparams = (np.asarray(p["w_scale"], "<f4").tobytes() + np.asarray(p["w_zero"], "<i4").tobytes()
               + np.asarray(p["m0"], "<i4").tobytes() + np.asarray(p["shift"], "<i4").tobytes())
    return {"w_q": np.asarray(p["w_q"], np.uint8).tobytes(), "b_q": np.asarray(p["b_q"], "<i4").tobytes(),
            "b_f": np.asarray(p["b_f"], "<f4").tobytes(), "qparams": qparams}


def simulate(model: QuantizedModel, training: Training, x: np.ndarray, y: np.ndarray, steps: int,
             infer: int, dump_every: int = 1) -> Report:
    """The simulator's report for ``steps`` minibatches of ``training.batch_size`` samples taken from
    ``x`` in order (cycling), as the harness takes them."""
    plan = sim.make_plan(model, training.config, training.trainable, training.lambda_min)
    trainable, frozen = sim.split_weights(plan, model)
    consts = sim.runtime_constants(model)
    hyper = sim.Hyper(jnp.float32(training.lr), jnp.float32(training.lambda_min), jnp.float32(training.lambda_max))
    step_fn = jax.jit(partial(sim.train_step, plan))
    infer_plan = sim.inference_plan(model, training.config)
    logits_fn = jax.jit(lambda w, c, xb: sim.forward(infer_plan, w, c, xb, keep=False)[0])
    report = Report()
    probe = x[np.arange(infer) % len(x)]
    report.infer_before = _logits(logits_fn, {**frozen, **trainable}, consts, probe)
    b = training.batch_size
    valid = np.ones(b, bool)
    loss_max = jnp.float32(0.0)
    for step in range(steps):
        index = (step * b + np.arange(b)) % len(x)
        out = step_fn(trainable, frozen, consts, x[index], y[index], valid, loss_max, hyper)
        trainable, loss_max = out.trainable, out.loss_max
        losses = np.asarray(out.losses, "<f4")
        kept = np.stack([np.asarray(out.kept[i], "<f4") for i in training.trainable], axis=1)
        for k in range(b):
            report.samples[step * b + k] = (losses[k].tobytes(), kept[k].tobytes())
        if dump_every and (step + 1) % dump_every == 0:
            for layer in training.trainable:
                for name, data in _param_bytes(plan, layer, trainable[layer]).items():
                    report.params[(step, layer, name)] = data
    report.infer_after = _logits(logits_fn, {**frozen, **trainable}, consts, probe)
    return report


def _logits(logits_fn, weights: dict, consts: dict, probe: np.ndarray) -> dict[int, bytes]:
    logits = np.asarray(logits_fn(weights, consts, jnp.asarray(probe)), "<f4")
    return {k: logits[k].tobytes() for k in range(len(probe))}


# --- the C side --------------------------------------------------------------------------------------------


def _c_floats(values: np.ndarray) -> str:
    items = [float(v).hex() + "f" if np.isfinite(v) else "0.0f" for v in np.asarray(values, np.float32).reshape(-1)]
    return ",\n".join(", ".join(items[k:k + 6]) for k in range(0, len(items), 6))


def write_harness_data(out_dir: Path, x: np.ndarray, y: np.ndarray, batch: int, steps: int, infer: int,
                       dump_every: int, floats: int) -> None:
    """``harness_data.h`` / ``harness_data.c`` for runtime_c/harness/harness.c."""
    out_dir.mkdir(parents=True, exist_ok=True)
    size = math.prod(x.shape[1:])
    defines = {"EXPLORE_HARNESS_SAMPLES": len(x), "EXPLORE_HARNESS_INPUT_SIZE": size,
               "EXPLORE_HARNESS_BATCH": batch, "EXPLORE_HARNESS_STEPS": steps, "EXPLORE_HARNESS_INFER": infer,
               "EXPLORE_HARNESS_DUMP_EVERY": dump_every, "EXPLORE_HARNESS_STATE_FLOATS": max(floats, 1)}
    header = ("#ifndef EXPLORE_HARNESS_DATA_H\n#define EXPLORE_HARNESS_DATA_H\n#include <stdint.h>\n"
              + "".join(f"#define {k} {v}u\n" for k, v in defines.items())
              + "extern const float explore_harness_inputs[];\nextern const int32_t explore_harness_labels[];\n"
              "#endif\n")
    source = ('#include "harness_data.h"\n'
              f"const float explore_harness_inputs[{x.size}] = {{\n{_c_floats(x)}\n}};\n"
              f"const int32_t explore_harness_labels[{len(y)}] = {{{', '.join(str(int(v)) for v in y)}}};\n")
    (out_dir / "harness_data.h").write_text(header)
    (out_dir / "harness_data.c").write_text(source)


def build_harness(bundle_dir: Path, data_dir: Path, build_dir: Path, target: str, sanitize: bool = False,
                  dsp: bool = True, profile: bool = False, runtime: Path = RUNTIME_DIR) -> Path:
    """Configure and build the harness of ``runtime`` (a runtime_c tree; another checkout's for a
    before/after comparison); returns the executable (host) or ELF image (Cortex-M)."""
    on = {True: "ON", False: "OFF"}
    cache = {"EXPLORE_BUNDLE": str(Path(bundle_dir).resolve()), "EXPLORE_HARNESS_DIR": str(data_dir.resolve()),
             "EXPLORE_DSP": on[dsp], "EXPLORE_PROFILE": on[profile], "CMAKE_BUILD_TYPE": "Release"}
    toolchain = None
    if target == HOST:
        cache["EXPLORE_SANITIZE"] = "ON" if sanitize else "OFF"
    else:
        from explore.deploy.qemu import TOOLCHAIN_FILE

        toolchain = TOOLCHAIN_FILE
        cache["EXPLORE_CPU"] = TARGETS[target].cpu
    configure_and_build(runtime, build_dir, toolchain, cache)
    return build_dir / ("harness" if target == HOST else "harness.elf")


def run_harness(binary: Path, target: str, timeout_s: float) -> tuple[int, str]:
    """Exit status and text output of the harness."""
    if target == HOST:
        done = subprocess.run([str(binary)], capture_output=True, timeout=timeout_s)
        if done.stderr:
            raise RuntimeError(f"{binary}: {done.stderr.decode(errors='replace')[-3000:]}")
        return done.returncode, done.stdout.decode()
    result = run_image(binary, TARGETS[target].machine, timeout_s)
    return result.status, result.stdout.decode(errors="replace")


def parse_report(text: str) -> Report:
    """The harness's lines as a :class:`Report` (see runtime_c/harness/harness.c)."""
    report = Report()
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag in ("I", "F"):
            target = report.infer_before if tag == "I" else report.infer_after
            target[int(parts[1], 16)] = bytes.fromhex(parts[2])
            if tag == "F":
                report.infer_instructions.append(int(parts[3], 16))
        elif tag == "S":
            index = int(parts[2], 16)
            report.samples[index] = (bytes.fromhex(parts[3]), bytes.fromhex(parts[4]))
            report.sample_instructions[index] = int(parts[5], 16)
        elif tag == "U":
            report.update_instructions[int(parts[1], 16)] = int(parts[2], 16)
        elif tag == "P":
            report.params[(int(parts[1], 16), int(parts[2], 16), parts[3])] = bytes.fromhex(parts[4])
        elif tag == "K":
            report.profile[(int(parts[1], 16), int(parts[2], 16))] = (int(parts[3], 16), int(parts[4], 16))
        elif tag == "M":
            report.stack_high_water = int(parts[1], 16)
            report.counts_instructions = parts[2] == "1"
        elif tag == "X":
            status = int(parts[1], 16) - (1 << 32)
            raise RuntimeRefused(f"runtime_c refused it: status {status} ({' '.join(parts[2:])})")
    return report


# --- comparison --------------------------------------------------------------------------------------------


def _first_float_difference(a: bytes, b: bytes, dtype: str) -> str:
    x, y = np.frombuffer(a, dtype), np.frombuffer(b, dtype)
    if x.shape != y.shape:
        return f"{len(x)} against {len(y)} elements"
    where = np.flatnonzero(x.view(np.uint8 if dtype == "u1" else np.uint32) != y.view(np.uint8 if dtype == "u1"
                                                                                      else np.uint32))
    k = int(where[0])
    return f"{len(where)} of {len(x)} elements differ, first at [{k}]: C {x[k]!r}, simulator {y[k]!r}"


_DTYPES = {"w_q": "u1", "b_q": "<i4", "qparams": "<i4", "b_f": "<f4", "w_f": "<f4", "bias_f": "<f4"}


def _differs(what: str, a: bytes | None, b: bytes, dtype: str) -> str:
    return f"{what}: " + (_first_float_difference(a, b, dtype) if a is not None else "missing from the C report")


def compare(c: Report, simulator: Report, batch_size: int) -> tuple[bool, str]:
    """``(bit_exact, first difference)``: logits before training, then step by step each sample's
    loss and kept fractions and the trainable arrays after the update, then logits after training."""
    for k in sorted(simulator.infer_before):
        if c.infer_before.get(k) != simulator.infer_before[k]:
            return False, _differs(f"logits before training, sample {k}", c.infer_before.get(k),
                                   simulator.infer_before[k], "<f4")
    steps = max([i // batch_size for i in simulator.samples] + [s for s, _, _ in simulator.params] + [-1]) + 1
    for step in range(steps):
        for index in range(step * batch_size, (step + 1) * batch_size):
            mine, theirs = c.samples.get(index), simulator.samples.get(index)
            if theirs is None or mine == theirs:
                continue
            if mine is None or mine[0] != theirs[0]:
                return False, _differs(f"step {step}, sample {index}, loss", mine and mine[0], theirs[0], "<f4")
            return False, _differs(f"step {step}, sample {index}, kept-channel fractions", mine[1], theirs[1], "<f4")
        for key in sorted(k for k in simulator.params if k[0] == step):
            if c.params.get(key) != simulator.params[key]:
                _, layer, name = key
                return False, _differs(f"step {step}, layer {layer}, {name}", c.params.get(key),
                                       simulator.params[key], _DTYPES[name])
    for k in sorted(simulator.infer_after):
        if c.infer_after.get(k) != simulator.infer_after[k]:
            return False, _differs(f"logits after training, sample {k}", c.infer_after.get(k),
                                   simulator.infer_after[k], "<f4")
    return True, ""


# --- one bundle on its targets -----------------------------------------------------------------------------

#: The board whose profile prices a core when the bundle's own board has another core.
BOARD_OF_CORE = {"cortex-m0plus": "rp2040", "cortex-m4": "nrf52840", "cortex-m7": "imxrt1062"}
HARNESS_DATA_SYMBOLS = ("explore_harness_inputs", "explore_harness_labels")


@dataclass(frozen=True)
class Options:
    steps: int = 50
    samples: int = 64
    infer: int = 4
    seed: int = 0
    sanitize: bool = True   # host builds run under ASan and UBSan
    dsp: bool = True
    timeout_s: float = 900.0


def _mean(values) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else 0.0


def measured_figures(elf: Path, report: Report, batch_size: int) -> dict:
    """Flash (.text + .rodata + .data without the harness's sample arrays), SRAM (.data + .bss, which
    hold the arena and the training state, + the stack high-water mark) and instruction counts."""
    from explore.deploy.qemu import section_sizes, symbol_size

    sections = section_sizes(elf)
    samples = sum(symbol_size(elf, name) for name in HARNESS_DATA_SYMBOLS)
    per_sample = _mean(report.sample_instructions.values()) + _mean(report.update_instructions.values()) / batch_size
    return {"flash_bytes": sections["text"] + sections["rodata"] + sections["data"] - samples,
            "sram_bytes": sections["data"] + sections["bss"] + report.stack_high_water,
            "instructions_per_train_sample": per_sample,
            "instructions_per_inference": _mean(report.infer_instructions),
            "sections": sections, "stack_high_water": report.stack_high_water}


def kept_rates(report: Report, trainable: tuple[int, ...]) -> dict[int, float]:
    """Mean kept-channel fraction per trainable layer over the run's samples."""
    rows = [np.frombuffer(kept, "<f4") for _, kept in report.samples.values()]
    means = np.mean(rows, axis=0) if rows else np.ones(len(trainable))
    return {layer: float(means[k]) for k, layer in enumerate(trainable)}


def predicted_figures(model: QuantizedModel, training: Training, board_name: str, rates: dict[int, float]) -> dict:
    """The cost model's figures for the same design on ``board_name``, priced with the run's update rates."""
    from explore.cost import Design, cost_on_board
    from explore.campaign.boards import find_board

    design = Design(model.spec, training.trainable, training.config, training.lambda_min, training.lambda_max,
                    training.batch_size, rates)
    cost = cost_on_board(design, find_board(board_name, Path(".")))
    return {"flash_bytes": cost.flash_bytes.total, "sram_bytes": cost.sram_bytes.total,
            "instructions_per_train_sample": cost.instructions.train_sample,
            "instructions_per_inference": cost.instructions.inference, "board": board_name}


#: The figures a Cortex-M target's validation predicts and measures (validation.json keys), with labels.
COMPARED_FIGURES = {"flash_bytes": "flash (bytes)", "sram_bytes": "SRAM (bytes)",
                    "instructions_per_train_sample": "instructions / training sample",
                    "instructions_per_inference": "instructions / inference"}


def error_pct(predicted: dict, measured: dict) -> dict:
    return {k: 100.0 * (predicted[k] - measured[k]) / measured[k] for k in COMPARED_FIGURES if measured.get(k)}


def board_for(target: str, manifest: dict) -> str:
    board = manifest.get("board") or {}
    return board.get("name") if board.get("core") == target else BOARD_OF_CORE[target]


def validate_target(bundle_dir: Path, model: QuantizedModel, training: Training, manifest: dict,
                    reference: Report, samples: tuple[np.ndarray, np.ndarray], target: str, work_dir: Path,
                    options: Options) -> dict:
    """Build and run the harness for ``target``; compare with ``reference`` (the simulator's report)."""
    x, y = samples
    write_harness_data(work_dir / "data", x, y, training.batch_size, options.steps, options.infer, 1,
                       state_floats(model, training.trainable))
    try:
        binary = build_harness(bundle_dir, work_dir / "data", work_dir / f"build-{target}", target,
                               sanitize=options.sanitize and target == HOST, dsp=options.dsp)
    except RuntimeError as e:
        error = next((line for line in str(e).splitlines() if "error:" in line), str(e).splitlines()[0])
        raise BadInput(f"{bundle_dir}: does not build with runtime_c for {target}: {error.strip()}") from None
    status, text = run_harness(binary, target, options.timeout_s)
    try:
        report = parse_report(text)
    except RuntimeRefused as e:
        raise BadInput(f"{bundle_dir}: {e} on {target}") from None
    if status != 0:
        raise RuntimeError(f"the {target} harness exited with status {status}: {text[-500:]}")
    exact, difference = compare(report, reference, training.batch_size)
    result: dict = {"target": target, "bit_exact": exact, "first_difference": difference or None,
                    "steps": options.steps, "samples_trained": len(report.samples)}
    if target == HOST:
        result["sanitizers"] = ["address", "undefined"] if options.sanitize else []
        return result
    measured = measured_figures(binary, report, training.batch_size)
    predicted = predicted_figures(model, training, board_for(target, manifest), kept_rates(report, training.trainable))
    result.update(measured=measured, predicted=predicted, error_pct=error_pct(predicted, measured),
                  dsp=options.dsp, machine=TARGETS[target].machine)
    return result
