"""Failpoints: named places where a test can have the build killed (as etcd's gofail or TiKV's fail-rs)."""

from __future__ import annotations

import os
import signal

# IQA_FAILPOINT=<name> makes the process SIGKILL itself on reaching that point; unset, they cost a dict lookup.
FAILPOINT_ENV = "IQA_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here, as from an outside SIGKILL, when IQA_FAILPOINT names this point."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
