"""The campaign's `search:` section and `explore check`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explore.campaign import PIPELINE_KEYS, load_campaign
from explore.errors import BadInput
from explore.model.families import get_family
from explore.campaign.space import SPACE_PIPELINE_KEYS, space_size

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"
TEXT = QUICKSTART.read_text()

# case -> (edit of the quickstart text, YAML line of the offending key, what the message must say)
BAD = {
    "wrong-type": (("trials: 30", 'trials: "30"'), "trials: 30", ["search.trials", "valid integer"]),
    "unknown-key": (("early_stopping:", "early_stoping:"), "early_stopping:",
                    ["search.early_stoping", "did you mean 'early_stopping'?"]),
    "unknown-genome-key": (("    width: {low: 0.5", "    widht: {low: 0.5"), "    width: {low: 0.5",
                           ["search.space.widht", "did you mean 'width'?"]),
    "inverted-lambda": (("lambda: {low: 0.2, high: 1.0}", "lambda: {low: 0.9, high: 0.2}"), "lambda: {low",
                        ["search.lambda", "inverted λ range"]),
    "unknown-objective": (("- {name: train_sram}", "- {name: train_ram}"), "- {name: train_sram}",
                          ["search.objectives[1]", "unknown objective 'train_ram'", "did you mean 'train_sram'?"]),
    "unknown-board": (("boards: [nrf52840]", "boards: [nrf52840, esp32]"), "boards: [nrf52840]",
                      ["boards[1]", "unknown board 'esp32'"]),
    "objective-board": (("board: nrf52840}", "board: rp2040}"), "board: nrf52840}",
                        ["search.objectives[2].board", "'rp2040'"]),
    "budget-beyond-board": (("sram_bytes: 131072", "sram_bytes: 9999999"), "nrf52840: {sram_bytes",
                            ["search.budgets.nrf52840", "must not exceed"]),
    "outside-family-range": (("stages: {low: 2, high: 4}", "stages: {low: 2, high: 7}"), "stages: {low",
                             ["search.space.stages", "outside the allowed range"]),
    "range-for-choices": (("kernel: {choices: [3, 5]}", "kernel: {low: 3, high: 5}"), "kernel: {",
                          ["search.space.kernel", "choices"]),
}


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_search_is_one_line_with_file_line_and_key(tmp_path: Path, case: str) -> None:
    (old, new), anchor, names = BAD[case]
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}:{_line_of(TEXT, anchor)}: "), message  # edits keep lines
    for name in names:
        assert name in message, (name, message)


def test_explore_check_valid_and_invalid(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "explore", "check", str(QUICKSTART), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["campaign"]["search"]["lambda"] == {"low": 0.2, "high": 1.0}
    assert out["space"]["discrete_combinations"] == 3 * 3 * 2 * 5 * 2 * 3  # stages, expansion, kernel, head, config, k
    assert out["space"]["continuous"] == ["width", "sparsity", "lambda_max", "lambda_min"]
    human = subprocess.run([sys.executable, "-m", "explore", "check", str(QUICKSTART)],
                           capture_output=True, text=True, timeout=120)
    assert human.returncode == 0 and "540 discrete" in " ".join(human.stdout.split())
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEXT.replace("- {name: train_sram}", "- {name: sram}"))
    result = subprocess.run([sys.executable, "-m", "explore", "check", str(bad)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert re.fullmatch(re.escape(f"explore: error: {bad}:") + r"\d+: search\.objectives\[1\]: unknown objective.*\n",
                        result.stderr), result.stderr


def test_space_size_counts_steps_and_sets() -> None:
    campaign = load_campaign(QUICKSTART)
    keys = {**get_family("mbednet").keys, **{k: PIPELINE_KEYS[k] for k in SPACE_PIPELINE_KEYS}}
    search = campaign.search.model_copy(update={"trainable": campaign.search.trainable.model_copy(
        update={"last": None, "sets": [[11, 13], [13]]})})
    size = space_size(search, keys)
    assert size["discrete_combinations"] == 3 * 3 * 2 * 5 * 2 * 2
