"""runtime_c/tests/test_depthwise.c built for each Cortex-M core and run on QEMU: the depthwise forward
kernel against a plain loop over every tap, bit for bit, on the code each core runs (the DSP path on
the M4 and M7, the portable loops on the M0+).  The host ctest runs the same file on the portable
loops only.

A missing cross toolchain, QEMU or CMake fails these tests with the install hint; they never skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explore.deploy import qemu
from explore.errors import BadInput

TIMEOUT_S = 300.0
LAYERS = 601  # test_depthwise.c: 600 drawn layers and one 1x90 kernel

# The kernels of runtime_c (without its runtime drivers) and the test, as one image.
_PROJECT = """cmake_minimum_required(VERSION 3.20)
project(test_depthwise C)
include("{runtime}/cmake/cortex_m.cmake")
file(GLOB kernel_sources "{runtime}/src/*.c")
list(FILTER kernel_sources EXCLUDE REGEX "/runtime_[^/]*\\\\.c$")
explore_cortex_m_image(test_depthwise CPU {core} SOURCES ${{kernel_sources}} "{runtime}/tests/test_depthwise.c"
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


@pytest.mark.parametrize("core", sorted(qemu.TARGETS))
def test_depthwise_forward_on_qemu(core: str, tmp_path: Path) -> None:
    _require()
    target = qemu.TARGETS[core]
    runtime = qemu.RUNTIME_DIR.resolve().as_posix()
    (tmp_path / "CMakeLists.txt").write_text(_PROJECT.format(runtime=runtime, core=target.cpu))
    qemu.configure_and_build(tmp_path, tmp_path / "build", qemu.TOOLCHAIN_FILE, {})
    result = qemu.run_image(tmp_path / "build" / "test_depthwise.elf", target.machine, TIMEOUT_S)
    output = result.stdout.decode(errors="replace")
    assert result.status == 0, output
    assert f"depthwise forward: 0 of {LAYERS} layers differ" in output, output
