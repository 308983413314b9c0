"""`explore init --data FILE`: a commented campaign that `explore check` accepts, drafted from the
data as read; channel-first data are refused without --layout and costed right with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from runs import explore

N = 200


def write_npz(path: Path, shape: tuple[int, ...], *, test: int = 0, classes: int = 4) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(N,) + shape).astype(np.float32), "y": np.arange(N) % classes}
    if test:
        arrays.update(x_test=rng.normal(size=(test,) + shape).astype(np.float32), y_test=np.arange(test) % classes)
    np.savez(path, **arrays)
    return path


def refused(cwd: Path, *args: str) -> str:
    before = set(cwd.rglob("*"))
    result = explore("init", *args, cwd=cwd, timeout=300)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert set(cwd.rglob("*")) == before  # nothing written
    return result.stderr.strip().removeprefix("explore: error: ")


def arena(cwd: Path, campaign: Path) -> dict[str, int]:
    result = explore("cost", str(campaign), "--json", cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr
    return {board: cost["sram_bytes"]["arena"] for board, cost in json.loads(result.stdout)["boards"].items()}


def test_channel_first_series_is_refused_without_layout_and_costs_as_channel_last_with_it(tmp_path: Path) -> None:
    """Issue 18's must-show: an (N, 1, 512) npz is refused with the layout hint, and with --layout ncl
    its campaign's arena equals that of the same data stored (N, 512, 1)."""
    first = write_npz(tmp_path / "first.npz", (1, 512))
    message = refused(tmp_path, "--data", first.name, "--out", "first.yaml")
    for needed in ("(200, 1, 512)", "dataset.layout", "ncl", "--layout"):
        assert needed in message, (needed, message)

    made = explore("init", "--data", first.name, "--layout", "ncl", "--out", "first.yaml", cwd=tmp_path, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "read as ncl (dataset.layout) → 512 positions × 1 channel" in made.stdout
    last = np.load(first)["x"].transpose(0, 2, 1)
    np.savez(tmp_path / "last.npz", x=last, y=np.load(first)["y"])
    again = explore("init", "--data", "last.npz", "--out", "last.yaml", cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr

    channel_first, channel_last = arena(tmp_path, tmp_path / "first.yaml"), arena(tmp_path, tmp_path / "last.yaml")
    assert channel_first == channel_last
    assert channel_first["nrf52840"] > 512 * 8  # 512 positions of activations, not the 1 position of a misreading


def test_init_prints_what_it_inferred_and_writes_a_campaign_check_accepts(tmp_path: Path) -> None:
    write_npz(tmp_path / "images.npz", (3, 16, 16), test=40, classes=5)
    result = explore("init", "--data", "images.npz", "--layout", "nchw", "--board", "rp2040", "--board", "nrf52840",
                     cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read as nchw (dataset.layout) → 16×16 pixels × 3 channels" in out
    assert "test split: the file's own test split" in out
    assert "classes: 5; balance: 0: 48, 1: 48, 2: 48, 3: 48, 4: 48" in out
    assert "family: dscnn (fits 2-D images of shape (16, 16, 3)" in out
    assert "rp2040: fits; training SRAM" in out and "nrf52840: fits; training SRAM" in out
    assert "KiB free" in out

    path = tmp_path / "campaign.yaml"
    text = path.read_text()
    assert text.startswith("# Campaign drafted by `explore init`") and "  layout: nchw" in text
    campaign = yaml.safe_load(text)
    assert campaign["dataset"] == {"name": "images", "format": "npz", "path": "images.npz", "layout": "nchw",
                                   "normalize": "standard", "validation_fraction": 0.1, "test_fraction": 0.2}
    assert campaign["boards"] == ["rp2040", "nrf52840"] and campaign["model"] == {"family": "dscnn"}
    checked = explore("check", str(path), cwd=tmp_path, timeout=300)
    assert checked.returncode == 0, checked.stderr
    assert "valid.  Search space" in checked.stdout


def test_series_get_mbednet_and_family_can_be_chosen(tmp_path: Path) -> None:
    write_npz(tmp_path / "series.npz", (64, 2))
    sub = tmp_path / "campaigns"
    sub.mkdir()
    result = explore("init", "--data", "series.npz", "--out", "campaigns/s.yaml", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "family: mbednet (fits 1-D series of shape (64, 2)" in result.stdout
    assert "test split: none in the file, so 0.2 of it is held out" in result.stdout
    campaign = yaml.safe_load((sub / "s.yaml").read_text())
    assert campaign["dataset"]["path"] == "../series.npz" and "layout" not in campaign["dataset"]
    assert campaign["boards"] == ["nrf52840"]  # the quickstart's board
    chosen = explore("init", "--data", "series.npz", "--family", "cnn", "--out", "c.yaml", cwd=tmp_path, timeout=300)
    assert chosen.returncode == 0, chosen.stderr
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["model"]["family"] == "cnn"
    assert explore("check", "c.yaml", cwd=tmp_path, timeout=300).returncode == 0


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    write_npz(tmp_path / "series.npz", (64, 1))
    (tmp_path / "campaign.yaml").write_text("mine\n")
    message = refused(tmp_path, "--data", "series.npz")
    assert message.startswith("--out campaign.yaml: the file exists") and "--force" in message
    assert (tmp_path / "campaign.yaml").read_text() == "mine\n"
    forced = explore("init", "--data", "series.npz", "--force", cwd=tmp_path, timeout=300)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "campaign.yaml").read_text().startswith("# Campaign drafted by `explore init`")


@pytest.mark.parametrize("args, names", [
    (["--data", "nowhere.npz"], ["--data nowhere.npz", "no such file"]),
    (["--data", "series.txt"], ["--data series.txt", ".npz", ".csv"]),
    (["--data", "series.npz", "--board", "no-such-board"], ["--board no-such-board"]),
    (["--data", "series.npz", "--family", "resnet"], ["--family", "resnet", "mbednet"]),
    (["--data", "series.npz", "--layout", "chw"], ["--layout", "chw", "nchw"]),
    (["--data", "series.npz", "--layout", "nhwc"], ["--data series.npz", "dataset.layout", "nhwc", "nlc, ncl"]),
    (["--data", "table.csv", "--layout", "ncl"], ["--layout ncl", "CSV"]),
    (["--data", "series.npz", "--out", "missing/dir/c.yaml"], ["--out", "does not exist"]),
    (["--data", "garbage.npz"], ["--data garbage.npz", "not a readable .npz archive"]),
    (["--data", "one_class.npz"], ["--data one_class.npz", "at least 2 classes"]),
])
def test_bad_init_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], names: list[str]) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "series.npz", x=rng.normal(size=(N, 64)), y=np.arange(N) % 4)
    np.savez(tmp_path / "one_class.npz", x=rng.normal(size=(N, 64)), y=np.zeros(N, np.int64))
    (tmp_path / "series.txt").write_text("1,2\n")
    (tmp_path / "table.csv").write_text("label,a\n0,1\n1,2\n")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    message = refused(tmp_path, *args)
    for name in names:
        assert name in message, (name, message)


def test_init_help_teaches() -> None:
    result = explore("init", "--help", cwd=Path.cwd(), timeout=120)
    assert result.returncode == 0, result.stderr
    for needed in ("--data", "--layout", "ncl", "nchw", "--board", "--family", "--out", "--force", "Example:"):
        assert needed in result.stdout, needed
