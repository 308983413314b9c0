"""Build hook (pyproject.toml, ``[tool.setuptools] cmdclass``): a wheel carries the repository's
top-level ``runtime_c/``, ``hw_profiles/`` and ``search_spaces/`` as package data under
``explore/_data/``, where :mod:`explore.resources` finds them.

The repository keeps its layout; only the build copies the directories into the package.  An
editable install copies nothing: ``explore.resources`` then finds them beside the package.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parents[1]
#: What is never package data: Python caches and local build trees (as in .gitignore).
IGNORED = shutil.ignore_patterns("__pycache__", "*.py[cod]", "build", "build-*", ".*")


def _resources_module():
    """explore/resources.py, loaded alone: it names the shipped directories (one fact in one place),
    and the package itself cannot be imported while it is being built."""
    spec = importlib.util.spec_from_file_location("_explore_resources", ROOT / "explore" / "resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPy(build_py):
    """setuptools' build_py, then the shipped directories copied into ``explore/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        resources = _resources_module()
        target_root = Path(self.build_lib) / "explore" / resources.PACKAGE_DATA
        for name in resources.SHIPPED_DIRS:
            target = target_root / name
            shutil.rmtree(target, ignore_errors=True)  # a file deleted from the repository leaves no stale copy
            shutil.copytree(ROOT / name, target, ignore=IGNORED)
