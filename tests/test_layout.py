"""The layout's rules hold: the answering core imports no web framework and no adapter; indexer never imports service."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# What the core must never import: the HTTP stack, the MCP SDK, and every adapter of its own.
FORBIDDEN_IN_CORE = ("litestar", "starlette", "uvicorn", "mcp", "mcp_types", "httpx", "prometheus_client", "service.http", "service.chat",
                     "service.mcp", "service.page", "service.terminal", "service.cli", "service.settings", "eval")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (imports inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def offending(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Per module under folder (by its path inside folder), the forbidden modules it imports."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        bad = sorted(name for name in imported_modules(path) if any(name == f or name.startswith(f + ".") for f in forbidden))
        if bad:
            found[path.relative_to(folder).as_posix()] = bad
    return found


def test_the_core_imports_no_web_framework_mcp_or_adapter() -> None:
    assert list((ROOT / "service" / "core").glob("*.py")), "the core package must exist"
    assert offending(ROOT / "service" / "core", FORBIDDEN_IN_CORE) == {}


def test_the_indexer_never_imports_the_service_or_eval() -> None:
    assert offending(ROOT / "indexer", ("service", "eval")) == {}


def test_the_rule_catches_an_import_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text("def handler():\n    from litestar import get\n    import service.http.app\n    return get\n")
    (tmp_path / "clean.py").write_text("import numpy\nfrom service.core import answer\n")
    assert offending(tmp_path, FORBIDDEN_IN_CORE) == {"leaky.py": ["litestar", "service.http.app"]}


@pytest.mark.parametrize(("old", "new"), [("service.answer", "service.core.answer"), ("service.app", "service.http.app"), ("eval.bench", "eval.perf.bench")])
def test_old_module_paths_still_import_for_one_release(old: str, new: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} has moved to {new}"):
        module = importlib.import_module(old)
    moved = importlib.import_module(new)
    assert all(getattr(module, name) is value for name, value in vars(moved).items() if not name.startswith("__"))


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a module file under root (a package by its __init__)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Per project module, the project modules it imports at any depth (TYPE_CHECKING and function bodies too)."""
    paths = {module_name(path, root): path for package in packages for path in (root / package).rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in paths)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                # "from package import module" imports the module; "from module import name" the module alone.
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, successors = work[-1]
            following = next(successors, None)
            if following is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = stack[stack.index(node):]
                    del stack[stack.index(node):]
                    cycles += [sorted(group)] if len(group) > 1 else []
            elif following not in index:
                index[following] = low[following] = len(index)
                stack.append(following)
                work.append((following, iter(sorted(graph[following]))))
            elif following in stack:
                low[node] = min(low[node], index[following])
    return sorted(cycles)


def test_no_import_cycle_among_the_projects_modules() -> None:
    graph = project_imports(ROOT, ("indexer", "service", "eval"))
    assert len(graph) > 100, "every project module is read"
    assert import_cycles(graph) == []


def test_the_cycle_rule_catches_a_package_importing_back_from_its_module(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("def load():\n    from pkg.sub import fmt\n")
    (tmp_path / "pkg" / "sub" / "fmt.py").write_text("from pkg.sub import Shared\n")
    (tmp_path / "pkg" / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import a\nfrom pkg.sub import fmt\n")
    assert import_cycles(project_imports(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b"], ["pkg.sub", "pkg.sub.fmt"]]


def test_indexer_reads_as_the_pipeline() -> None:
    top = sorted(path.name for path in (ROOT / "indexer").glob("*.py"))
    stages = sorted(path.parent.name for path in (ROOT / "indexer").glob("*/__init__.py"))
    assert len(top) <= 12, top
    assert stages == ["cluster", "encoding", "reading", "storage"]


def test_the_readmes_layout_names_every_indexer_stage_and_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):].split("```")[1]
    stages = [path.parent for path in (ROOT / "indexer").glob("*/__init__.py")]
    named = [f"  {stage.name}/" for stage in stages]
    named += [path.name for path in (ROOT / "indexer").glob("*.py") if not path.name.startswith("__")]
    named += [path.stem for stage in stages for path in stage.glob("*.py") if not path.name.startswith("__")]
    assert [name for name in named if name not in layout] == []
