"""Versioned index publishing: each build is a directory of its own, published by an atomic pointer swap.

Layout of an index root:

    CURRENT                   the published version's name (replaced atomically, never edited)
    versions/<version>/       complete, verified, immutable index directories
    versions/.<name>.partial-<pid>/   a build in progress (or one that was killed)

A reader resolves CURRENT once and then only ever sees complete files; a killed build leaves at
most a partial directory, which the next build removes.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from indexer.failpoints import failpoint

POINTER = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
DEFAULT_KEEP = 3
VERSION_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)$")


class PublishError(Exception):
    """The index root cannot be read or changed as asked."""


def is_legacy(root: Path) -> bool:
    """An index written before versioning: the files sit directly in the root."""
    return (root / MANIFEST).is_file() and not (root / POINTER).exists()


def published_version(root: Path) -> str | None:
    """The version CURRENT names, or None when nothing is published."""
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not VERSION_NAME.match(name):
        raise PublishError(f"{root / POINTER} names no valid version ({name!r})")
    return name


def version_dir(root: Path) -> Path:
    """The directory of the published index under root (root itself for a legacy index)."""
    if is_legacy(root):
        return root
    name = published_version(root)
    return root if name is None else root / VERSIONS / name


def list_versions(root: Path) -> list[str]:
    """Complete versions under root, oldest first (names start with their build time)."""
    directory = root / VERSIONS
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and VERSION_NAME.match(p.name) and (p / MANIFEST).is_file())


def staging_dir(root: Path, version: str) -> Path:
    """A fresh directory for a build in progress, after clearing what killed builds left."""
    if is_legacy(root):
        raise PublishError(
            f"{root} holds an index in the old single-directory layout; build into a new directory "
            "(or remove this one) to get versioned, atomically published indexes"
        )
    if root.exists() and not (root / VERSIONS).is_dir() and any(root.iterdir()):
        raise PublishError(f"{root} exists and is not an index root; refusing to write into it")
    remove_leftovers(root)
    staging = root / VERSIONS / f".{version}.partial-{os.getpid()}"
    staging.mkdir(parents=True)
    return staging


def remove_leftovers(root: Path) -> list[str]:
    """Delete partial directories of builds that are no longer running; their names."""
    removed = []
    directory = root / VERSIONS
    for path in directory.iterdir() if directory.is_dir() else ():
        match = PARTIAL.match(path.name)
        if match and not process_alive(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsync_tree(directory: Path) -> None:
    """Flush every file and directory under directory to disk."""
    for path in sorted(directory.rglob("*"), reverse=True):
        fsync_path(path)
    fsync_path(directory)


def fsync_path(path: Path) -> None:
    """fsync one file or directory."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(root: Path, staging: Path, version: str, keep: int = DEFAULT_KEEP) -> Path:
    """Make a verified staging directory the published version, then prune old versions."""
    fsync_tree(staging)
    final = root / VERSIONS / version
    if final.exists():
        # Never overwrite a version a service may be reading, nor trust one we did not just verify.
        raise PublishError(f"version {version} already exists under {root / VERSIONS}")
    os.replace(staging, final)
    fsync_path(root / VERSIONS)
    failpoint("before-publish")
    point_to(root, version)
    prune(root, keep)
    return final


def point_to(root: Path, version: str) -> None:
    """Atomically replace CURRENT with a pointer to version."""
    if version not in list_versions(root):
        raise PublishError(f"no complete version {version!r} under {root / VERSIONS}")
    temporary = root / f".{POINTER}.{os.getpid()}"
    temporary.write_text(version + "\n", encoding="utf-8")
    fsync_path(temporary)
    os.replace(temporary, root / POINTER)
    fsync_path(root)


def rollback(root: Path, to: str | None = None) -> str:
    """Point CURRENT at `to`, or at the version published before the current one; its name."""
    versions = list_versions(root)
    current = published_version(root)
    if to is None:
        older = [name for name in versions if current is None or name < current]
        if not older:
            raise PublishError(f"no version older than {current} under {root} to roll back to")
        to = older[-1]
    point_to(root, to)
    return to


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions, never the published one; their names."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    current = published_version(root)
    doomed = [name for name in list_versions(root)[:-keep] if name != current]
    for name in doomed:
        shutil.rmtree(root / VERSIONS / name, ignore_errors=True)
    return doomed
