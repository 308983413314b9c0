"""A bundle builds on its own (issue 18, item 2).

Each bundle is copied alone into a fresh directory and built there with nothing of the checkout:
for the host with gcc as the top project (the README's command) under ASan and UBSan, and for the
Cortex-M4 with arm-none-eabi-gcc from a small firmware project that ``add_subdirectory``'s it, with
the CPU flags of the project's QEMU images.  Both with ``-Wall -Wextra -Werror``.  The host example
must train: every epoch's loss finite, the loss moving, and lower than at the start.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.qemu import INSTALL_HINT, TARGETS, missing_tools
from explore.deploy.runtime import RUNTIME_DIR

CHECKOUT = RUNTIME_DIR.parent
WARNINGS = "-Wall -Wextra -Werror"
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all"
EPOCHS = 30  # example/main.c's default
#: a 1-D uint8 design with max pooling and sparse updates, a 2-D mixed one with a residual add and a float head
DESIGNS = {"uint8-1d": (27, "uint8"), "mixed-2d": (32, "mixed")}
_EPOCH = re.compile(r"^epoch (\d+): mean loss (\S+)$", re.M)
_CORRECT = re.compile(r"^correct before training (\d+) of (\d+), after (\d+) of (\d+)$", re.M)
_ARM_TOOLCHAIN = """set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
"""
_FIRMWARE = """cmake_minimum_required(VERSION 3.13)
project(firmware C)
add_subdirectory({bundle} explore_model)
add_executable(firmware {bundle}/example/main.c)
set_target_properties(firmware PROPERTIES SUFFIX ".elf")
target_link_libraries(firmware PRIVATE explore_model)
"""


def _run(command: list, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _require(*tools: str) -> None:
    missing = missing_tools(tools)
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; install with: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="module", params=sorted(DESIGNS))
def alone(request, tmp_path_factory) -> Path:
    """An exported bundle, copied alone into a directory of its own."""
    seed, config = DESIGNS[request.param]
    exported = synthetic_bundle(random_design(seed, config), tmp_path_factory.mktemp("export"))
    alone = tmp_path_factory.mktemp("alone") / "bundle"
    shutil.copytree(exported, alone)
    return alone


def _build(source: Path, build: Path, *definitions: str) -> None:
    _run(["cmake", "-S", source, "-B", build, "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", *definitions], cwd=build.parent)
    _run(["cmake", "--build", build, "--parallel", "2"], cwd=build.parent)
    commands = (build / "compile_commands.json").read_text()
    assert "runtime/src/update.c" in commands and str(CHECKOUT) not in commands   # the bundle's own runtime


def test_host_build_of_the_bundle_alone_trains(alone: Path) -> None:
    _require("cmake", "gcc")
    build = alone.parent / "build-host"
    _build(alone, build, "-DCMAKE_C_COMPILER=gcc", f"-DCMAKE_C_FLAGS=-O2 {WARNINGS} {SANITIZE}",
           f"-DCMAKE_EXE_LINKER_FLAGS={SANITIZE}")
    done = _run([build / "explore_example"], cwd=alone.parent, timeout=300)
    assert done.stderr == ""   # no sanitizer report
    losses = {int(epoch): float(loss) for epoch, loss in _EPOCH.findall(done.stdout)}
    assert sorted(losses) == list(range(EPOCHS)), done.stdout
    assert all(math.isfinite(loss) and loss >= 0 for loss in losses.values()), done.stdout
    # with the weights unchanged every pass over the same samples would have the same mean loss
    assert len(set(losses.values())) > 1, done.stdout
    assert min(losses[e] for e in range(1, EPOCHS)) < losses[0], done.stdout
    before, samples, after, samples_again = (int(n) for n in _CORRECT.search(done.stdout).groups())
    assert samples == samples_again > 0 and 0 <= before <= samples and 0 <= after <= samples
    print(f"{alone}: mean loss {losses[0]:.4f} in the first epoch, {losses[EPOCHS - 1]:.4f} in the last; "
          f"{before} then {after} of {samples} samples right")
    readme = (alone / "README.md").read_text()
    assert "add_subdirectory(" in readme and "target_link_libraries(app PRIVATE explore_model)" in readme


def test_cortex_m4_firmware_project_builds_the_bundle_alone(alone: Path) -> None:
    _require("cmake", "arm-none-eabi-gcc", "arm-none-eabi-nm")
    project = alone.parent / "firmware"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(_FIRMWARE.format(bundle="../bundle"))
    (project / "arm-none-eabi.cmake").write_text(_ARM_TOOLCHAIN)
    cpu = " ".join(TARGETS["cortex-m4"].cflags)   # the flags of the project's QEMU images
    build = project / "build"
    _build(project, build, f"-DCMAKE_TOOLCHAIN_FILE={project / 'arm-none-eabi.cmake'}",
           f"-DCMAKE_C_FLAGS={cpu} {WARNINGS}", "-DCMAKE_EXE_LINKER_FLAGS=--specs=nano.specs --specs=nosys.specs")
    elf = build / "firmware.elf"
    symbols = _run(["arm-none-eabi-nm", "--defined-only", elf]).stdout
    for name in ("main", "explore_init", "explore_train_sample", "explore_update", "explore_infer", "explore_layers"):
        assert re.search(rf" {name}$", symbols, re.M), name
    attributes = _run(["arm-none-eabi-readelf", "-A", elf]).stdout
    assert "Tag_CPU_arch: v7E-M" in attributes and "Tag_ABI_VFP_args: VFP registers" in attributes, attributes
