"""``explore bench kernels``: runtime_c's integer kernels on fixed layer shapes under QEMU.

runtime_c/bench/bench_shapes.c runs the forward, input-error and weight-gradient kernels on each
shape of :data:`SHAPES` and prints the instructions each took, whole kernel, padding taps counted
as MACs.  Instructions are counted, not timed (``-icount``), so the figures do not depend on how
busy the machine is.

``--baseline DIR`` builds the same benchmark against another checkout's ``runtime_c`` (for example
the commit before a kernel change) in the same run, and reports after/before per figure.

``--designs N`` also trains N generated designs (the bit-exactness fuzz set: seeds 0..N-1, uint8)
end to end on the Cortex-M4 and reports the median instructions per training sample, and with
``--baseline`` the same for the baseline's runtime: what the kernels change for a whole design.

Writes ``results/bench/kernels.json``::

    {"<core>": {"forward" | "input_error" | "weight_grad": {"<shape>": instructions_per_mac}},
     "baseline": {same, for --baseline}, "end_to_end": {...} (--designs), "targets": {...}, ...}
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import statistics

from explore.deploy.calibrate import measure_design
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.qemu import RUNTIME_DIR, TARGETS, TOOLCHAIN_FILE, configure_and_build, require_tools, run_image
from explore.errors import BadInput
from explore.io import write_json_atomic

KERNELS = ("forward", "input_error", "weight_grad")
SHAPES = ("conv_12x12x16_o16_k3", "conv_12x12x32_o16_k3", "conv_1x40x16_o32_k5", "dw_12x12x32_k3",
          "conv_8x8x64_o16_k3", "pw_12x12x32_o32", "dense_256_o32")
#: CMSIS-NN's instructions per MAC on the Cortex-M4 (issue 17's measurement on the same shapes):
#: the forward figures to match or beat.
M4_FORWARD_TARGETS = {"conv_12x12x16_o16_k3": 2.33, "conv_12x12x32_o16_k3": 2.07, "conv_1x40x16_o32_k5": 2.41,
                      "dw_12x12x32_k3": 8.0, "conv_8x8x64_o16_k3": 1.93}
#: A backward kernel on the M4 may cost at most this many times the forward on the same shape.
BACKWARD_OVER_FORWARD = 1.2
BENCH_SOURCE = Path("bench") / "bench_shapes.c"
QEMU_TIMEOUT_S = 900
#: The core and configuration of the end-to-end figure (issue 17: the fuzz designs in uint8 on the M4).
END_TO_END_CORE = "cortex-m4"
END_TO_END_CONFIG = "uint8"

# The kernels of any runtime_c checkout, without its runtime (init, forward and train drivers).
_PROJECT = """cmake_minimum_required(VERSION 3.20)
project(bench_shapes C)
include("{runtime}/cmake/cortex_m.cmake")
file(GLOB kernel_sources "{runtime}/src/*.c")
list(FILTER kernel_sources EXCLUDE REGEX "/runtime_[^/]*\\\\.c$")
explore_cortex_m_image(bench_shapes CPU {core} SOURCES ${{kernel_sources}} "{bench}"
                       INCLUDE_DIRS "{runtime}/include" "{runtime}/src")
"""


def check_runtime_dir(runtime: Path) -> Path:
    """``runtime`` if it holds a runtime_c tree (include/explore_kernels.h, src/, cmake/), else BadInput."""
    runtime = Path(runtime).resolve()
    for part in ("include/explore_kernels.h", "src", "cmake/cortex_m.cmake"):
        if not (runtime / part).exists():
            raise BadInput(f"--baseline {str(runtime)[:200]}: not a runtime_c directory (no {part})")
    return runtime


def measure_core(core: str, runtime: Path, work: Path) -> dict[str, dict[str, float]]:
    """Instructions per MAC by kernel and shape for ``runtime``'s kernels on ``core``."""
    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "CMakeLists.txt").write_text(
        _PROJECT.format(runtime=runtime.as_posix(), core=core, bench=(RUNTIME_DIR / BENCH_SOURCE).as_posix()))
    configure_and_build(project, work / "build", TOOLCHAIN_FILE, {})
    result = run_image(work / "build" / "bench_shapes.elf", TARGETS[core].machine, QEMU_TIMEOUT_S)
    return parse_report(result.stdout.decode(errors="replace"), f"{core} ({runtime})")


def parse_report(stdout: str, source: str) -> dict[str, dict[str, float]]:
    """``S <kernel> <shape> <macs> <instructions>`` lines as {kernel: {shape: instructions / MAC}};
    raises RuntimeError unless every kernel of every shape is there."""
    figures: dict[str, dict[str, float]] = {kernel: {} for kernel in KERNELS}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "S" and parts[1] in figures:
            figures[parts[1]][parts[2]] = int(parts[4]) / int(parts[3])
    missing = [f"{k}/{s}" for k in KERNELS for s in SHAPES if s not in figures[k]]
    if missing:
        raise RuntimeError(f"bench_shapes on {source} printed no figure for {', '.join(missing)}")
    return figures


