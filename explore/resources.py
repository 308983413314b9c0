"""Where the files explore ships beside its code live: the C runtime, the board profiles and the
example campaigns.

The repository keeps them at its top level (``runtime_c/``, ``hw_profiles/``, ``search_spaces/``); a
wheel carries them as package data under ``explore/_data/`` (the build hook in
``scripts/package_data.py`` copies them there).  An installed wheel therefore finds them through
:mod:`importlib.resources`, and a source checkout (an editable install, or ``PYTHONPATH`` pointing at
it) finds them beside the package.  This module is the only place that knows either location.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The directories shipped as package data, by their name in the repository.
SHIPPED_DIRS = ("runtime_c", "hw_profiles", "search_spaces")
#: Where the build puts them inside the package.
PACKAGE_DATA = "_data"


def shipped_dir(name: str) -> Path:
    """The directory ``name`` (one of :data:`SHIPPED_DIRS`): the installed package data, else the
    source checkout's top-level directory."""
    if name not in SHIPPED_DIRS:
        raise ValueError(f"{name!r} is not shipped; shipped: {', '.join(SHIPPED_DIRS)}")
    # cmake and the compilers need real paths: explore is installed as files, never run from a zip.
    packaged = Path(str(files("explore").joinpath(PACKAGE_DATA, name)))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def runtime_dir() -> Path:
    """explore's C runtime (``runtime_c/``)."""
    return shipped_dir("runtime_c")


def hw_profiles_dir() -> Path:
    """The built-in board profiles (``hw_profiles/``)."""
    return shipped_dir("hw_profiles")


def search_spaces_dir() -> Path:
    """The example campaigns (``search_spaces/``)."""
    return shipped_dir("search_spaces")
