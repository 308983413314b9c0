"""What makes a bundle build on its own, without explore's checkout beside it.

- ``runtime/include/`` and ``runtime/src/``: a copy of runtime_c's headers and sources (not its tests,
  benchmarks, harness or ports).  ``explore_bundle.h``, the types, is not copied there: the bundle
  carries it next to ``model.h``.
- ``CMakeLists.txt``: the static library target ``explore_model`` (model.c and the runtime) for
  ``add_subdirectory`` from a firmware project; on its own it builds the example too.
- ``example/main.c``: trains the model on a small buffer of samples through the runtime's public API.

Both templates are in ``templates/``; the CMakeLists.txt gets the bundle's title and the source list.
"""

from __future__ import annotations

from pathlib import Path

from explore.deploy.runtime import BUNDLE_HEADER, RUNTIME_DIR

TEMPLATES = Path(__file__).parent / "templates"
CMAKE_LISTS = "CMakeLists.txt"
EXAMPLE_MAIN = "example/main.c"
RUNTIME_PREFIX = "runtime"


def runtime_files() -> dict[str, bytes]:
    """runtime_c's headers (but the bundle types) and sources, by their path in the bundle."""
    headers = sorted(p for p in (RUNTIME_DIR / "include").glob("*.h") if p.name != BUNDLE_HEADER.name)
    sources = sorted((RUNTIME_DIR / "src").glob("*.[ch]"))
    files = {f"{RUNTIME_PREFIX}/include/{p.name}": p.read_bytes() for p in headers}
    files.update({f"{RUNTIME_PREFIX}/src/{p.name}": p.read_bytes() for p in sources})
    return files


def cmake_lists(title: str, runtime: dict[str, bytes]) -> bytes:
    """The bundle's CMakeLists.txt, compiling the ``.c`` files of ``runtime`` with model.c."""
    sources = "\n".join(f"    {path}" for path in sorted(runtime) if path.endswith(".c"))
    text = (TEMPLATES / CMAKE_LISTS).read_text()
    return text.replace("@TITLE@", title).replace("@RUNTIME_SOURCES@", sources).encode()


def build_files(title: str) -> dict[str, bytes]:
    """The files that make a bundle titled ``title`` build on its own, by their path in the bundle."""
    runtime = runtime_files()
    return {CMAKE_LISTS: cmake_lists(title, runtime), EXAMPLE_MAIN: (TEMPLATES / "main.c").read_bytes(), **runtime}