def verdicts(figures: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, bool]]:
    """Issue 17's checks on the Cortex-M4: forward at or below CMSIS-NN, backward within 1.2x forward."""
    m4 = figures.get("cortex-m4")
    if m4 is None:
        return {}
    forward = {shape: m4["forward"][shape] <= limit for shape, limit in M4_FORWARD_TARGETS.items()}
    backward = {f"{kernel}/{shape}": m4[kernel][shape] <= BACKWARD_OVER_FORWARD * m4["forward"][shape]
                for kernel in ("input_error", "weight_grad") for shape in SHAPES}
    return {"m4_forward_at_cmsis_nn": forward, "m4_backward_within_1_2x_forward": backward}


def end_to_end(designs: int, runtimes: dict[str, Path], work: Path, progress: Callable[[str], None]) -> dict:
    """Instructions per training sample of ``designs`` generated designs with each runtime, and their median."""
    bundles = [synthetic_bundle(random_design(seed, END_TO_END_CONFIG), work / f"bundle-{seed}")
               for seed in range(designs)]
    result: dict = {"core": END_TO_END_CORE, "config": END_TO_END_CONFIG, "seeds": list(range(designs))}
    for name, runtime in runtimes.items():
        per_sample = [measure_design(bundle, END_TO_END_CORE, work / f"{name}-{k}", profile=False,
                                     runtime=runtime).per_sample for k, bundle in enumerate(bundles)]
        result[name] = {"instructions_per_train_sample": per_sample,
                        "median_instructions_per_train_sample": statistics.median(per_sample)}
        progress(f"{END_TO_END_CORE}: {designs} designs trained end to end with the {name} runtime")
    if "baseline" in result:
        result["median_before_over_after"] = (result["baseline"]["median_instructions_per_train_sample"]
                                              / result["current"]["median_instructions_per_train_sample"])
    return result


def run_kernels_bench(out_dir: Path, cores: tuple[str, ...], baseline: Path | None = None,
                      progress: Callable[[str], None] = print, designs: int = 0) -> dict:
    """Measure every core (and the baseline's kernels, when given) and, with ``designs``, the
    end-to-end figure; write ``out_dir/kernels.json``."""
    require_tools()
    baseline = check_runtime_dir(baseline) if baseline is not None else None
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="explore-bench-kernels-") as tmp:
        for core in cores:
            result[core] = measure_core(core, RUNTIME_DIR.resolve(), Path(tmp) / core)
            progress(f"{core}: measured {len(SHAPES)} shapes")
            if baseline is not None:
                result.setdefault("baseline", {})[core] = measure_core(core, baseline, Path(tmp) / f"baseline-{core}")
                progress(f"{core}: measured the baseline's kernels")
        if designs:
            runtimes = {"current": RUNTIME_DIR.resolve(), **({"baseline": baseline} if baseline else {})}
            result["end_to_end"] = end_to_end(designs, runtimes, Path(tmp) / "end-to-end", progress)
    result["verdicts"] = verdicts({core: result[core] for core in cores})
    if baseline is not None:
        result["baseline_runtime"] = str(baseline)
        result["after_over_before"] = {core: {k: {s: result[core][k][s] / result["baseline"][core][k][s]
                                                  for s in SHAPES} for k in KERNELS} for core in cores}
    result["targets"] = {"cortex-m4 forward": M4_FORWARD_TARGETS, "backward_over_forward": BACKWARD_OVER_FORWARD}
    result["units"] = "instructions per MAC, whole kernel, padding taps counted as MACs (QEMU -icount)"
    write_json_atomic(Path(out_dir) / "kernels.json", result)
    return result


def summary_lines(result: dict) -> list[str]:
    """One table per measured core (with before and after/before when a baseline was measured),
    then the verdicts."""
    lines = []
    for core in [c for c in TARGETS if c in result]:
        before = result.get("baseline", {}).get(core)
        lines.append(f"{core}: instructions per MAC" + ("  (before -> after)" if before else ""))
        lines.append(f"  {'shape':24s}" + "".join(f"{k:>22s}" for k in KERNELS))
        for shape in SHAPES:
            cells = []
            for kernel in KERNELS:
                after = result[core][kernel][shape]
                cells.append(f"{before[kernel][shape]:9.2f} -> {after:6.2f}" if before else f"{after:10.2f}")
            lines.append(f"  {shape:24s}" + "".join(f"{c:>22s}" for c in cells))
    for name, checks in result.get("verdicts", {}).items():
        missed = [key for key, ok in checks.items() if not ok]
        lines.append(f"{name}: {len(checks) - len(missed)} of {len(checks)} met"
                     + (f"; missed: {', '.join(missed)}" if missed else ""))
    e2e = result.get("end_to_end")
    if e2e:
        medians = {name: e2e[name]["median_instructions_per_train_sample"] for name in ("current", "baseline")
                   if name in e2e}
        line = f"end to end ({len(e2e['seeds'])} {e2e['config']} designs, {e2e['core']}): median instructions " \
               f"per training sample {medians['current']:,.0f}"
        if "baseline" in medians:
            line += f", baseline {medians['baseline']:,.0f}: {e2e['median_before_over_after']:.2f}x fewer (target >= 2)"
        lines.append(line)
    return lines
