"""CLI contract: help/version work, and bad input exits 2 with one clear stderr line."""

from __future__ import annotations

import subprocess
import sys

import click

from explore.errors import BadInput
import pytest

from explore import __version__
from explore.cli.main import ExploreGroup


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A real subprocess, so the entry point, exit codes and stderr are what users see.
    return subprocess.run([sys.executable, "-m", "explore", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout
    assert "bench" in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
    assert "explore" in result.stdout


@pytest.mark.parametrize("args", [["bench", "--help"], ["bench", "fqt", "--help"], ["bench", "kernels", "--help"]])
def test_bench_help(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_help_does_not_import_jax() -> None:
    # `explore --help` must stay fast: the numeric stack is imported only by commands.
    code = ("import sys\nfrom explore.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'jax' not in sys.modules, 'jax imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("args", "names"), [
    (["demo", "--config", "int4"], ["--config", "int4", "uint8"]),
    (["demo", "--epochs", "0"], ["--epochs", "0", "1"]),
    (["demo", "--lambda-min", "1.5"], ["--lambda-min", "1.5"]),
    (["demo", "--lambda-min", "0.9", "--lambda-max", "0.5"], ["--lambda-min", "0.9", "0.5"]),
    (["demo", "--lr", "0"], ["--lr"]),
    (["bench", "fqt", "--steps", "0"], ["--steps"]),
    (["demo", "--no-such-option"], ["--no-such-option"]),
    (["no-such-command"], ["no-such-command"]),
])
def test_bad_input_is_one_line_exit_2(args: list[str], names: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("explore: error: "), line
    for name in names:
        assert name in line, (name, line)
    assert "Traceback" not in result.stderr
    assert "Usage:" not in result.stderr


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=ExploreGroup)
    def cli() -> None:
        pass

    @cli.command()
    def boom() -> None:
        raise exc

    return cli


def test_library_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    cli = _group_raising(BadInput("lr must be > 0, got -1.0"))
    with pytest.raises(SystemExit) as info:
        cli.main(["boom"], prog_name="explore")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["explore: error: lr must be > 0, got -1.0"]


def test_unexpected_error_keeps_its_traceback() -> None:
    # A bug is not bad input: it must not be disguised as a one-line exit 2.
    cli = _group_raising(ValueError("internal shape mismatch"))
    with pytest.raises(ValueError, match="internal shape mismatch"):
        cli.main(["boom"], prog_name="explore")


def test_keyboard_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    cli = _group_raising(KeyboardInterrupt())
    with pytest.raises(SystemExit) as info:
        cli.main(["boom"], prog_name="explore")
    assert info.value.code == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "explore: interrupted"
    assert "Traceback" not in err
