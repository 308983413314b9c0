"""runtime_c against the simulator, bit for bit (issue 7): host under ASan/UBSan and Cortex-M4 under QEMU.

Twenty generated architectures (:mod:`explore.deploy.model_fuzz`: 1-D and 2-D convs, depthwise convs, residual
blocks with and without an activation before the add, max/average/global pooling, dense heads, random
trainable sets and lambda_min) each train for 50 minibatches in all three configurations.  After every
minibatch every trainable array (weights, biases, quantization parameters) must have the simulator's
bits, as must every sample's loss and kept-channel fraction and the logits before and after.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bundles import relist
from explore.deploy import validate as V
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.qemu import missing_tools, INSTALL_HINT

FUZZ_SEEDS = range(20)
STEPS = 50
TOOLS = ("gcc", "cmake", "arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")


@pytest.fixture(scope="session", autouse=True)
def toolchain() -> None:
    missing = missing_tools(TOOLS)
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; install with: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def build_root(tmp_path_factory) -> Path:
    """One build directory per target for this test process, so kernel objects are compiled once."""
    return tmp_path_factory.mktemp("runtime-builds")


def _check(bundle: Path, build_root: Path, steps: int = STEPS) -> dict:
    model, training, manifest = V.read_bundle(bundle)
    options = V.Options(steps=steps, samples=32, infer=2)
    samples = V.make_samples(model, options.samples, 0)
    reference = V.simulate(model, training, *samples, options.steps, options.infer)
    assert len(reference.samples) == steps * training.batch_size
    floats_from = model.spec.float_from(training.config)
    arrays = sum(2 if i >= floats_from else 4 for i in training.trainable)   # w_f, bias_f | w_q, b_q, b_f, qparams
    assert len(reference.params) == steps * arrays
    return {target: V.validate_target(bundle, model, training, manifest, reference, samples, target,
                                      build_root / target, options)
            for target in (V.HOST, "cortex-m4")}


@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_generated_architecture_is_bit_exact(seed: int, config: str, tmp_path: Path, build_root: Path) -> None:
    design = random_design(seed, config)
    bundle = synthetic_bundle(design, tmp_path)
    results = _check(bundle, build_root)
    layers = [type(layer).__name__ for layer in design.spec.layers]
    print(f"seed {seed} {config}: {layers} trainable {design.trainable} lambda_min {design.lambda_min}")
    for target, result in results.items():
        assert result["bit_exact"], f"{target}: {result['first_difference']}"
        assert result["samples_trained"] == STEPS * 4
    m4 = results["cortex-m4"]
    assert m4["measured"]["instructions_per_train_sample"] > 0
    assert m4["measured"]["stack_high_water"] > 0


def test_generated_set_covers_every_layer_kind_and_sparse_updates() -> None:
    designs = [random_design(seed) for seed in FUZZ_SEEDS]
    kinds = {type(layer).__name__ for d in designs for layer in d.spec.layers}
    assert kinds == {"Conv", "Dense", "MaxPool", "AvgPool", "GlobalAvgPool", "Flatten", "Add"}
    assert any(layer.depthwise for d in designs for layer in d.spec.layers if type(layer).__name__ == "Conv")
    assert {len(d.spec.input_shape) for d in designs} == {2, 3}
    assert any(d.lambda_min < 1.0 for d in designs) and any(d.lambda_min == 1.0 for d in designs)
    # an activated layer right before a residual add: the planner's private error copy is exercised
    assert any(type(layer).__name__ == "Add" and getattr(d.spec.layers[i - 1], "activation", "none") != "none"
               for d in designs for i, layer in enumerate(d.spec.layers))


def test_a_bundle_with_the_types_inline_is_bit_exact(tmp_path: Path, build_root: Path) -> None:
    """A bundle as explore wrote it before explore_bundle.h existed (the C types inline in model.h)
    still builds with runtime_c and trains bit for bit."""
    from bundles import with_types_inline

    bundle = with_types_inline(synthetic_bundle(random_design(32, "mixed"), tmp_path / "new"), tmp_path / "old")
    for target, result in _check(bundle, build_root, steps=3).items():
        assert result["bit_exact"], f"{target}: {result['first_difference']}"


def test_a_corrupted_trainable_array_is_caught(tmp_path: Path, build_root: Path) -> None:
    """The comparison can fail: flip one weight of the bundle's C source only."""
    bundle = synthetic_bundle(random_design(3, "uint8"), tmp_path)
    model, training, manifest = V.read_bundle(bundle)
    options = V.Options(steps=2, samples=16, infer=1)
    samples = V.make_samples(model, options.samples, 0)
    reference = V.simulate(model, training, *samples, options.steps, options.infer)
    source = (bundle / "model.c").read_text()
    layer = training.trainable[-1]
    pattern = re.compile(rf"(uint8_t explore_l{layer}_w_q\[\d+\] = {{\n    )(\d+)")
    flipped = pattern.sub(lambda m: m.group(1) + str((int(m.group(2)) + 1) % 256), source, count=1)
    assert flipped != source
    (bundle / "model.c").write_text(flipped)
    result = V.validate_target(bundle, model, training, manifest, reference, samples, V.HOST,
                               build_root / "host-corrupt", options)
    assert not result["bit_exact"]
    assert result["first_difference"].startswith(("logits before training", "step 0, "))


