"""runtime_c's drawn-case kernel tests built for each Cortex-M core and run on QEMU: each kernel against a
plain reference loop, bit for bit, on the code each core runs (the DSP paths on the M4 and M7, the
portable loops on the M0+).  The host ctest runs the same files on the portable loops only.

A missing cross toolchain, QEMU or CMake fails these tests with the install hint; they never skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explore.deploy import qemu
from explore.errors import BadInput

TIMEOUT_S = 300.0
# test file (runtime_c/tests/<name>.c) -> the line it prints when every drawn case agrees
TESTS = {
    "test_depthwise": "depthwise forward: 0 of 601 layers differ",  # 600 drawn layers and one 1x90 kernel
    "test_add": "add: 0 of 400 cases differ",
    "test_conv_drawn": "conv: 0 of 500 layers differ",
    "test_quantize": "quantize: 0 of 300 cases differ",
    "test_select": "select: 0 of 400 cases differ",
}

# The kernels of runtime_c (without its runtime drivers) and the test, as one image.
_PROJECT = """cmake_minimum_required(VERSION 3.20)
project({test} C)
include("{runtime}/cmake/cortex_m.cmake")
file(GLOB kernel_sources "{runtime}/src/*.c")
list(FILTER kernel_sources EXCLUDE REGEX "/runtime_[^/]*\\\\.c$")
explore_cortex_m_image({test} CPU {core} SOURCES ${{kernel_sources}} "{runtime}/tests/{test}.c"
                       INCLUDE_DIRS "{runtime}/include" "{runtime}/src" DEFINITIONS EXPLORE_TEST_ON_QEMU=1)
"""


def _require() -> None:
    message = ""
    try:
        qemu.require_tools(qemu.CROSS_TOOLS)
    except BadInput as error:
        message = str(error)
    if message:  # failed outside the except block, so the report is just the one line
        pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("test", sorted(TESTS))
@pytest.mark.parametrize("core", sorted(qemu.TARGETS))
def test_kernels_on_qemu(core: str, test: str, tmp_path: Path) -> None:
    _require()
    target = qemu.TARGETS[core]
    runtime = qemu.RUNTIME_DIR.resolve().as_posix()
    (tmp_path / "CMakeLists.txt").write_text(_PROJECT.format(runtime=runtime, core=target.cpu, test=test))
    qemu.configure_and_build(tmp_path, tmp_path / "build", qemu.TOOLCHAIN_FILE, {})
    result = qemu.run_image(tmp_path / "build" / f"{test}.elf", target.machine, TIMEOUT_S)
    output = result.stdout.decode(errors="replace")
    assert result.status == 0, output
    assert TESTS[test] in output, output
