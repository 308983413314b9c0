"""Build the C runtime for a Cortex-M core and run it on QEMU's mps2 machines.

The port (``runtime_c/port/``, see its README) gives every image semihosting output on QEMU's
stdout, an exit status equal to ``main``'s return value (99 after a hard fault), and an
instruction counter: under ``-icount shift=0`` one guest instruction is 1 ns of virtual time and
SysTick runs at the 25 MHz system clock on all three machines, so one tick is 40 instructions.

Needs ``arm-none-eabi-gcc`` with newlib, ``qemu-system-arm`` and ``cmake``; a missing one is a
:class:`~explore.errors.BadInput` naming it and the Debian packages to install.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from explore.deploy.runtime import RUNTIME_DIR
from explore.errors import BadInput

INSTALL_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake"
CROSS_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm", "cmake")
TOOLCHAIN_FILE = RUNTIME_DIR / "cmake" / "arm-none-eabi.cmake"
SYSTICK_HZ = 25_000_000  # every mps2 machine's system clock, which SysTick counts (CLKSOURCE=1)
BUILD_LOG_LINES = 30


@dataclass(frozen=True)
class Target:
    """A core the runtime is built for, and the QEMU machine that runs its code."""

    cpu: str
    machine: str
    qemu_cpu: str  # the machine's only CPU; ARMv6-M code runs unchanged on the Cortex-M3
    cflags: tuple[str, ...]  # as in hw_profiles/*.yaml validation.cflags
    instructions_per_tick: int = 1_000_000_000 // SYSTICK_HZ  # -icount shift=0: 1 ns per instruction


TARGETS: dict[str, Target] = {
    "cortex-m0plus": Target("cortex-m0plus", "mps2-an385", "cortex-m3",
                            ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft", "-O2", "-ffp-contract=off")),
    "cortex-m4": Target("cortex-m4", "mps2-an386", "cortex-m4",
                        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
                         "-ffp-contract=off")),
    "cortex-m7": Target("cortex-m7", "mps2-an500", "cortex-m7",
                        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2",
                         "-ffp-contract=off")),
}

_QEMU_CPU = {t.machine: t.qemu_cpu for t in TARGETS.values()}

# arm-none-eabi-size -A section names -> the four groups section_sizes reports.  Unwind tables
# count as code; constructor tables (empty in C99) as constants.  Not counted: .stack (the
# reserved stack, see stack_reserved) and the sections that are not loaded (debug info etc.).
_GROUPS = (
    ("text", (".text", ".vectors", ".init", ".fini", ".ARM.exidx", ".ARM.extab")),
    ("rodata", (".rodata", ".preinit_array", ".init_array", ".fini_array")),
    ("data", (".data",)),
    ("bss", (".bss", ".noinit")),
)
_NOT_COUNTED = (".stack", ".debug", ".comment", ".ARM.attributes", ".note", ".stab", ".gnu", ".symtab",
                ".strtab", ".shstrtab")


@dataclass(frozen=True)
class RunResult:
    """How a QEMU run ended: the guest's exit status, its output, and the wall time it took."""

    status: int
    stdout: bytes
    seconds: float
    stderr: bytes = b""


def missing_tools(names: Iterable[str] = CROSS_TOOLS) -> list[str]:
    """The programs of ``names`` not on PATH, plus newlib if ``arm-none-eabi-gcc`` is asked for and lacks it."""
    names = tuple(names)
    missing = [name for name in names if shutil.which(name) is None]
    if "arm-none-eabi-gcc" in names and "arm-none-eabi-gcc" not in missing and not _has_newlib():
        missing.append("newlib (libc_nano.a)")
    return missing


def require_tools(names: Iterable[str] = CROSS_TOOLS) -> None:
    """Raise :class:`BadInput` (one line: what is missing, how to install it) unless all of ``names`` exist."""
    missing = missing_tools(names)
    if missing:
        raise BadInput(f"missing {', '.join(missing)}; install with: {INSTALL_HINT}")


def _has_newlib() -> bool:
    # gcc echoes the bare name back when the library is not in its search path.
    found = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return found != "libc_nano.a" and Path(found).is_file()


