"""Input hardening, by class (issue 18, item 6): duplicate keys, YAML aliases, non-finite floats,
integer ranges, long values echoed, pydantic's internal names, and the file every message names.

Each case runs the real CLI (`explore check`, `cost` or `evaluate`, the commands the issue found the
problems with) in a subprocess whose working directory is the case's own directory, and asserts:
exit status 2, exactly one line on stderr that names the offending file (and the key), no
traceback, and not one file written or changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from explore.campaign import load_campaign
from explore.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
NRF52840 = (ROOT / "hw_profiles" / "nrf52840.yaml").read_text()
SEARCH_SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))
BASE = "name: tiny\ndataset: {name: digits}\nmodel: {family: cnn}\nboards: [nrf52840]\n"
PROFILE_BASE = BASE.replace("boards: [nrf52840]", "boards: [board/nrf52840.yaml]")
# pydantic's names for the alternatives of a union and its own vocabulary, never shown to a user
INTERNAL = re.compile(r"function-after|function-wrap|literal\[|list\[int\]|\.int\b|\.float\b|\[type=|pydantic|"
                      r"For further")
BILLION_LAUGHS = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))


@dataclass
class Case:
    """A command line run in ``d``; the one stderr line must name ``file`` and each of ``names``."""

    command: list[str]
    file: str
    names: list[str] = field(default_factory=list)


def _campaign(d: Path, text: str) -> str:
    (d / "campaign.yaml").write_text(text)
    return str(d / "campaign.yaml")


def _profile(d: Path, text: str) -> str:
    (d / "board").mkdir()
    (d / "board" / "nrf52840.yaml").write_text(text)
    return str(d / "board" / "nrf52840.yaml")


def _genome(d: Path, text: str) -> str:
    (d / "g.json").write_text(text)
    return str(d / "g.json")


def check(d: Path, text: str, *names: str) -> Case:
    path = _campaign(d, text)
    return Case(["check", path], path, list(names))


def cost(d: Path, text: str, *names: str) -> Case:
    path = _campaign(d, text)
    return Case(["cost", path], path, list(names))


def cost_profile(d: Path, profile: str, *names: str) -> Case:
    path = _profile(d, profile)
    return Case(["cost", _campaign(d, PROFILE_BASE)], path, list(names))


def cost_genome(d: Path, genome: str, *names: str) -> Case:
    path = _genome(d, genome)
    return Case(["cost", _campaign(d, BASE), "--genome", path], path, list(names))


def evaluate(d: Path, text: str, *names: str) -> Case:
    path = _campaign(d, text)
    return Case(["evaluate", path, "--out", str(d / "out")], path, list(names))


# Each class of item 6, with the file kinds it applies to: name -> (class, how to make the case).
CASES: dict[str, tuple[str, Callable[[Path], Case]]] = {
    # duplicate keys: an error naming the file and the line of the second spelling
    "duplicate_key": ("duplicate keys", lambda d: check(d, BASE + "seed: 1\nseed: 2\n", ":6:", "seed", "line 5")),
    "duplicate_section": ("duplicate keys", lambda d: check(
        d, BASE + "pretrain: {epochs: 3}\non_device: {epochs: 2}\npretrain: {epochs: 0}\n",
        ":7:", "pretrain", "line 5")),
    "duplicate_nested_key": ("duplicate keys", lambda d: check(
        d, BASE + "pretrain:\n  lr: 0.01\n  lr: 0.02\n", ":7:", "pretrain.lr", "line 6")),
    "duplicate_profile_key": ("duplicate keys", lambda d: cost_profile(
        d, NRF52840.replace("fpu: true", "fpu: true\nfpu: false"), ":9:", "fpu", "line 8")),
    "duplicate_genome_key": ("duplicate keys", lambda d: cost_genome(
        d, '{\n  "channels": 8,\n  "channels": 16\n}\n', ":3:", "channels")),
    # YAML aliases: expanded under a bound, a bomb or a cycle refused
    "alias_bomb": ("aliases", lambda d: check(d, BASE + BILLION_LAUGHS + "baseline: {channels: *l9}\n",
                                              "aliases", "100,000")),
    "alias_bomb_in_search_space": ("aliases", lambda d: check(
        d, BASE + BILLION_LAUGHS + "search: {space: {channels: {choices: *l9}}}\n", "aliases")),
    "alias_cycle": ("aliases", lambda d: check(d, BASE + "baseline: &b {channels: *b}\n", "baseline", "alias")),
    "alias_bomb_in_profile": ("aliases", lambda d: cost_profile(
        d, BILLION_LAUGHS.replace("lol", "x_lol") + NRF52840, "aliases")),
    # floats must be finite
    "lr_inf": ("finite floats", lambda d: evaluate(d, BASE + "pretrain: {lr: .inf}\n", "pretrain.lr", "finite")),
    "on_device_lr_nan": ("finite floats", lambda d: check(d, BASE + "on_device: {lr: .nan}\n",
                                                          "on_device.lr", "finite")),
    "space_bound_inf": ("finite floats", lambda d: check(
        d, BASE + "search: {space: {sparsity: {low: 0.0, high: .inf}}}\n", "search.space.sparsity.high", "finite")),
    "profile_nan": ("finite floats", lambda d: cost_profile(
        d, NRF52840.replace("clock_mhz: 64", "clock_mhz: .nan"), ":7:", "clock_mhz", "finite")),
    "genome_nan": ("finite floats", lambda d: cost_genome(d, '{"channels": 8,\n "sparsity": NaN}', ":2:", "NaN")),
    # integers have ranges
    "seed_check": ("integer ranges", lambda d: check(d, BASE + f"seed: {10**30}\n", "seed", "4294967295")),
    "seed_evaluate": ("integer ranges", lambda d: evaluate(d, BASE + f"seed: {10**30}\n", "seed", "4294967295")),
    "negative_seed": ("integer ranges", lambda d: check(d, BASE + "seed: -1\n", "seed")),
    "batch_size": ("integer ranges", lambda d: check(d, BASE + f"on_device: {{batch_size: {10**30}}}\n",
                                                     "on_device.batch_size")),
    "pretrain_batch_size": ("integer ranges", lambda d: check(d, BASE + f"pretrain: {{batch_size: {10**30}}}\n",
                                                              "pretrain.batch_size")),
    "epochs": ("integer ranges", lambda d: check(d, BASE + f"pretrain: {{epochs: {10**30}}}\n", "pretrain.epochs")),
    "trials": ("integer ranges", lambda d: check(d, BASE + f"search: {{trials: {10**30}}}\n", "search.trials")),
    "channels": ("integer ranges", lambda d: check(
        d, BASE.replace("{name: digits}", f"{{name: t, format: csv, path: t.csv, channels: {10**30}}}"),
        "dataset.channels")),
    "thousands_of_digits": ("integer ranges", lambda d: check(d, BASE + "seed: " + "9" * 5000 + "\n",
                                                              "seed", "digits")),
    "profile_bytes": ("integer ranges", lambda d: cost_profile(
        d, NRF52840.replace("bytes: 262144 ", f"bytes: {10**30} "), "sram.bytes")),
    "genome_trainable": ("integer ranges", lambda d: cost_genome(d, json.dumps({"trainable": [10**30]}),
                                                                 "trainable")),
    "nested_too_deep": ("integer ranges", lambda d: check(d, BASE + "baseline: " + "[" * 100_000 + "]" * 100_000
                                                          + "\n", "nested")),
    # a value echoed in a message is cut to about 80 characters
    "long_name": ("long values", lambda d: check(d, BASE.replace("name: tiny", "name: " + "a" * 3_850_000 + "!"),
                                                 "name")),
    "long_objective": ("long values", lambda d: check(
        d, BASE + "search: {objectives: [{name: " + "x" * 3_850_000 + "}]}\n", "search.objectives[0]")),
    "long_genome_value": ("long values", lambda d: cost_genome(d, json.dumps({"config": "u" * 3_850_000}),
                                                               "config")),
    "long_key": ("long values", lambda d: check(d, BASE + "pretrain:\n  ? " + "k" * 3_850_000 + "\n  : 1\n",
                                                "pretrain.kkkk", "unknown key")),
    "long_storage_path": ("long values", lambda d: check(d, BASE + "search: {storage: " + "s" * 5000 + "}\n",
                                                         "search.storage", "too long")),
    "long_board_path": ("long values", lambda d: check(d, BASE.replace("[nrf52840]", "[" + "b/" * 3000 + "x.yaml]"),
                                                       "boards[0]", "too long")),
    "long_data_path_check": ("long values", lambda d: check(
        d, BASE.replace("{name: digits}", "{name: x, format: npz, path: " + "a" * 5000 + ".npz}"),
        "dataset.path", "too long")),
    "long_data_path_cost": ("long values", lambda d: cost(
        d, BASE.replace("{name: digits}", "{name: x, format: npz, path: " + "a/" * 3000 + "x.npz}"),
        "dataset.path", "too long")),
    # no pydantic internal names
    "inverted_range": ("pydantic names", lambda d: check(
        d, BASE + "search:\n  space:\n    channels: {low: 24, high: 8}\n",
        ":7: search.space.channels: low (24) must not exceed high (8)")),
    "trainable_union": ("pydantic names", lambda d: check(d, BASE + "on_device: {trainable: alll}\n",
                                                          "on_device.trainable:", "'all'")),
    "range_or_choices": ("pydantic names", lambda d: check(
        d, BASE + "search:\n  space:\n    kernel: {choices: [3], low: 1}\n",
        ":7: search.space.kernel.low: unknown key; allowed: choices")),
    # every message names its file
    "genome_file_named": ("names its file", lambda d: cost_genome(d, json.dumps({"trainable_last": 64}),
                                                                  "trainable_last")),
    "data_setting_names_campaign": ("names its file", lambda d: cost(
        d, BASE.replace("{name: digits}", "{name: digits, path: x.npz}"), ":2:", "dataset.path", "builtin")),
    "baseline_names_campaign": ("names its file", lambda d: cost(d, BASE + "baseline: {trainable_last: 64}\n",
                                                                 "baseline", "trainable_last")),
    "profile_named": ("names its file", lambda d: cost_profile(d, NRF52840.replace("core: cortex-m4",
                                                                                   "core: cortex-m9"), "core")),
}


def _files(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*")}


def _run(d: Path, case: Case) -> tuple[subprocess.CompletedProcess[str], dict, dict]:
    before = _files(d)
    done = subprocess.run([sys.executable, "-m", "explore", *case.command], cwd=d, capture_output=True,
                          text=True, timeout=600)
    return done, before, _files(d)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every case, run a few at a time (each subprocess pays the imports)."""
    cases = {}
    for name, (_, make) in CASES.items():
        d = tmp_path_factory.mktemp(name)
        cases[name] = (d, make(d))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_run, d, case) for name, (d, case) in cases.items()}
        return {name: (cases[name][1], *future.result()) for name, future in futures.items()}


