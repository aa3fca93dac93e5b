"""The threads that compute answers: a fixed number of them, fed from one first-come-first-served queue.

A thread that finishes an answer takes the next waiting question itself. With anyio.to_thread's
capacity limiter the freed place passes on only when the event loop next runs, and on two cores at
concurrency 32 that hand-over left about a third of the CPU idle between answers. Answers go back to
the event loop as plain asyncio futures settled through call_soon_threadsafe, without the concurrent
future, lock and condition a ThreadPoolExecutor builds per call: about 25 µs less of the loop's CPU a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
DEFAULT_THREADS = 2


class AnswerPool:
    """Worker threads for answering, started as work arrives."""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        if threads < 1:
            raise ValueError(f"answer threads must be at least 1, got {threads}")
        self.threads = threads
        # (caller's future, its loop, its context variables, function, arguments); None stops a thread.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._start_lock = threading.Lock()
        # Callers in run() on this pool's event loops: answered, waiting, or deciding where to be answered.
        self.callers = 0
        self._callers_lock = threading.Lock()

    async def run(self, function: Callable[..., Result], *arguments: Any) -> Result:
        """function(*arguments) in a pool thread (with the caller's context variables), awaited on the
        running event loop; a cancelled caller's question is dropped if no thread has taken it yet. A lone
        caller is answered on the event loop itself (see alone)."""
        if self._closed:
            raise RuntimeError("the answering pool is closed")
        self.count_caller(1)
        try:
            if await self.alone():
                return contextvars.copy_context().run(function, *arguments)
            if len(self._workers) < self.threads:
                self._start_worker()
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._queue.put((future, loop, contextvars.copy_context(), function, arguments))
            return await future
        finally:
            self.count_caller(-1)

    def count_caller(self, change: int) -> None:
        """Add a caller (1) or take one away (-1): under a lock, as event loops in two threads may share the pool."""
        with self._callers_lock:
            self.callers += change

    async def alone(self) -> bool:
        """Whether this caller is the only one: no other waiting, answered or about to be. Handing a question
        to a thread and the answer back wakes two sleeping threads, a tenth of an answer on two cores (0.2 ms
        of 2.7 at concurrency 1); a lone caller is spared that. First one turn of the event loop, so that
        requests read together all get here and see each other (and keep their order): under load they all
        go to the threads, and the event loop is held up by one answer at most."""
        await asyncio.sleep(0)
        return self.callers == 1

    def _start_worker(self) -> None:
        with self._start_lock:
            if len(self._workers) < self.threads:
                worker = threading.Thread(target=self._work, name=f"answer_{len(self._workers)}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, loop, context, function, arguments = item
            if future.cancelled():
                continue
            try:
                outcome = (context.run(function, *arguments), None)
            except BaseException as error:  # noqa: BLE001 - handed to the caller, whatever it is
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
                loop.call_soon_threadsafe(settle, future, *outcome)

    def retire(self) -> None:
        """Take no more work; the questions already given are still answered."""
        self._closed = True
        for _ in self._workers:
            self._queue.put(None)

    def close(self) -> None:
        """Take no more work; callers still waiting for a thread are cancelled."""
        self._closed = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                future, loop = item[0], item[1]
                with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
                    loop.call_soon_threadsafe(future.cancel)
        self.retire()


def settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """Hand the caller its answer or error, unless it stopped waiting."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_process_pool = AnswerPool()


def answer_pool() -> AnswerPool:
    """The process's answering threads (every adapter answers through them, so their number is the limit)."""
    return _process_pool


def use_answer_threads(threads: int) -> AnswerPool:
    """Size the process's answering threads (at start-up); the old pool still answers what it was given."""
    global _process_pool
    if threads != _process_pool.threads:
        previous, _process_pool = _process_pool, AnswerPool(threads)
        previous.retire()
    return _process_pool


async def off_loop(function: Callable[..., Result], *arguments: Any) -> Result:
    """Answering work (encoding, search, ranking) in an answering thread, not on the event loop."""
    return await answer_pool().run(function, *arguments)
