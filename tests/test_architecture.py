"""The house's shape, measured from the source: no import cycles, small folders, small modules.

Every import counts, including those inside functions and under TYPE_CHECKING: a cycle held together
by a late import is still a cycle a reader must keep in their head.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.gateway import REPO

PACKAGES = ("gateway", "channels", "normalizers", "workers")
MAX_MODULES_PER_FOLDER = 20
MAX_MODULE_LINES = 400


def source_modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported_names(name: str, path: Path) -> Iterator[tuple[str, ...]]:
    """What each import statement names: `import a.b` gives (a.b,); `from a import b` gives (a.b, a),
    the submodule b when there is one, else the module a it is taken from. Relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield from ((f"{base}.{alias.name}", base) for alias in node.names)


def project_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules this one depends on (the longest known prefix of each imported name)."""
    out: set[str] = set()
    for choices in imported_names(name, path):
        dotted = next((c for c in choices if c in modules), choices[-1])
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        # A package's __init__ that re-exports its own submodules is a facade, not a dependency cycle.
        own = path.name == "__init__.py" and dotted.startswith(name + ".")
        if dotted and dotted != name and not own:
            out.add(dotted)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in the graph as a path that ends where it starts, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack: list[Iterator[str]] = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def import_graph(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    modules = source_modules(root, packages)
    return {name: project_imports(name, path, modules) for name, path in modules.items()}


def test_a_cycle_held_together_by_late_and_type_checking_imports_is_found(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg.a import f\n")  # a facade: not a cycle
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "pkg" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg"] == set()
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_no_import_cycles_among_the_projects_modules() -> None:
    assert find_cycle(import_graph()) is None


def test_no_folder_of_source_holds_more_than_twenty_modules() -> None:
    crowded = {}
    for package in PACKAGES:
        for folder in [REPO / package, *(d for d in (REPO / package).rglob("*") if d.is_dir())]:
            count = len([f for f in folder.glob("*.py") if f.name != "__init__.py"])
            if count > MAX_MODULES_PER_FOLDER:
                crowded[str(folder.relative_to(REPO))] = count
    assert crowded == {}


def test_no_module_is_over_four_hundred_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in source_modules().values() if (n := len(p.read_text().splitlines()))}
    assert {k: n for k, n in long.items() if n > MAX_MODULE_LINES} == {}


def test_no_bench_file_is_over_seven_hundred_lines() -> None:
    long = {p.name: n for p in (REPO / "bench").glob("*.py") if (n := len(p.read_text().splitlines())) > 700}
    assert long == {}


def test_the_job_entry_points_are_apart_from_the_library_they_use() -> None:
    """rq names `workers.jobs` by its dotted path; no module imports it, so a job library never needs the entry
    points, and the queue names and enqueueing live in a leaf that imports no job module."""
    graph = import_graph()
    assert sorted(name for name, deps in graph.items() if "workers.jobs" in deps) == []
    assert {d for d in graph["workers.queues"] if d.startswith("workers.")} == {"workers.context"}
    # The queue library leans only on the shared base (settings, and the models whose events it queues).
    base = ("gateway.settings", "gateway.models")
    assert {d for d in graph["gateway.store.queues"] if not d.startswith(base)} == set()
