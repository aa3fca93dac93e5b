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
