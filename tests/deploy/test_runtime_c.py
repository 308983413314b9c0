"""runtime_c's own tests: golden-vector unit tests (ctest) and the loader fuzz, under ASan + UBSan.

* The ctest suite (runtime_c/tests/test_*.c) compares every C kernel bit for bit with golden vectors
  that runtime_c/tests/make_golden.py computes with the simulator's own functions; the committed
  headers must equal a fresh regeneration, so the vectors cannot drift from explore.fqt.
* runtime_c/tests/fuzz_loader.c mutates the description of a bundle thousands of times and calls
  explore_init / infer / train / update; it must never touch memory out of bounds, and targeted
  corruptions must be refused with the right status.

cmake and gcc are required (``apt-get install cmake gcc``); these tests fail, never skip, without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime_c"
GOLDEN = RUNTIME / "tests" / "golden"
INSTALL_HINT = "runtime_c tests need cmake and gcc: apt-get install cmake gcc"
#: one 1-D design (uint8, max pooling, sparse updates from layer 0) and one 2-D design with a residual
#: add (mixed configuration, float head); see explore.deploy.model_fuzz.random_design
FUZZ_SEEDS = (27, 32)
FUZZ_ITERATIONS = 20000
SANITIZER_MARKERS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "LeakSanitizer")
TARGETED = {
    "wrong format string": -2,
    "arena one byte smaller": -6,
    "arena one byte smaller than EXPLORE_ARENA_BYTES": -6,
    "training input buffer one byte too small": -5,
    "dlogits buffer one byte too small": -5,
    "training input buffer beyond the arena": -5,
    "dlogits buffer ending past the arena": -5,
    "state one byte too small": -7,
    "state one float too small": -7,
    "original bundle": 0,
}


def _require_tools() -> None:
    missing = [tool for tool in ("cmake", "gcc") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found; {INSTALL_HINT}", pytrace=False)


def _run(cmd: list, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def _build(build_dir: Path, *options: str) -> None:
    _check(_run(["cmake", "-S", RUNTIME, "-B", build_dir, *options]), "cmake configure")
    _check(_run(["cmake", "--build", build_dir, "-j2"]), "cmake build")


def _sanitizer_output(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(marker in line for marker in SANITIZER_MARKERS)]


# --- golden-vector unit tests -------------------------------------------------------------------------


def test_ctest_suite_under_sanitizers(tmp_path):
    _require_tools()
    build = tmp_path / "rt"
    _build(build, "-DEXPLORE_SANITIZE=ON")
    result = _run(["ctest", "--test-dir", build, "--output-on-failure"])
    _check(result, "ctest")
    for name in ("test_quant", "test_fmath", "test_conv", "test_pool_add", "test_loss_select", "test_update"):
        assert re.search(rf"\b{name} \.+\s+Passed", result.stdout), f"{name} did not run:\n{result.stdout}"
    assert not _sanitizer_output(result.stdout + result.stderr)


def test_golden_headers_match_the_simulator(tmp_path):
    out = tmp_path / "golden"
    result = _run([sys.executable, RUNTIME / "tests" / "make_golden.py", out], cwd=ROOT)
    _check(result, "make_golden.py")
    committed = sorted(p.name for p in GOLDEN.glob("*.h"))
    fresh = sorted(p.name for p in out.glob("*.h"))
    assert fresh == committed
    for name in fresh:
        assert (out / name).read_bytes() == (GOLDEN / name).read_bytes(), (
            f"runtime_c/tests/golden/{name} differs from a fresh `python runtime_c/tests/make_golden.py`")


# --- loader fuzz ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_binaries(tmp_path_factory) -> dict[int, Path]:
    """fuzz_loader built (ASan + UBSan) for each synthetic bundle of FUZZ_SEEDS."""
    _require_tools()
    from explore.model.spec import Add
    from explore.deploy.model_fuzz import random_design, synthetic_bundle

    root = tmp_path_factory.mktemp("fuzz")
    designs = {seed: random_design(seed) for seed in FUZZ_SEEDS}
    assert {len(d.spec.input_shape) - 1 for d in designs.values()} == {1, 2}
    assert any(isinstance(layer, Add) for d in designs.values() for layer in d.spec.layers)
    binaries = {}
    for seed, design in designs.items():
        bundle = synthetic_bundle(design, root / "bundles")
        build = root / f"build{seed}"
        _build(build, "-DEXPLORE_FUZZ_LOADER=ON", f"-DEXPLORE_BUNDLE={bundle}")
        binaries[seed] = build / "fuzz_loader"
    return binaries


def _parse(stdout: str) -> tuple[dict[str, tuple[int, str]], dict[int, int], int, int]:
    targeted = {m[1]: (int(m[2]), m[3]) for m in re.finditer(r"^targeted (.+): got (-?\d+) .* (ok|FAIL)$", stdout, re.M)}
    refused = {int(m[1]): int(m[2]) for m in re.finditer(r"^refused (-\d+) \(.*\): (\d+)$", stdout, re.M)}
    exercised = int(re.search(r"^accepted and exercised: (\d+)$", stdout, re.M)[1])
    moved = int(re.search(r"^accepted with a moved or renamed training buffer \(not exercised\): (\d+)$", stdout,
                          re.M)[1])
    return targeted, refused, exercised, moved


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_loader_fuzz(fuzz_binaries, seed):
    # --exercise-moved runs plans whose buffers were moved or renamed (explore_init must refuse any
    # that overlap live buffers); --extreme-scales saturates int32 biases (additions must wrap, not overflow)
    result = _run([fuzz_binaries[seed], FUZZ_ITERATIONS, seed, "--exercise-moved", "--extreme-scales"])
    print(result.stdout[-1500:])
    assert not _sanitizer_output(result.stderr + result.stdout), result.stderr[-6000:]
    assert result.returncode == 0, result.stdout[-3000:]
    targeted, refused, exercised, _ = _parse(result.stdout)
    for name, status in TARGETED.items():
        assert targeted.get(name, (None,))[0] == status, f"targeted case {name!r}: {targeted.get(name)}"
    weight_cases = [k for k in targeted if "weight_count" in k]
    assert weight_cases and all(targeted[k][0] == -4 for k in weight_cases)
    assert all(verdict == "ok" for _, verdict in targeted.values())
    assert exercised > 100, "too few mutated descriptions were accepted to exercise the runtime"
    assert sum(refused.values()) > FUZZ_ITERATIONS // 2
    assert {-2, -3, -4, -5, -8} <= set(refused), refused



# --- kernel scratch sizes ------------------------------------------------------------------------------

_SCRATCH_C = r"""
#include <stdio.h>
#include "explore_kernels.h"
/* One line "select C" or "acc N" in, the kernel's scratch bytes out. */
int main(void)
{
    char kind[16];
    unsigned long n;
    while (scanf("%15s %lu", kind, &n) == 2) {
        uint32_t bytes = kind[0] == 's' ? explore_select_scratch_bytes((uint32_t)n)
                                        : explore_conv_input_error_q_scratch_bytes((uint32_t)n);
        printf("%lu\n", (unsigned long)bytes);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def scratch_bytes(tmp_path_factory):
    """``scratch_bytes([("select", C), ("acc", N), ...])``: what runtime_c's kernels say they need."""
    _require_tools()
    work = tmp_path_factory.mktemp("scratch")
    (work / "scratch.c").write_text(_SCRATCH_C)
    exe = work / "scratch"
    _check(_run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", RUNTIME / "include", "-o", exe,
                 work / "scratch.c", RUNTIME / "src" / "select.c", RUNTIME / "src" / "conv_input_error_q.c",
                 RUNTIME / "src" / "dense_input_error_q.c",
                 "-lm"]), "gcc scratch.c")

    def ask(cases: list[tuple[str, int]]) -> list[int]:
        run = subprocess.run([str(exe)], input="".join(f"{kind} {n}\n" for kind, n in cases), capture_output=True,
                             text=True, check=True)
        return [int(line) for line in run.stdout.split()]

    return ask


