"""Board profiles: the shipped ones load and carry the paper's Table II; every bad profile is ONE
BadInput line naming the file and the dotted key; boards are found by name, path and
$EXPLORE_HW_PROFILES; ``explore boards`` lists them and exits 2 on a bad one; campaigns check theirs."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from explore.campaign import load_campaign
from checks import assert_one_line_naming
from explore.errors import BadInput
from explore.campaign.boards import (CORES, KERNELS, SCHEMA, BoardProfile, KernelCost, find_board, list_boards,
                                     load_profile, profile_dirs)

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "hw_profiles"
SHIPPED = ("imxrt1062", "nrf52840", "rp2040", "stm32f746", "stm32l476")
KB, MB = 1024, 1024 * 1024


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLORE_HW_PROFILES", raising=False)


def _raw(name: str = "nrf52840") -> dict:
    return yaml.safe_load((PROFILES / f"{name}.yaml").read_text())


def _write(directory: Path, data: Any, stem: str = "nrf52840") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------- shipped profiles


def test_every_shipped_profile_loads() -> None:
    assert sorted(p.stem for p in PROFILES.glob("*.yaml")) == list(SHIPPED)
    for name in SHIPPED:
        board = load_profile(PROFILES / f"{name}.yaml")
        assert isinstance(board, BoardProfile)
        assert board.name == name and board.schema_id == SCHEMA
        assert board.path == (PROFILES / f"{name}.yaml").resolve()
        assert list(board.kernels) == list(KERNELS)
        assert board.validation.qemu_machine == CORES[board.core].qemu_machine
        assert f"-mcpu={board.core}" in board.validation.cflags
        assert "-ffp-contract=off" in board.validation.cflags  # design.md rule 13
        assert sum(board.sram.banks) == board.sram.bytes
        assert board.power.active_ma.value > board.power.idle_ma.value
        assert board.power.supply_v.value == 3.3


@pytest.mark.parametrize(("name", "core", "mhz", "sram", "banks", "flash", "external", "idle_ma"), [
    ("rp2040", "cortex-m0plus", 133, 264 * KB, [256 * KB, 4 * KB, 4 * KB], 16 * MB, True, 31.24),
    ("nrf52840", "cortex-m4", 64, 256 * KB, [256 * KB], 1 * MB, False, 7.27),
    ("imxrt1062", "cortex-m7", 600, 2 * 512 * KB, [512 * KB, 512 * KB], 16 * MB, True, 108.26),
])
def test_table_ii_figures(name: str, core: str, mhz: int, sram: int, banks: list[int], flash: int,
                          external: bool, idle_ma: float) -> None:
    board = find_board(name)
    assert board.core == core
    assert board.clock_mhz == mhz and board.clock_hz == mhz * 1e6
    assert board.sram.bytes == sram and board.sram.banks == banks
    assert board.largest_sram_bank == max(banks)
    assert board.flash.bytes == flash and board.flash.external is external
    assert board.power.idle_ma.value == idle_ma
    assert board.power.idle_ma.source == "paper: Table II"


def test_fpu_and_dsp_follow_the_paper() -> None:
    # The paper: the nrf52840 beats the faster-clocked RP2040 thanks to its FPU and DSP extension.
    rp, nrf = find_board("rp2040"), find_board("nrf52840")
    assert (rp.fpu, rp.dsp) == (False, False) and (nrf.fpu, nrf.dsp) == (True, True)
    assert rp.kernels["conv_mac"].float32 > 10 * nrf.kernels["conv_mac"].float32  # soft float
    for kernel in ("conv_mac", "dense_mac", "input_grad_mac", "weight_grad_mac"):
        ns = {b.name: b.kernels[kernel].float32 * b.cpi.value / b.clock_hz * 1e9 for b in (rp, nrf)}
        assert ns["rp2040"] > ns["nrf52840"], (kernel, ns)
    # integer MACs of the SMLAD kernels need fewer instructions than the M0+'s (its 2x clock may still win in
    # time); dense layers are left out: runtime_c's DSP forward pairs output positions, and a dense layer has one
    for kernel in ("conv_mac", "input_grad_mac", "weight_grad_mac"):
        assert rp.kernels[kernel].uint8 > nrf.kernels[kernel].uint8, kernel


def test_other_boards() -> None:
    f7 = find_board("stm32f746")
    assert (f7.core, f7.clock_mhz, f7.sram.bytes, f7.sram.banks) == ("cortex-m7", 216, 327680, [327680])
    assert (f7.flash.bytes, f7.flash.external, f7.fpu, f7.dsp) == (1 * MB, False, True, True)
    assert f7.validation.qemu_machine == "mps2-an500"
    l4 = find_board("stm32l476")
    assert (l4.core, l4.clock_mhz, l4.sram.bytes, l4.flash.bytes) == ("cortex-m4", 80, 128 * KB, 1 * MB)
    assert l4.validation.qemu_machine == "mps2-an386"
    assert l4.power.active_ma.value < find_board("nrf52840").power.active_ma.value  # the low-power part


def test_budgets_default_to_what_the_reserve_leaves_and_can_be_lowered(tmp_path: Path) -> None:
    board = find_board("nrf52840")
    assert board.sram_budget == board.sram.bytes - board.sram.reserved_bytes == 240 * KB
    assert board.flash_budget == board.flash.bytes - board.flash.reserved_bytes == 960 * KB
    assert board.budgets.train_latency_ms is None
    raw = _raw()
    raw["budgets"] = {"sram_bytes": 100_000, "flash_bytes": 500_000, "train_latency_ms": 20,
                      "energy_mj_per_sample": 0.5}
    lowered = load_profile(_write(tmp_path, raw))
    assert (lowered.sram_budget, lowered.flash_budget) == (100_000, 500_000)
    assert lowered.budgets.train_latency_ms == 20.0 and lowered.budgets.infer_latency_ms is None


def test_profile_is_frozen_and_dump_excludes_path() -> None:
    board = find_board("rp2040")
    with pytest.raises(Exception):
        board.clock_mhz = 1.0  # type: ignore[misc]
    assert "path" not in board.model_dump()
    assert board.model_dump(by_alias=True)["schema"] == SCHEMA
    data = board.as_dict()
    json.dumps(data)
    assert data["path"] == str(PROFILES / "rp2040.yaml")
    assert data["sram_budget"] == board.sram_budget
    assert data["kernels"]["conv_mac"]["uint8"] == board.kernels["conv_mac"].uint8 > 0


def test_int_is_accepted_where_a_float_is_expected(tmp_path: Path) -> None:
    raw = _raw()
    raw["power"]["idle_ma"]["value"] = 7
    raw["kernels"]["dense_mac"] = {"uint8": 4, "float32": 4, "source": "calibrated: qemu icount run 1"}
    board = load_profile(_write(tmp_path, raw))
    assert board.power.idle_ma.value == 7.0
    assert board.kernels["dense_mac"] == KernelCost(uint8=4, float32=4, source="calibrated: qemu icount run 1")


# --------------------------------------------------------------------------- bad profiles


def _set(keys: str, value: Any) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        *parents, last = keys.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    return edit


def _drop(keys: str) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        *parents, last = keys.split(".")
        node = raw
        for key in parents:
            node = node[key]
        del node[last]
    return edit


def _many(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        for one in edits:
            one(raw)
    return edit


# case: (shipped profile to start from, edit, strings the message must contain after "<file>: ")
BAD_PROFILES: dict[str, tuple[str, Callable[[dict], None], list[str]]] = {
    "missing-field": ("nrf52840", _drop("clock_mhz"), ["clock_mhz: Field required"]),
    "missing-nested-field": ("nrf52840", _drop("sram.reserved_bytes"), ["sram.reserved_bytes", "required"]),
    "missing-source": ("nrf52840", _drop("cpi.source"), ["cpi.source"]),
    "negative-figure": ("nrf52840", _set("power.idle_ma.value", -1.0), ["power.idle_ma.value", "-1.0"]),
    "negative-reserve": ("nrf52840", _set("flash.reserved_bytes", -5), ["flash.reserved_bytes", "-5"]),
    "zero-clock": ("nrf52840", _set("clock_mhz", 0), ["clock_mhz", "greater than 0", "(got 0)"]),
    "negative-kernel": ("nrf52840", _set("kernels.conv_mac.uint8", -3), ["kernels.conv_mac.uint8", "-3"]),
    "zero-cpi": ("nrf52840", _set("cpi.value", 0), ["cpi.value"]),
    "zero-supply": ("nrf52840", _set("power.supply_v.value", 0.0), ["power.supply_v.value"]),
    "string-number": ("nrf52840", _set("clock_mhz", "64"), ["clock_mhz", "valid number", "'64'"]),
    "string-int": ("nrf52840", _set("sram.bytes", "262144"), ["sram.bytes", "valid integer", "'262144'"]),
    "float-for-int": ("nrf52840", _set("sram.bytes", 262144.5), ["sram.bytes", "262144.5"]),
    "bool-for-number": ("nrf52840", _set("clock_mhz", True), ["clock_mhz", "True"]),
    "number-for-bool": ("nrf52840", _set("fpu", 1), ["fpu", "boolean"]),
    "string-bank": ("nrf52840", _set("sram.banks", ["262144"]), ["sram.banks[0]", "'262144'"]),
    "unknown-core": ("nrf52840", _set("core", "cortex-m55"), ["core", "'cortex-m55'", "cortex-m0plus", "cortex-m33"]),
    "fpu-on-m0plus": ("rp2040", _set("fpu", True), ["fpu", "cortex-m0plus has no FPU"]),
    "dsp-on-m0plus": ("rp2040", _set("dsp", True), ["dsp", "cortex-m0plus has no DSP"]),
    "fpu-on-m3": ("rp2040", _many(_set("core", "cortex-m3"), _set("fpu", True)), ["fpu", "cortex-m3"]),
    "sram-reserve-too-big": ("nrf52840", _set("sram.reserved_bytes", 262144), ["sram.reserved_bytes", "262144"]),
    "flash-reserve-too-big": ("nrf52840", _set("flash.reserved_bytes", 2 * MB),
                              ["flash.reserved_bytes", "< flash.bytes"]),
    "banks-do-not-sum": ("nrf52840", _set("sram.banks", [131072, 65536]), ["sram.banks", "sum to sram.bytes"]),
    "bank-zero": ("rp2040", _set("sram.banks", [270336, 0]), ["sram.banks[1]"]),
    "no-banks": ("nrf52840", _set("sram.banks", []), ["sram.banks"]),
    "sram-budget-too-big": ("nrf52840", _set("budgets", {"sram_bytes": 250000}),
                            ["budgets.sram_bytes", "sram.bytes - sram.reserved_bytes = 245760", "250000"]),
    "flash-budget-too-big": ("nrf52840", _set("budgets", {"flash_bytes": 1000000}),
                             ["budgets.flash_bytes", "983040", "1000000"]),
    "zero-latency-budget": ("nrf52840", _set("budgets", {"train_latency_ms": 0}), ["budgets.train_latency_ms"]),
    "unknown-budget": ("nrf52840", _set("budgets", {"ram_bytes": 1000}), ["budgets.ram_bytes", "unknown key (did you mean 'sram_bytes'?)"]),
    "qemu-mismatch": ("nrf52840", _set("validation.qemu_machine", "mps2-an500"),
                      ["validation.qemu_machine", "mps2-an386", "cortex-m4", "'mps2-an500'"]),
    "qemu-m0plus": ("rp2040", _set("validation.qemu_machine", "mps2-an386"),
                    ["validation.qemu_machine", "mps2-an385"]),
    "cflags-without-mcpu": ("nrf52840", _set("validation.cflags", ["-mthumb", "-O2"]),
                            ["validation.cflags", "-mcpu=cortex-m4"]),
    "cflags-wrong-mcpu": ("imxrt1062", _set("validation.cflags", ["-mcpu=cortex-m4", "-O2"]),
                          ["validation.cflags", "-mcpu=cortex-m7"]),
    "source-untagged": ("nrf52840", _set("power.idle_ma.source", "Table II"),
                        ["power.idle_ma.source", "assumed", "paper: <where>", "'Table II'"]),
    "source-empty-paper": ("nrf52840", _set("cpi.source", "paper:  "), ["cpi.source", "'paper:  '"]),
    "source-assumed-variant": ("nrf52840", _set("runtime.code_bytes.source", "Assumed"),
                               ["runtime.code_bytes.source"]),
    "source-unknown-tag": ("nrf52840", _set("kernels.dense_mac.source", "guess: me"), ["kernels.dense_mac.source"]),
    "source-not-string": ("nrf52840", _set("cpi.source", 3), ["cpi.source", "valid string"]),
    "unknown-kernel": ("nrf52840", _set("kernels.conv_mc", {"uint8": 5, "float32": 5, "source": "assumed"}),
                       ["kernels.conv_mc", "unknown kernel", "conv_mac"]),
    "missing-kernel": ("nrf52840", _drop("kernels.update"), ["kernels.update", "missing", "grad_accum"]),
    "kernel-missing-precision": ("nrf52840", _drop("kernels.pool.float32"), ["kernels.pool.float32", "required"]),
    "kernel-unknown-key": ("nrf52840", _set("kernels.pool.int8", 3), ["kernels.pool.int8", "unknown key (did you mean 'uint8'?)"]),
    "unknown-top-level-key": ("nrf52840", _set("ram", 1), ["ram", "unknown key (did you mean 'sram'?)"]),
    "path-key": ("nrf52840", _set("path", "/etc"), ["path", "Extra inputs"]),
    "wrong-schema": ("nrf52840", _set("schema", "explore.board/2"), ["schema", "explore.board/1", "'explore.board/2'"]),
    "missing-schema": ("nrf52840", _drop("schema"), ["schema: Field required"]),
    "name-not-stem": ("nrf52840", _set("name", "nrf52832"), ["name", "'nrf52840'", "'nrf52832'"]),
    "multi-line-description": ("nrf52840", _set("description", "one\ntwo"),
                               ["description: must be one non-empty line"]),
    "active-below-idle": ("nrf52840", _set("power.active_ma.value", 5.0), ["power.active_ma.value", "idle_ma"]),
    "figure-not-mapping": ("nrf52840", _set("cpi", 1.2), ["cpi", "valid dictionary (got 1.2)"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_is_one_line_naming_file_and_key(tmp_path: Path, case: str) -> None:
    base, edit, names = BAD_PROFILES[case]
    raw = copy.deepcopy(_raw(base))
    edit(raw)
    path = _write(tmp_path, raw, base)
    with pytest.raises(BadInput) as info:
        load_profile(path)
    assert_one_line_naming(str(info.value), path, names)


@pytest.mark.parametrize(("text", "names"), [
    ("name: [unclosed\n", ["not valid YAML at line"]),
    ("- just\n- a list\n", ["mapping"]),
    ("just a string\n", ["mapping"]),
    ("", ["mapping"]),
])
def test_profile_that_is_not_a_yaml_mapping(tmp_path: Path, text: str, names: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BadInput) as info:
        load_profile(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: ")
    for name in names:
        assert name in message


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not found"):
        load_profile(tmp_path / "nope.yaml")


def test_several_problems_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    raw = _raw()
    raw["clock_mhz"] = -1
    raw["sram"]["bytes"] = "big"
    with pytest.raises(BadInput) as info:
        load_profile(_write(tmp_path, raw))
    assert "clock_mhz" in str(info.value) and "[+1 more]" in str(info.value)


# --------------------------------------------------------------------------- lookup


def test_find_board_by_name_and_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_board("nrf52840").path == (PROFILES / "nrf52840.yaml").resolve()
    raw = _raw()
    raw["name"] = "mine"
    _write(tmp_path / "boards", raw, "mine")
    board = find_board("boards/mine.yaml", base_dir=tmp_path)
    assert board.name == "mine" and board.path == (tmp_path / "boards" / "mine.yaml").resolve()
    monkeypatch.chdir(tmp_path / "boards")
    assert find_board("mine.yaml").name == "mine"  # a .yaml name is a path, relative to the working dir
    assert find_board(str(tmp_path / "boards" / "mine.yaml"), base_dir=Path("/nowhere")).name == "mine"
    with pytest.raises(BadInput, match="not found"):
        find_board("boards/other.yaml", base_dir=tmp_path)


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(BadInput) as info:
        find_board("esp32")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "'esp32'" in message
    assert "known boards: " + ", ".join(SHIPPED) in message
    assert "hw_profiles/README.md" in message


def test_env_directories_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    raw = _raw()
    raw["clock_mhz"] = 32  # a user's own nrf52840 overrides the shipped one
    _write(first, raw)
    other = _raw("stm32l476")
    other["name"] = "l4mini"
    _write(first, other, "l4mini")
    other["description"] = "shadowed by the first directory"
    _write(second, other, "l4mini")
    monkeypatch.setenv("EXPLORE_HW_PROFILES", os.pathsep.join([str(first), str(second)]))
    assert profile_dirs() == [first, second, PROFILES]
    assert find_board("nrf52840").clock_mhz == 32
    assert find_board("nrf52840").path == (first / "nrf52840.yaml").resolve()
    assert find_board("l4mini").path == (first / "l4mini.yaml").resolve()
    assert find_board("l4mini").description != "shadowed by the first directory"
    assert find_board("rp2040").path.parent == PROFILES
    boards = list_boards()
    assert [b.name for b in boards] == sorted([*SHIPPED, "l4mini"])
    assert {b.name: b.clock_mhz for b in boards}["nrf52840"] == 32


def test_env_directory_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORE_HW_PROFILES", str(tmp_path / "typo"))
    with pytest.raises(BadInput, match="EXPLORE_HW_PROFILES.*not a directory"):
        find_board("nrf52840")


def test_list_boards_does_not_skip_a_bad_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _raw()
    raw["core"] = "cortex-m99"
    path = _write(tmp_path, raw, "nrf52840")
    monkeypatch.setenv("EXPLORE_HW_PROFILES", str(tmp_path))
    with pytest.raises(BadInput, match="core"):
        list_boards()
    with pytest.raises(BadInput, match=str(path)):
        find_board("nrf52840")


# --------------------------------------------------------------------------- explore boards


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "EXPLORE_HW_PROFILES"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "explore", *args], capture_output=True, text=True,
                          timeout=120, env=full_env, cwd=ROOT)


def test_boards_json_lists_all_five_with_consistent_budgets() -> None:
    result = _run("boards", "--json")
    assert result.returncode == 0, result.stderr
    boards = json.loads(result.stdout)["boards"]
    assert sorted(boards) == list(SHIPPED)
    for name, data in boards.items():
        assert data["name"] == name and data["schema"] == SCHEMA
        assert Path(data["path"]) == (PROFILES / f"{name}.yaml").resolve()
        assert data["sram_budget"] == data["sram"]["bytes"] - data["sram"]["reserved_bytes"]
        assert data["flash_budget"] == data["flash"]["bytes"] - data["flash"]["reserved_bytes"]
        assert 0 < data["sram_budget"] < data["sram"]["bytes"]
        assert data["largest_sram_bank"] == max(data["sram"]["banks"])
        assert list(data["kernels"]) == list(KERNELS)
        assert data == find_board(name).as_dict()


def test_boards_table_lists_every_board() -> None:
    result = _run("boards")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["board", "core", "clock"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == list(SHIPPED)
    assert "cortex-m0plus" in rows["rp2040"] and "133 MHz" in rows["rp2040"] and "264 KB / 248 KB" in rows["rp2040"]
    assert "16 MB ext" in rows["imxrt1062"] and "mps2-an500" in rows["imxrt1062"]
    assert "1 MB int / 960 KB" in rows["nrf52840"] and "hw_profiles/nrf52840.yaml" in rows["nrf52840"]


def test_boards_help_says_how_to_add_a_board() -> None:
    result = _run("boards", "--help")
    assert result.returncode == 0, result.stderr
    for text in ("EXPLORE_HW_PROFILES", "hw_profiles/README.md", "YAML"):
        assert text in result.stdout


def test_boards_with_a_bad_profile_exits_2_with_one_line(tmp_path: Path) -> None:
    raw = _raw()
    raw["sram"]["reserved_bytes"] = 300000
    path = _write(tmp_path, raw)
    for args in (["boards"], ["boards", "--json"]):
        result = _run(*args, env={"EXPLORE_HW_PROFILES": str(tmp_path)})
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert re.match(re.escape(f"explore: error: {path}:") + r"\d+: sram.reserved_bytes: ", lines[0]), lines[0]
        assert "Traceback" not in result.stderr and result.stdout == ""


# --------------------------------------------------------------------------- campaigns

CAMPAIGN = "name: tiny\ndataset: {name: digits}\nmodel: {family: cnn}\n"


def test_campaign_with_an_unknown_board_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN + "boards: [nrf52840, esp32]\n")
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}:4: boards[1]: unknown board 'esp32'; known boards: "), message
    assert "nrf52840" in message
    path.write_text(CAMPAIGN + "boards: [nrf5284]\n")
    with pytest.raises(BadInput, match=r"boards\[0\]: unknown board 'nrf5284'"):
        load_campaign(path)


def test_campaign_names_a_profile_file_relative_to_itself(tmp_path: Path) -> None:
    raw = _raw()
    raw["name"] = "mine"
    _write(tmp_path / "boards", raw, "mine")
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN + "boards: [rp2040, boards/mine.yaml]\n")
    assert load_campaign(path).boards == ["rp2040", "boards/mine.yaml"]
    path.write_text(CAMPAIGN + "boards: [boards/missing.yaml]\n")
    with pytest.raises(BadInput, match=r"boards\[0\]: board profile file .*missing.yaml.* not found"):
        load_campaign(path)


def test_campaign_with_a_bad_profile_reports_the_profile(tmp_path: Path) -> None:
    raw = _raw()
    raw["name"] = "mine"
    raw["fpu"] = "yes"
    profile = _write(tmp_path, raw, "mine")
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN + "boards: [mine.yaml]\n")
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    assert re.match(re.escape(f"{profile}:") + r"\d+: fpu: ", str(info.value)), str(info.value)
