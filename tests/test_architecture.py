"""The package reads as the data flow of a trial: each folder of ``explore/`` imports only the folders
below it, and no module imports itself back through others (issue 15)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "explore"
#: Bottom floor first; a module may import its own floor and the floors listed before it.
FLOORS = ("", "model", "data", "campaign", "cost", "fqt", "train", "search", "deploy", "report", "bench", "cli")
MAX_MODULE_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, module: str, modules: set[str]) -> set[str]:
    """Every ``explore`` module ``path`` imports, at any depth in the file (lazy imports count)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & modules  # `from explore.fqt import kernels`
            found |= submodules or {base}
    return {name for name in found if name in modules and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imported(path, name, set(modules)) for name, path in modules.items()}


def floor_of(module: str) -> int:
    parts = module.split(".")
    if module == "explore.__main__":
        return len(FLOORS) - 1  # `python -m explore` is the command line
    if len(parts) == 1 or (len(parts) == 2 and parts[1] not in FLOORS):
        return 0  # explore itself and the bottom modules (errors, io, version)
    return FLOORS.index(parts[1])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _graph_without_facade(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # `explore/__init__.py` is the public API: it re-exports from every floor, so it stands above them
    # all and nothing inside the package may import it.
    return {name: deps for name, deps in graph.items() if name != "explore"}


def test_no_import_cycle() -> None:
    graph = _graph_without_facade(import_graph())
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_each_folder_imports_only_the_folders_below_it() -> None:
    graph = import_graph()
    upward = sorted(f"{name} imports {dep}" for name, deps in _graph_without_facade(graph).items()
                    for dep in deps if floor_of(dep) > floor_of(name) or dep == "explore")
    assert upward == []


def test_the_checker_sees_an_upward_import_and_a_cycle() -> None:
    graph = {"explore.cost.a": {"explore.train.b"}, "explore.train.b": {"explore.cost.a"}}
    assert _cycle(graph) == ["explore.cost.a", "explore.train.b", "explore.cost.a"]
    assert floor_of("explore.train.b") > floor_of("explore.cost.a")
    assert floor_of("explore.errors") == 0 and floor_of("explore.cli.main") == len(FLOORS) - 1


def test_every_module_lives_in_a_floor() -> None:
    strays = [name for name in import_graph() if len(name.split(".")) == 3 and name.split(".")[1] not in FLOORS]
    assert strays == []


@pytest.mark.parametrize("folder", ["campaign", "cost", "model", "data"])
def test_lower_floors_do_not_load_jax(folder: str) -> None:
    code = f"import explore.{folder}, sys; assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)[:5]"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_are_short() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}
    assert len((PACKAGE / "cli" / "main.py").read_text().splitlines()) < 150
