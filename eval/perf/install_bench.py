"""The README's first install, timed and weighed: a fresh venv and `pip install -e .` of an earlier commit's
project against the working tree's, with the same (empty) pip cache, in one run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Everything pip needs to install the project in editable mode: its metadata and its packages.
PROJECT_FILES = ("pyproject.toml", "README.md", "indexer", "service", "eval")


@dataclass(frozen=True)
class InstallRun:
    """One fresh install: what was installed, how long it took and how much it weighs."""

    label: str
    seconds: float
    venv_bytes: int
    distributions: int

    def line(self) -> str:
        """One line of the report."""
        return f"{self.label:<28} {self.seconds:8.1f} s {self.venv_bytes / 2**30:6.2f} GiB {self.distributions:4d} distributions"


def export_commit(root: Path, commit: str, target: Path) -> Path:
    """The project's files as they were at commit, written under target."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", commit, *PROJECT_FILES], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def copy_working_tree(root: Path, target: Path) -> Path:
    """The project's files as they are now, copied under target (no caches, no venv)."""
    target.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under folder (symlinks not followed)."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def timed_install(project: Path, label: str, timeout: float) -> InstallRun:
    """`python3 -m venv .venv && .venv/bin/pip install -q -e .` in project, with no pip cache; the run's figures."""
    venv = project / ".venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", "-e", "."], cwd=project, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True, check=True)
    return InstallRun(label, seconds, folder_bytes(venv), len(listed.stdout.splitlines()))


def compare_installs(root: Path, before: str, timeout: float) -> tuple[InstallRun, InstallRun]:
    """The install of commit `before` and of the working tree, one after the other on this machine."""
    with tempfile.TemporaryDirectory(prefix="install-bench-") as scratch:
        old = timed_install(export_commit(root, before, Path(scratch) / "before"), f"before ({before[:12]})", timeout)
        new = timed_install(copy_working_tree(root, Path(scratch) / "now"), "now (working tree)", timeout)
    return old, new


def report(old: InstallRun, new: InstallRun) -> list[str]:
    """The two runs and the ratios the issue asks for."""
    return [
        old.line(), new.line(),
        f"time ratio now / before: {new.seconds / old.seconds:.2f}",
        f"size ratio now / before: {new.venv_bytes / old.venv_bytes:.2f}",
    ]
