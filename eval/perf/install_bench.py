"""The README's first command, timed and weighed: a fresh venv, the `pip install` its README gives and the
first start until /health answers, of an earlier commit's project against the working tree's, with the
same (empty) pip cache, in one run."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from eval.perf.bench import answers, free_port

# Everything the README's first command needs: the project's metadata, its packages and the bundled corpus.
PROJECT_FILES = ("pyproject.toml", "README.md", "indexer", "service", "eval", "corpus")
INSTALL_PREFIX = ".venv/bin/pip install "


@dataclass(frozen=True)
class InstallRun:
    """One fresh install: what was installed, how long it took and how much it weighs."""

    label: str
    seconds: float
    venv_bytes: int
    distributions: int
    first_start_seconds: float

    def line(self) -> str:
        """One line of the report."""
        return (f"{self.label:<28} install {self.seconds:6.1f} s, first start {self.first_start_seconds:5.1f} s, "
                f"{self.venv_bytes / 2**30:5.2f} GiB after it, {self.distributions:4d} distributions")


def readme_install_arguments(readme: str) -> list[str]:
    """The arguments of the first `.venv/bin/pip install` in a README (up to the next &&)."""
    for line in readme.splitlines():
        if INSTALL_PREFIX in line:
            return shlex.split(line.split(INSTALL_PREFIX, 1)[1].split("&&", 1)[0])
    raise ValueError("the README gives no `.venv/bin/pip install` command")


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


def fresh_machine_environment(project: Path) -> dict[str, str]:
    """This process's environment as a new user's shell has it: Python writes bytecode caches on import, and
    the model cache is empty (the project's own), so the first start exports the int8 model."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return env | {"IQA_MODEL_CACHE": str(project / "model-cache")}


def timed_install(project: Path, label: str, timeout: float) -> InstallRun:
    """`python3 -m venv .venv && .venv/bin/pip install <the README's arguments>` in project with no pip cache,
    then the first start; the run's figures."""
    venv, env = project / ".venv", fresh_machine_environment(project)
    arguments = readme_install_arguments((project / "README.md").read_text(encoding="utf-8"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", *arguments], cwd=project, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    seconds = time.perf_counter() - started
    first_start = timed_first_start(project, timeout, env)
    listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True, check=True)
    return InstallRun(label, seconds, folder_bytes(venv), len(listed.stdout.splitlines()), first_start)


def timed_first_start(project: Path, timeout: float, env: dict[str, str]) -> float:
    """Seconds from the README's `python -m service --build-from corpus` to /health answering."""
    port = free_port()
    command = [str(project / ".venv" / "bin" / "python"), "-m", "service", "--build-from", "corpus", "--index", ".index",
               "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        if not answers(server, f"http://127.0.0.1:{port}/health", timeout):
            raise subprocess.CalledProcessError(server.poll() or 1, command, "the first start never answered /health")
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


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
        f"install time ratio now / before: {new.seconds / old.seconds:.2f}",
        f"first command (install and first start) ratio now / before: "
        f"{(new.seconds + new.first_start_seconds) / (old.seconds + old.first_start_seconds):.2f}",
        f"size ratio now / before (after the first start): {new.venv_bytes / old.venv_bytes:.2f}",
    ]
