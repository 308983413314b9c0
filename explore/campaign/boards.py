"""Board profiles: one YAML file per microcontroller board, validated once into typed frozen objects.

A profile says what the cost model needs to know about a board (design.md, "Memory accounting",
"Latency and energy", "Boards"): the core and its clock, SRAM and flash (total, banks, what the
application keeps), supply and currents, an assumed cycles-per-instruction factor, the instruction
count of every runtime kernel per unit of work, the footprint of the C runtime itself, how to build
and run it under QEMU, and optional budgets.  The schema is documented key by key in
``hw_profiles/README.md``; adding a board means writing one YAML file into ``hw_profiles/`` or into a
directory named by ``$EXPLORE_HW_PROFILES``.

``load_profile(path)`` returns a :class:`BoardProfile`; any problem is one
:class:`~explore.errors.BadInput` line ``<file>: <dotted.key>: <what is wrong / allowed> (got X)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from explore.config import MAX_BYTES, StrictModel
from explore.errors import BadInput, shown, validation_line
from explore.io import read_yaml_document
from explore.resources import hw_profiles_dir

SCHEMA = "explore.board/1"
ENV_DIRS = "EXPLORE_HW_PROFILES"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CoreInfo:
    """What a core can have, and which QEMU machine stands in for it when validating the runtime."""

    name: str
    arch: str
    fpu_allowed: bool  # single-precision FPU exists as an option of this core
    dsp_allowed: bool  # ARMv7E-M DSP/SIMD instructions (SMLAD, ...) exist on this core
    qemu_machine: str


CORES: dict[str, CoreInfo] = {
    "cortex-m0plus": CoreInfo("cortex-m0plus", "armv6-m", False, False, "mps2-an385"),
    "cortex-m3": CoreInfo("cortex-m3", "armv7-m", False, False, "mps2-an385"),
    "cortex-m4": CoreInfo("cortex-m4", "armv7e-m", True, True, "mps2-an386"),
    "cortex-m7": CoreInfo("cortex-m7", "armv7e-m", True, True, "mps2-an500"),
    "cortex-m33": CoreInfo("cortex-m33", "armv8-m.main", True, True, "mps2-an505"),
}

#: Runtime kernels and the unit of work their instruction counts refer to (the cost model's order).
KERNELS: dict[str, str] = {
    "conv_mac": "per multiply-accumulate of a standard convolution, forward",
    "dwconv_mac": "per MAC of a depthwise convolution, forward",
    "dense_mac": "per MAC of a dense layer, forward",
    "output": "per output element of a conv/dense layer (bias, requantization or float activation, store)",
    "pool": "per input element of max/average/global-average pooling, forward",
    "add": "per element of a residual add, forward",
    "loss": "per class of the softmax cross-entropy and its gradient",
    "input_grad_mac": "per MAC of an input-error computation (paper Eq. 1/4)",
    "weight_grad_mac": "per MAC of a weight-gradient computation (Eq. 2)",
    "error_quant": ("per element of an error tensor quantized dynamically (min/max pass and requantize pass); "
                    "float32: per element store"),
    "error_elem": ("per error element of cheap backward work (activation masks, pooling backward, "
                   "l1 norms for sparse selection, merging residual errors)"),
    "grad_accum": ("per trainable weight and bias per sample, over the kept output channels (scale, add into the "
                   "float32 gradient buffer, Welford statistics)"),
    "update": "per trainable weight per minibatch (standardize, requantize; Eqs. 5-9)",
    "input": "per element of the network input (quantized to uint8, or copied in float32)",
    "conv_patch": ("per element of a conv/dense layer's input patch at each output position (positions x kernel "
                   "taps x input channels, padding taps included), forward: gathering the patch, index arithmetic"),
    "conv_tap": ("per output element x kernel tap inside the input of a conv/dense layer, forward: the loop over "
                 "input channels is entered once per tap (dominant when channels are few)"),
    "input_grad_patch": "as conv_patch, for the input-error computation",
    "input_grad_tap": "as conv_tap, for the input-error computation, over the kept output channels",
    "weight_grad_patch": "as conv_patch, for the weight-gradient computation",
    "weight_grad_tap": "as conv_tap, for the weight-gradient computation, over the kept output channels",
    "call": "per kernel call: the fixed cost of one layer's forward, backward or update step (set-up, "
            "operand regrouping, loop prologues)",
    "conv_call": ("per forward call of a conv/dense layer, beyond call: choosing the kernel path, regrouping "
                  "the weights, preparing the requantization"),
    "conv_position": ("per output position of a conv/dense layer (a dense layer has one), forward: the "
                      "position's gather and the loop set-up over its output channels"),
    "input_grad_call": "as conv_call, for the input-error computation",
    "input_grad_position": "as conv_position, for the input-error computation",
    "weight_grad_call": "as conv_call, for the weight-gradient computation",
    "weight_grad_position": "as conv_position, for the weight-gradient computation",
}

_SOURCE = re.compile(r"(paper|datasheet|calibrated):[ \t]*\S.*")
SOURCE_HELP = ("must be 'assumed', 'paper: <where>', 'datasheet: <document>' or "
               "'calibrated: <named measurement>'")


def _bad(key: str, message: str, *got: Any) -> PydanticCustomError:
    """An error for a check spanning several keys, reported at ``key`` (relative to the model)."""
    ctx: dict[str, Any] = {"message": message, "key": key}
    if got:
        ctx["got"] = got[0]
    return PydanticCustomError("bad_key", "{message}", ctx)


def _check_source(value: str) -> str:
    if value != "assumed" and not _SOURCE.fullmatch(value):
        raise ValueError(f"source {SOURCE_HELP}")
    return value


Source = Annotated[str, AfterValidator(_check_source)]


class Figure(StrictModel):
    """A number and where it comes from (``assumed``, ``paper: ...``, ``datasheet: ...``, ``calibrated: ...``)."""

    value: float = Field(ge=0)
    source: Source


class PositiveFigure(Figure):
    value: float = Field(gt=0)


class KernelCost(StrictModel):
    """Instructions per unit of work of one kernel, for uint8 and for float32 arithmetic."""

    uint8: float = Field(gt=0)
    float32: float = Field(gt=0)
    source: Source


class Sram(StrictModel):
    bytes: int = Field(gt=0, le=MAX_BYTES)
    banks: list[Annotated[int, Field(gt=0, le=MAX_BYTES)]] = Field(min_length=1)
    reserved_bytes: int = Field(ge=0, le=MAX_BYTES)

    @model_validator(mode="after")
    def _consistent(self) -> Sram:
        if self.reserved_bytes >= self.bytes:
            raise _bad("reserved_bytes", f"must be < sram.bytes = {self.bytes}", self.reserved_bytes)
        if sum(self.banks) != self.bytes:
            raise _bad("banks", f"must sum to sram.bytes = {self.bytes}, they sum to {sum(self.banks)}", self.banks)
        return self


class Flash(StrictModel):
    bytes: int = Field(gt=0, le=MAX_BYTES)
    external: bool
    reserved_bytes: int = Field(ge=0, le=MAX_BYTES)

    @model_validator(mode="after")
    def _consistent(self) -> Flash:
        if self.reserved_bytes >= self.bytes:
            raise _bad("reserved_bytes", f"must be < flash.bytes = {self.bytes}", self.reserved_bytes)
        return self


class Power(StrictModel):
    supply_v: PositiveFigure
    active_ma: Figure
    idle_ma: Figure

    @model_validator(mode="after")
    def _active_above_idle(self) -> Power:
        if self.active_ma.value < self.idle_ma.value:
            raise _bad("active_ma.value", f"must be >= power.idle_ma.value = {self.idle_ma.value} "
                       "(energy = latency x (active - idle) x supply)", self.active_ma.value)
        return self


class Runtime(StrictModel):
    """Footprint of runtime_c itself on this core."""

    code_bytes: Figure  # .text + .rodata (flash)
    statics_bytes: Figure  # .data + .bss + stack (SRAM), besides the per-layer part below
    layer_record_bytes: Figure  # flash per layer-table entry
    tensor_record_bytes: Figure  # flash per arena-plan entry (offset, size)
    #: SRAM the runtime's context takes per layer of the model (optional; a profile without it assumes 0)
    layer_state_bytes: Figure = Figure(value=0, source="assumed")
    #: stack the integer kernels' scratch (SMLAD operand regrouping) adds when any layer runs in uint8
    #: (optional; default 0)
    integer_stack_bytes: Figure = Figure(value=0, source="assumed")
    #: stack the integer conv-family backward kernels' scratch (error columns, centred errors) adds on
    #: top when one runs (optional; default 0)
    integer_training_stack_bytes: Figure = Figure(value=0, source="assumed")
    #: stack the integer depthwise forward's weight table adds on top where no such backward kernel runs
    #: (optional; default 0)
    integer_depthwise_stack_bytes: Figure = Figure(value=0, source="assumed")


class Validation(StrictModel):
    qemu_machine: str
    cflags: list[str] = Field(min_length=1)


class Budgets(StrictModel):
    """Limits a design must meet on this board; unset means the board's usable total (memory) or no limit."""

    sram_bytes: int | None = Field(None, gt=0, le=MAX_BYTES)
    flash_bytes: int | None = Field(None, gt=0, le=MAX_BYTES)
    train_latency_ms: float | None = Field(None, gt=0)
    infer_latency_ms: float | None = Field(None, gt=0)
    energy_mj_per_sample: float | None = Field(None, gt=0)


