"""Micro-batching: questions that arrive together are encoded in one encoder call, one call at a time."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from indexer.encoding.embedding import Encoder

# The question, its caller's future, and when it was queued.
Request = tuple[str, Future, float]


class QueryBatcher:
    """A single encoder thread that drains waiting questions into batches.

    One call at a time keeps the encoder's thread pool from being oversubscribed by concurrent
    requests; batching amortises its per-call cost. A lone question is encoded at once unless
    max_wait_ms asks the thread to wait that long for company.
    """

    def __init__(
        self, encoder: Encoder, max_batch: int = 32, max_wait_ms: float = 0.0, observe: Callable[[int, list[float]], None] | None = None
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch} and {max_wait_ms}")
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        # Told each batch's size and how long each of its questions waited (the service's metrics).
        self.observe = observe
        # Counters for benchmarks: mean batch size = questions / batches.
        self.batches = 0
        self.questions = 0
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._thread.start()

    def encode(self, text: str) -> np.ndarray:
        """The (1, dimension) unit vector of one question, encoded alongside any others waiting."""
        if not self._thread.is_alive():
            raise RuntimeError("the query encoder has stopped")
        future: Future = Future()
        self._queue.put((text, future, time.perf_counter()))
        return future.result()[None, :]

    def close(self) -> None:
        """Stop the encoder thread after the questions already queued."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stop = self._collect(first)
            self._encode(batch)
            if stop:
                return

    def _collect(self, first: Request) -> tuple[list[Request], bool]:
        """The first request and whatever else is waiting, up to max_batch; True if told to stop."""
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _encode(self, batch: list[Request]) -> None:
        """Encode a batch and hand each caller its row, or the error."""
        self.batches += 1
        self.questions += len(batch)
        if self.observe is not None:
            started = time.perf_counter()
            self.observe(len(batch), [started - queued for _, _, queued in batch])
        try:
            vectors = self.encoder.encode([text for text, _, _ in batch], batch_size=len(batch))
        except Exception as error:  # noqa: BLE001 - every waiting caller must hear about it, whatever it is
            for _, future, _ in batch:
                future.set_exception(error)
            return
        for (_, future, _), vector in zip(batch, vectors):
            future.set_result(vector)


class DirectEncoder:
    """Each question encoded in its caller's thread, for an encoder that runs one text per call anyway
    (the int8 encoder): batching would only queue questions behind one thread, while callers encoding
    side by side use every core (ONNX Runtime releases the GIL while it runs)."""

    def __init__(self, encoder: Encoder, observe: Callable[[int, list[float]], None] | None = None) -> None:
        self.encoder = encoder
        self.observe = observe
        self.batches = 0
        self.questions = 0

    def encode(self, text: str) -> np.ndarray:
        """The (1, dimension) unit vector of one question."""
        self.batches += 1
        self.questions += 1
        if self.observe is not None:
            self.observe(1, [0.0])
        return self.encoder.encode([text], batch_size=1)

    def close(self) -> None:
        """Nothing to stop."""


def question_encoder(encoder: Encoder, max_batch: int, max_wait_ms: float, observe: Callable[[int, list[float]], None] | None = None) -> QueryBatcher | DirectEncoder:
    """A micro-batcher, or direct encoding where batching cannot help: one text per call, or max_batch 1."""
    if encoder.one_text_per_run or max_batch == 1:
        return DirectEncoder(encoder, observe)
    return QueryBatcher(encoder, max_batch, max_wait_ms, observe)
