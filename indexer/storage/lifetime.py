"""Worker processes that never outlive the process that started them, however it ends."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

# From <linux/prctl.h>: deliver a signal to this process when the thread that forked it ends.
PR_SET_PDEATHSIG = 1
# Where the kernel cannot signal us, a thread looks this often (seconds) for a new parent.
PARENT_POLL_SECONDS = 1.0
# Set by a server's supervisor for its worker processes, which uvicorn starts without an initializer.
SUPERVISOR_ENV = "IQA_SUPERVISOR_PID"


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when parent_pid does: a kernel signal on Linux, a watching thread elsewhere."""
    if not (sys.platform.startswith("linux") and kernel_death_signal()):
        threading.Thread(target=watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()
    # The parent may have died before the signal was armed; then we already belong to another.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def kernel_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int) -> None:
    """End the process as soon as it has been re-parented (its parent died)."""
    while os.getppid() == parent_pid:
        threading.Event().wait(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_supervisor() -> None:
    """In a server worker: end with the supervisor named in SUPERVISOR_ENV, if one is."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if supervisor.isdigit():
        die_with_parent(int(supervisor))


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Spawned worker processes that die with this one; on an error, queued work is dropped, not waited for."""
    # Spawned, not forked: a fork would copy the model's threads and locks into the worker.
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