def _explore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], capture_output=True, text=True, timeout=600)


def test_cli_writes_validation_json_with_figures(tmp_path: Path) -> None:
    bundle = synthetic_bundle(random_design(5, "uint8"), tmp_path)
    # every target: the runtime builds warning-free (-Werror) for the host, M0+, M4 and M7 and is exact on each
    done = _explore("validate", str(bundle), "--target", "all", "--steps", "3", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary == json.loads((bundle / "validation.json").read_text())
    assert summary["bit_exact"] is True and summary["steps"] == 3 and summary["target"] == "cortex-m4"
    assert set(summary["targets"]) == {"host", "cortex-m0plus", "cortex-m4", "cortex-m7"}
    assert all(r["bit_exact"] for r in summary["targets"].values())
    for key in ("flash_bytes", "sram_bytes", "instructions_per_train_sample"):
        measured, predicted = summary["measured"][key], summary["predicted"][key]
        assert measured > 0 and predicted > 0
        assert summary["error_pct"][key] == pytest.approx(100 * (predicted - measured) / measured)
    sections = summary["measured"]["sections"]
    assert summary["measured"]["sram_bytes"] == sections["data"] + sections["bss"] + summary["measured"]["stack_high_water"]


def _one_line_exit_2(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_bundles_get_one_line_and_status_2(tmp_path: Path) -> None:
    _one_line_exit_2(_explore("validate", str(tmp_path)), "not a bundle")
    bundle = synthetic_bundle(random_design(6, "uint8"), tmp_path / "b")
    manifest = json.loads((bundle / "manifest.json").read_text())

    wrong = json.loads(json.dumps(manifest))
    wrong["format"] = "explore.bundle/9"
    (bundle / "manifest.json").write_text(json.dumps(wrong))
    _one_line_exit_2(_explore("validate", str(bundle)), "manifest.json", "explore.bundle/9")
    (bundle / "manifest.json").write_text(json.dumps(manifest))

    header = (bundle / "model.h").read_text()
    cases = {
        "wrong bundle format": header.replace('"explore.bundle/1"', '"explore.bundle/2"'),
        "arena plan": re.sub(r"#define EXPLORE_ARENA_BYTES (\d+)",
                             lambda m: f"#define EXPLORE_ARENA_BYTES {int(m.group(1)) - 8}", header),
    }
    # edited by hand and listed anew in the manifest, so that runtime_c, not the sha256 check, refuses them
    for message, text in cases.items():
        (bundle / "model.h").write_text(text)
        relist(bundle)
        _one_line_exit_2(_explore("validate", str(bundle), "--steps", "1"), "runtime_c refused it", message)
    (bundle / "model.h").write_text(header)

    source = (bundle / "model.c").read_text()
    bad_count = re.sub(r"\.weight_count = (\d+)", lambda m: f".weight_count = {int(m.group(1)) + 1}", source, count=1)
    (bundle / "model.c").write_text(bad_count)
    relist(bundle)
    _one_line_exit_2(_explore("validate", str(bundle), "--steps", "1"), "tensor size mismatch")
    assert not (bundle / "validation.json").exists()
