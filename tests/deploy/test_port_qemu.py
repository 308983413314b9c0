"""The C runtime's ports: runtime_c/port/selftest.c built for each Cortex-M core and run on QEMU,
and built for the host under AddressSanitizer and UBSan.

A missing cross toolchain, QEMU or CMake fails these tests with the install hint; they never skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from explore.deploy import qemu
from explore.errors import BadInput

SELFTEST_DIR = qemu.RUNTIME_DIR / "port" / "selftest"
EXPECTED_LOOP = 600_000  # selftest.c: 100000 iterations of 6 instructions
STACK_BYTES = 16 * 1024
TIMEOUT_S = 20.0


def _require(names: tuple[str, ...] = qemu.CROSS_TOOLS) -> None:
    message = ""
    try:
        qemu.require_tools(names)
    except BadInput as error:
        message = str(error)
    if message:  # failed outside the except block, so the report is just the one line
        pytest.fail(message, pytrace=False)


def _values(stdout: bytes) -> dict[str, str]:
    lines = stdout.decode().splitlines()
    assert lines[0] == "explore port selftest", lines
    return dict(line.split("=", 1) for line in lines[1:])


@pytest.fixture(scope="module", params=sorted(qemu.TARGETS))
def built(request, tmp_path_factory) -> tuple[qemu.Target, Path]:
    """(target, build directory) with selftest.elf and selftest_fault.elf built for the target's CPU."""
    _require()
    target = qemu.TARGETS[request.param]
    build = tmp_path_factory.mktemp(target.cpu)
    qemu.configure_and_build(SELFTEST_DIR, build, qemu.TOOLCHAIN_FILE, {"EXPLORE_CPU": target.cpu})
    return target, build


def test_selftest_on_qemu(built):
    target, build = built
    result = qemu.run_image(build / "selftest.elf", target.machine, TIMEOUT_S)
    assert result.status == 3, (result.stdout, result.stderr)
    values = _values(result.stdout)
    assert values["counts_instructions"] == "1"
    assert values["libm"] == "ok"
    assert int(values["loop_instructions_expected"]) == EXPECTED_LOOP
    measured = int(values["loop_instructions"])
    assert abs(measured - EXPECTED_LOOP) <= EXPECTED_LOOP // 100 + target.instructions_per_tick, measured
    assert 1024 < int(values["stack_high_water"]) < STACK_BYTES
    assert qemu.stack_reserved(build / "selftest.elf") == STACK_BYTES


def test_hard_fault_prints_and_exits_99(built):
    target, build = built
    result = qemu.run_image(build / "selftest_fault.elf", target.machine, TIMEOUT_S)
    assert (result.status, result.stdout) == (99, b"explore port selftest\nhardfault\n")


def test_section_sizes(built):
    _, build = built
    sizes = qemu.section_sizes(build / "selftest.elf")
    assert set(sizes) == {"text", "rodata", "data", "bss"}
    assert sizes["text"] > 1000 and sizes["rodata"] > 0
    assert sizes["bss"] >= 512  # the port's output buffer
    assert qemu.symbol_size(build / "selftest.elf", "main") > 0


def test_run_image_timeout_kills_qemu(built):
    target, build = built
    with pytest.raises(TimeoutError, match="QEMU killed"):
        qemu.run_image(build / "selftest.elf", target.machine, 0.001)


def test_host_selftest_under_sanitizers(tmp_path):
    _require(("cmake", "gcc"))
    qemu.configure_and_build(SELFTEST_DIR, tmp_path, None, {"EXPLORE_SANITIZE": "ON", "CMAKE_C_COMPILER": "gcc"})
    done = subprocess.run([str(tmp_path / "selftest")], capture_output=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 3, done.stderr.decode()
    assert done.stderr == b""
    values = _values(done.stdout)
    assert (values["counts_instructions"], values["loop_instructions"], values["stack_high_water"]) == ("0", "0", "0")
    assert values["libm"] == "ok"


def test_missing_tool_is_one_line_with_the_install_hint():
    assert qemu.missing_tools(["explore-no-such-program", sys.executable]) == ["explore-no-such-program"]
    with pytest.raises(BadInput) as error:
        qemu.require_tools(["explore-no-such-program"])
    message = str(error.value)
    assert "\n" not in message and "explore-no-such-program" in message and qemu.INSTALL_HINT in message


def test_build_failure_shows_compiler_output(tmp_path):
    _require(("cmake", "gcc"))
    (tmp_path / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.20)\nproject(broken C)\n"
                                             "add_executable(broken broken.c)\n")
    (tmp_path / "broken.c").write_text("int main(void) { return undeclared_name; }\n")
    with pytest.raises(RuntimeError, match="undeclared_name"):
        qemu.configure_and_build(tmp_path, tmp_path / "build", None, {})
