"""The wheel is the product (issue 18, item 1): built with ``pip wheel``, installed into a fresh virtual
environment, and used from an empty directory outside the checkout, it lists its boards, runs a
campaign, exports bundles and validates one on the host, with the C runtime, the board profiles and
the example campaigns it carries as package data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from runs import tiny_campaign

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600
#: What a wheel is never built from: VCS data, build trees, caches and command outputs.
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "results", "*.egg-info", "__pycache__",
                                    "*.py[cod]", ".pytest_cache")


def _run(command: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, (f"{' '.join(map(str, command))} exited {result.returncode}\n"
                                    f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result.stdout


def _build_wheel(tmp_path: Path) -> Path:
    # pip builds in the source tree (setuptools' build/ and egg-info); a copy leaves the checkout,
    # which parallel tests share, untouched.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source], cwd=tmp_path)
    (wheel,) = dist.glob("explore-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh virtual environment with the wheel installed, and the environment to run it in.  It sees
    the system's site-packages for the dependencies (JAX and the rest are not downloaded again) and
    the system's pip (Debian's Python may lack ensurepip)."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv], cwd=tmp_path)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "EXPLORE_HW_PROFILES", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    _run([venv / "bin" / "python", "-m", "pip", "install", "--no-input", wheel], cwd=tmp_path, env=env)
    return venv, env


def test_the_wheel_in_a_fresh_venv_runs_a_campaign_from_an_empty_directory(tmp_path: Path) -> None:
    venv, env = _venv_with(_build_wheel(tmp_path), tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    python, explore = venv / "bin" / "python", venv / "bin" / "explore"

    # The venv's explore is the wheel's, not this checkout's (editable install or PYTHONPATH).
    where = _run([python, "-c", "import explore, explore.resources as r; print(explore.__file__); "
                  "print(*(r.shipped_dir(n) for n in r.SHIPPED_DIRS), sep='\\n')"], cwd=work, env=env).split()
    package, shipped = Path(where[0]), [Path(p) for p in where[1:]]
    assert package.is_relative_to(venv), package
    for directory in shipped:
        assert directory.is_relative_to(package.parent / "_data") and directory.is_dir(), directory
    runtime_c, hw_profiles, search_spaces = shipped
    assert (runtime_c / "CMakeLists.txt").is_file() and (runtime_c / "include" / "explore_bundle.h").is_file()

    boards = _run([explore, "boards"], cwd=work, env=env)
    for profile in sorted(hw_profiles.glob("*.yaml")):
        assert profile.stem in boards, f"{profile.stem} missing from `explore boards`:\n{boards}"
    assert sorted(p.name for p in hw_profiles.glob("*.yaml")) == sorted(p.name for p in (ROOT / "hw_profiles").glob("*.yaml"))

    # A shipped example campaign, copied out of the package data, is a valid campaign.
    shutil.copy(search_spaces / "quickstart.yaml", work / "quickstart.yaml")
    assert "quickstart.yaml: valid." in _run([explore, "check", "quickstart.yaml"], cwd=work, env=env)

    # explore init from the wheel: a channel-first series file becomes a campaign that check accepts.
    rng = np.random.default_rng(0)
    np.savez(work / "series.npz", x=rng.normal(size=(120, 1, 64)).astype(np.float32),
             y=rng.integers(0, 3, size=120))
    inferred = _run([explore, "init", "--data", "series.npz", "--layout", "ncl", "--out", "series.yaml"],
                    cwd=work, env=env)
    assert "nrf52840" in inferred, inferred
    assert "series.yaml: valid." in _run([explore, "check", "series.yaml"], cwd=work, env=env)

    campaign = tiny_campaign(work, trials=2, on_device_epochs=1, sram=245760)  # fits the nrf52840, so trials finish
    assert yaml.safe_load(campaign.read_text())["search"]["trials"] == 2
    _run([explore, "run", campaign.name], cwd=work, env=env)
    assert (work / "results" / "tiny").is_dir()
    status = json.loads(_run([explore, "status", campaign.name, "--json"], cwd=work, env=env))
    assert status["trials"]["complete"] == 2, status

    _run([explore, "export", campaign.name, "--pareto", "--out", "bundles"], cwd=work, env=env)
    bundles = sorted(p for p in (work / "bundles").iterdir() if (p / "manifest.json").is_file())
    assert bundles, "explore export wrote no bundle"

    verdict = _run([explore, "validate", bundles[0], "--target", "host"], cwd=work, env=env)
    assert "host: bit-exact" in verdict, verdict
