"""Failpoints: named places where a test can have the build killed (as etcd's gofail or TiKV's fail-rs)."""

from __future__ import annotations

import os
import signal

# IQA_FAILPOINT=<name> makes the process SIGKILL itself on reaching that point; unset, they cost a dict lookup.
FAILPOINT_ENV = "IQA_FAILPOINT"
# IQA_FAILPOINT_ONCE=<path>: only the first process to create that file dies, so a retried task (a Ray
# worker's batch) gets through on its second attempt instead of dying on every one.
FAILPOINT_ONCE_ENV = "IQA_FAILPOINT_ONCE"
# IQA_FAILPOINT_TARGET=parent: the process SIGKILLs its parent first. A Ray worker's parent is its node's
# raylet, so the whole node is lost mid-task, as when a host goes down (arm it in that node's environment).
FAILPOINT_TARGET_ENV = "IQA_FAILPOINT_TARGET"


def failpoint(name: str) -> None:
    """Die here, as from an outside SIGKILL, when IQA_FAILPOINT names this point (with the parent first,
    when IQA_FAILPOINT_TARGET says so)."""
    if os.environ.get(FAILPOINT_ENV) == name and first_to_fire(os.environ.get(FAILPOINT_ONCE_ENV)):
        if os.environ.get(FAILPOINT_TARGET_ENV) == "parent":
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def first_to_fire(marker: str | None) -> bool:
    """True without a marker; with one, True only for the process that creates it."""
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