def test_every_class_has_cases() -> None:
    classes = {kind for kind, _ in CASES.values()}
    assert classes == {"duplicate keys", "aliases", "finite floats", "integer ranges", "long values",
                       "pydantic names", "names its file"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_naming_its_file(runs, name: str) -> None:
    case, done, before, after = runs[name]
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    line = lines[0]
    assert line.startswith(f"explore: error: {case.file}"), line
    assert len(line) < 600, line[:600]
    assert not re.search(r"(.)\1{100}", line), line[:600]  # no long value echoed in full
    assert not INTERNAL.search(line), line
    rest = line.removeprefix(f"explore: error: {case.file}")
    for expected in case.names:
        assert expected in rest, (expected, line)
    assert after == before, "files were written"


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BASE + BILLION_LAUGHS + "search: {space: {channels: {choices: *l9}}}\n")
    start = time.perf_counter()
    with pytest.raises(BadInput, match="aliases"):
        load_campaign(path)
    assert time.perf_counter() - start < 0.5


def test_aliases_within_the_bound_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(BASE + "pretrain: &train {epochs: 3, batch_size: 32}\non_device: {<<: *train, lr: 0.02}\n")
    campaign = load_campaign(path)
    assert campaign.on_device.epochs == 3 and campaign.on_device.batch_size == 32
    assert campaign.on_device.lr == 0.02


@pytest.mark.parametrize("path", SEARCH_SPACES, ids=lambda p: p.name)
def test_shipped_campaigns_stay_valid(path: Path) -> None:
    load_campaign(path)