def configure_and_build(source_dir: Path | str, build_dir: Path | str, toolchain: str | Path | None,
                        cache_vars: Mapping[str, str | int | Path]) -> None:
    """``cmake -S source_dir -B build_dir`` (with the toolchain file, if any, and ``-D`` cache
    variables), then ``cmake --build``; a failure raises RuntimeError with the tail of the output."""
    configure = ["cmake", "-S", str(source_dir), "-B", str(build_dir)]
    if toolchain is not None:
        configure.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    configure += [f"-D{key}={value}" for key, value in cache_vars.items()]
    _run_logged(configure, "configuring")
    _run_logged(["cmake", "--build", str(build_dir), "--parallel"], "building")


def _run_logged(command: list[str], what: str) -> None:
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-BUILD_LOG_LINES:])
        raise RuntimeError(f"{what} failed (exit status {done.returncode}): {' '.join(command)}\n{tail}")


def qemu_command(elf: Path | str, machine: str) -> list[str]:
    """The ``qemu-system-arm`` command line that runs ``elf`` with semihosting and instruction counting.

    ``align=off``: never slow the guest down to real time; ``sleep=off``: an idle guest (WFI)
    jumps virtual time ahead instead of sleeping. Neither changes the speed of a busy guest."""
    if machine not in _QEMU_CPU:
        raise BadInput(f"unknown QEMU machine {machine!r}; allowed: {', '.join(sorted(_QEMU_CPU))}")
    return ["qemu-system-arm", "-machine", machine, "-cpu", _QEMU_CPU[machine], "-nographic",
            "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native",
            "-icount", "shift=0,align=off,sleep=off", "-kernel", str(elf)]


def run_image(elf: Path | str, machine: str, timeout_s: float) -> RunResult:
    """Run ``elf`` on ``machine``; QEMU is killed and TimeoutError raised after ``timeout_s`` seconds."""
    start = time.monotonic()
    with subprocess.Popen(qemu_command(elf, machine), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as qemu:
        try:
            stdout, stderr = qemu.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.communicate()
            raise TimeoutError(f"{elf} on {machine} still running after {timeout_s} s; QEMU killed") from None
    return RunResult(qemu.returncode, stdout, time.monotonic() - start, stderr)


def section_sizes(elf: Path | str) -> dict[str, int]:
    """Bytes of ``text``, ``rodata``, ``data`` and ``bss`` (groups: see ``_GROUPS``) from ``arm-none-eabi-size -A``.

    ``data`` is in RAM and, as its initial values, also in flash.  A section of no known group
    raises ValueError rather than being miscounted."""
    sizes = dict.fromkeys((group for group, _ in _GROUPS), 0)
    for name, size in _sections(elf):
        group = next((g for g, prefixes in _GROUPS if name.startswith(prefixes)), None)
        if group is not None:
            sizes[group] += size
        elif not name.startswith(_NOT_COUNTED):
            raise ValueError(f"{elf}: section {name} ({size} bytes) belongs to none of text/rodata/data/bss")
    return sizes


def _sections(elf: Path | str) -> list[tuple[str, int]]:
    listing = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    rows = [line.split() for line in listing.stdout.splitlines()]
    return [(row[0], int(row[1])) for row in rows if len(row) == 3 and row[0].startswith(".") and row[1].isdigit()]


def symbol_size(elf: Path | str, name: str) -> int:
    """Size in bytes of the defined symbol ``name`` (``arm-none-eabi-nm -S``); KeyError if absent or sizeless."""
    size = _symbol(elf, name)[1]
    if size is None:
        raise KeyError(f"{elf}: symbol {name} has no size")
    return size


def symbol_value(elf: Path | str, name: str) -> int:
    """Value (an address, or the number an absolute symbol stands for) of the defined symbol ``name``."""
    return _symbol(elf, name)[0]


def stack_reserved(elf: Path | str) -> int:
    """Bytes of stack the linker script reserved (``__stack_size``, 16 KB unless overridden)."""
    return symbol_value(elf, "__stack_size")


def _symbol(elf: Path | str, name: str) -> tuple[int, int | None]:
    listing = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)], capture_output=True,
                             text=True, check=True)
    for row in (line.split() for line in listing.stdout.splitlines()):
        if len(row) in (3, 4) and row[-1] == name:
            return int(row[0], 16), int(row[1], 16) if len(row) == 4 else None
    raise KeyError(f"{elf}: no symbol {name}")