def test_cost_model_plans_the_scratch_the_kernels_ask_for(scratch_bytes):
    """One fact in one place: the planner's scratch buffers have the sizes runtime_c's kernels export
    (CMSIS-NN's *_get_buffer_size convention)."""
    from explore.cost.lifetimes import input_error_scratch_bytes, select_scratch_bytes

    channels = list(range(1, 513)) + [1000, 4096, 65535]
    elements = sorted({h * w * c for h in (1, 2, 3, 7, 16, 28, 32, 96) for w in (1, 5, 28, 32) for c in (1, 3, 8, 64)})
    cases = [("select", c) for c in channels] + [("acc", n) for n in elements]
    expected = [select_scratch_bytes(c) for c in channels] + [input_error_scratch_bytes(n) for n in elements]
    assert scratch_bytes(cases) == expected


def test_planned_scratch_buffers_fit_the_kernels(scratch_bytes):
    """Every select<i> / acc<i> buffer of real plans (random designs, sparse updates) is the kernel's
    size for that layer, rounded up to the arena alignment."""
    import math

    from explore.cost import aligned, plan_training
    from explore.deploy.model_fuzz import random_design

    cases, planned = [], []
    for seed in range(40):
        design = random_design(seed)
        plan = plan_training(design.spec, design.trainable, design.config, sparse=True)
        for buffer in plan.buffers:
            match = re.fullmatch(r"(select|acc)(\d+)", buffer.name)
            if match:
                i = int(match[2])
                n = design.spec.layers[i].features if match[1] == "select" else math.prod(design.spec.input_of(i))
                cases.append((match[1], n))
                planned.append(buffer.size)
    assert {kind for kind, _ in cases} == {"select", "acc"}
    assert [aligned(n) for n in scratch_bytes(cases)] == planned
