"""Versioned index publishing: each build is a directory of its own, published by an atomic pointer swap.

Layout of an index root:

    CURRENT                   the published version's name (replaced atomically, never edited)
    versions/<version>/       complete, verified, immutable index directories
    versions/.<name>.partial-<pid>/   a build in progress (or one that was killed)
    versions/.<name>.removing-<pid>/  an old version being deleted
    .CURRENT.<pid>            a pointer being written (or left by a build killed while writing it)

A reader resolves CURRENT once and then only ever sees complete files; a killed build leaves at
most a partial directory and a pointer temporary, which the next build removes.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.failpoints import failpoint
from indexer.storage.lifetime import process_alive

POINTER = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
DEFAULT_KEEP = 3
VERSION_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
PARTIAL = re.compile(r"^\.(?P<name>.+)\.(partial|removing)-(?P<pid>\d+)$")
POINTER_TEMPORARY = re.compile(rf"^\.{POINTER}\.(?P<pid>\d+)$")


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


def check_writable(root: Path) -> None:
    """Refuse a root that holds something other than versioned indexes."""
    if is_legacy(root):
        raise PublishError(
            f"{root} holds an index in the old single-directory layout; build into a new directory "
            "(or remove this one) to get versioned, atomically published indexes"
        )
    if root.exists() and not (root / VERSIONS).is_dir() and any(root.iterdir()):
        raise PublishError(f"{root} exists and is not an index root; refusing to write into it")


@contextmanager
def staging_dir(root: Path, version: str) -> Iterator[Path]:
    """A fresh directory for a build in progress, locked while it lasts and removed unless published."""
    check_writable(root)
    remove_leftovers(root)
    staging = root / VERSIONS / f".{version}.partial-{os.getpid()}"
    staging.mkdir(parents=True)
    # The lock tells a build in another PID namespace (a container sharing the root) that this one is alive.
    descriptor = os.open(staging, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(descriptor)


def remove_leftovers(root: Path) -> list[str]:
    """Delete what killed builds left under root; their paths relative to root.

    That is partial (or half-removed) version directories, pointer temporaries, and the version a
    pointer temporary names when the build died before publishing it.
    """
    removed = []
    try:
        published = published_version(root)
    except PublishError:
        published = None
    for path, pid in leftover_candidates(root):
        if (pid != os.getpid() and process_alive(pid)) or locked_by_another(path):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            unpublished = path.read_text(encoding="utf-8").strip()
            orphan = root / VERSIONS / unpublished
            if VERSION_NAME.match(unpublished) and unpublished != published and orphan.is_dir():
                removed.append(remove_version(root, unpublished, pid))
            path.unlink(missing_ok=True)
        removed.append(path.relative_to(root).as_posix())
    return removed


def leftover_candidates(root: Path) -> Iterator[tuple[Path, int]]:
    """Partial version directories and pointer temporaries under root, with the pid that made each."""
    directory = root / VERSIONS
    for path in sorted(directory.iterdir()) if directory.is_dir() else ():
        if match := PARTIAL.match(path.name):
            yield path, int(match["pid"])
    for path in sorted(root.glob(f".{POINTER}.*")) if root.is_dir() else ():
        if match := POINTER_TEMPORARY.match(path.name):
            yield path, int(match["pid"])


def locked_by_another(path: Path) -> bool:
    """Whether a running build holds the lock on a staging directory."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)


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
    # The pointer is written before the version is moved in, so a build killed between the two leaves
    # a temporary naming the version it never published, and the next build removes both.
    temporary = pointer_temporary(root, version)
    os.replace(staging, final)
    fsync_path(root / VERSIONS)
    failpoint("before-publish")
    swap_pointer(root, temporary)
    prune(root, keep)
    return final


def point_to(root: Path, version: str) -> None:
    """Atomically replace CURRENT with a pointer to version."""
    if version not in list_versions(root):
        raise PublishError(f"no complete version {version!r} under {root / VERSIONS}")
    swap_pointer(root, pointer_temporary(root, version))


def pointer_temporary(root: Path, version: str) -> Path:
    """A new pointer to version, written and flushed beside CURRENT but not yet in its place."""
    temporary = root / f".{POINTER}.{os.getpid()}"
    temporary.write_text(version + "\n", encoding="utf-8")
    fsync_path(temporary)
    return temporary


def swap_pointer(root: Path, temporary: Path) -> None:
    """Atomically make a pointer temporary the published CURRENT."""
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
        remove_version(root, name, os.getpid())
    return doomed


def remove_version(root: Path, name: str, pid: int) -> str:
    """Delete a version directory, first renamed out of the list so a kill midway leaves no half version."""
    removing = root / VERSIONS / f".{name}.removing-{pid}"
    os.replace(root / VERSIONS / name, removing)
    shutil.rmtree(removing, ignore_errors=True)
    return f"{VERSIONS}/{name}"