class BoardProfile(StrictModel):
    schema_id: Literal["explore.board/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    core: str
    clock_mhz: float = Field(gt=0)
    fpu: bool
    dsp: bool
    sram: Sram
    flash: Flash
    power: Power
    cpi: PositiveFigure
    kernels: dict[str, KernelCost]
    runtime: Runtime
    validation: Validation
    budgets: Budgets = Budgets()
    #: Where the profile was loaded from.
    path: Path = Field(default=Path(), exclude=True)

    @field_validator("description")
    @classmethod
    def _single_line(cls, v: str) -> str:
        v = v.strip()
        if not v or "\n" in v:
            raise ValueError("must be one non-empty line")
        return v

    @field_validator("core")
    @classmethod
    def _known_core(cls, v: str) -> str:
        if v not in CORES:
            raise ValueError(f"unknown core; allowed: {', '.join(CORES)}")
        return v

    @field_validator("kernels")
    @classmethod
    def _every_kernel(cls, v: dict[str, KernelCost]) -> dict[str, KernelCost]:
        for name in v:
            if name not in KERNELS:
                raise _bad(name, f"unknown kernel; allowed: {', '.join(KERNELS)}")
        for name in KERNELS:
            if name not in v:
                raise _bad(name, f"kernel missing; every kernel is required: {', '.join(KERNELS)}")
        return {name: v[name] for name in KERNELS}

    @model_validator(mode="after")
    def _consistent(self) -> BoardProfile:
        info = CORES[self.core]
        if self.fpu and not info.fpu_allowed:
            raise _bad("fpu", f"{self.core} has no FPU; must be false", self.fpu)
        if self.dsp and not info.dsp_allowed:
            raise _bad("dsp", f"{self.core} has no DSP extension; must be false", self.dsp)
        if self.validation.qemu_machine != info.qemu_machine:
            raise _bad("validation.qemu_machine", f"must be {info.qemu_machine} for core {self.core}",
                       self.validation.qemu_machine)
        if f"-mcpu={self.core}" not in self.validation.cflags:
            raise _bad("validation.cflags", f"must contain -mcpu={self.core}", self.validation.cflags)
        usable_sram = self.sram.bytes - self.sram.reserved_bytes
        if self.budgets.sram_bytes is not None and self.budgets.sram_bytes > usable_sram:
            raise _bad("budgets.sram_bytes", f"must not exceed sram.bytes - sram.reserved_bytes = {usable_sram}",
                       self.budgets.sram_bytes)
        usable_flash = self.flash.bytes - self.flash.reserved_bytes
        if self.budgets.flash_bytes is not None and self.budgets.flash_bytes > usable_flash:
            raise _bad("budgets.flash_bytes", f"must not exceed flash.bytes - flash.reserved_bytes = {usable_flash}",
                       self.budgets.flash_bytes)
        return self

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def sram_budget(self) -> int:
        """SRAM a design may use: ``budgets.sram_bytes``, else what the application reserve leaves."""
        if self.budgets.sram_bytes is not None:
            return self.budgets.sram_bytes
        return self.sram.bytes - self.sram.reserved_bytes

    @property
    def flash_budget(self) -> int:
        if self.budgets.flash_bytes is not None:
            return self.budgets.flash_bytes
        return self.flash.bytes - self.flash.reserved_bytes

    @property
    def largest_sram_bank(self) -> int:
        """The arena is one contiguous block, so it must fit in this."""
        return max(self.sram.banks)

    def as_dict(self) -> dict[str, Any]:
        """The full profile as plain JSON data, plus the derived budgets and the file it came from."""
        data = self.model_dump(mode="json", by_alias=True)
        data.update(sram_budget=self.sram_budget, flash_budget=self.flash_budget,
                    largest_sram_bank=self.largest_sram_bank, path=str(self.path))
        return data


def load_profile(path: Path) -> BoardProfile:
    """Read and validate one board profile; BadInput names the file and key of the first problem."""
    path = Path(path)
    raw, lines = read_yaml_document(path, "board profile", "schema, name, core, ... (see hw_profiles/README.md)")
    if "path" in raw:
        raise BadInput(f"{path}: path: Extra inputs are not permitted")
    try:
        profile = BoardProfile.model_validate({**raw, "path": path.resolve()})
    except ValidationError as e:
        raise BadInput(validation_line(path, e, BoardProfile, lines, raw)) from None
    if profile.name != path.stem:
        raise BadInput(f"{path}: name: must equal the file name without its suffix, {path.stem!r} "
                       f"(got {shown(profile.name)})")
    return profile


def profile_dirs() -> list[Path]:
    """Where boards are looked up: each directory of ``$EXPLORE_HW_PROFILES`` (os.pathsep-separated),
    then the built-in ``hw_profiles/`` (shipped with explore)."""
    dirs = []
    for entry in os.environ.get(ENV_DIRS, "").split(os.pathsep):
        if entry.strip():
            d = Path(entry).expanduser()
            if not d.is_dir():
                raise BadInput(f"{ENV_DIRS}: {entry!r} is not a directory")
            dirs.append(d)
    builtin = hw_profiles_dir()
    if builtin.is_dir():
        dirs.append(builtin)
    return dirs


def _profile_files() -> dict[str, Path]:
    """Board name -> profile file over profile_dirs(); the first directory wins on a name clash."""
    found: dict[str, Path] = {}
    for d in profile_dirs():
        here: dict[str, Path] = {}
        for file in sorted(p for p in d.iterdir() if p.suffix in SUFFIXES and p.is_file()):
            if file.stem in here:
                raise BadInput(f"{file}: board {file.stem!r} is also defined by {here[file.stem]}; keep one file")
            here[file.stem] = file
        for name, file in here.items():
            found.setdefault(name, file)
    return found


def _is_path(name_or_path: str) -> bool:
    return name_or_path.endswith(SUFFIXES) or "/" in name_or_path or os.sep in name_or_path


class UnknownBoard(BadInput):
    """A board name that no profile directory defines, or a profile path that is not a file."""


def find_board(name_or_path: str, base_dir: Path | None = None) -> BoardProfile:
    """A board by name (looked up in profile_dirs()) or by profile file path (relative to ``base_dir``
    when given, else to the working directory)."""
    if _is_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        try:
            found = path.is_file()
        except OSError as e:  # a name longer than the file system allows
            raise UnknownBoard(f"board profile file {shown(str(path))}: {e.strerror}") from None
        if not found:
            raise UnknownBoard(f"board profile file {shown(str(path))} not found")
        return load_profile(path)
    files = _profile_files()
    if name_or_path not in files:
        known = ", ".join(sorted(files)) or "none"
        where = ", ".join(str(d) for d in profile_dirs()) or "no profile directory"
        raise UnknownBoard(f"unknown board {shown(name_or_path)}; known boards: {known} (profiles are read from "
                           f"{where}; a new board is one YAML file, see hw_profiles/README.md)")
    return load_profile(files[name_or_path])


def list_boards() -> list[BoardProfile]:
    """Every profile in profile_dirs() (first directory wins on a name clash), sorted by name.
    A profile that does not validate raises BadInput; none is skipped silently."""
    files = _profile_files()
    return [load_profile(files[name]) for name in sorted(files)]
