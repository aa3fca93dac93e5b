"""The threads that compute answers: a fixed number of them, fed from one first-come-first-served queue.

A thread that finishes an answer takes the next waiting question itself. With anyio.to_thread's
capacity limiter the freed place passes on only when the event loop next runs, and on two cores at
concurrency 32 that hand-over left about a third of the CPU idle between answers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")
DEFAULT_THREADS = 2


class AnswerPool:
    """Worker threads for answering, started as work arrives."""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        if threads < 1:
            raise ValueError(f"answer threads must be at least 1, got {threads}")
        self.threads = threads
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="answer")

    async def run(self, function: Callable[..., Result], *arguments: Any) -> Result:
        """function(*arguments) in a pool thread (with the caller's context variables), awaited on the
        running event loop; a cancelled caller's question is dropped if no thread has taken it yet."""
        context = contextvars.copy_context()
        return await asyncio.wrap_future(self.executor.submit(context.run, function, *arguments))

    def close(self) -> None:
        """Take no more work; questions still waiting are dropped."""
        self.executor.shutdown(wait=False, cancel_futures=True)


_process_pool = AnswerPool()


def answer_pool() -> AnswerPool:
    """The process's answering threads (every adapter answers through them, so their number is the limit)."""
    return _process_pool


def use_answer_threads(threads: int) -> AnswerPool:
    """Size the process's answering threads (at start-up); the old pool still answers what it was given."""
    global _process_pool
    if threads != _process_pool.threads:
        previous, _process_pool = _process_pool, AnswerPool(threads)
        previous.executor.shutdown(wait=False)
    return _process_pool


async def off_loop(function: Callable[..., Result], *arguments: Any) -> Result:
    """Answering work (encoding, search, ranking) in an answering thread, not on the event loop."""
    return await answer_pool().run(function, *arguments)
