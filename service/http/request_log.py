"""One JSON line per request: id, route, status, time taken and, for questions, what was answered."""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any, TextIO

import msgspec

LOGGER_NAME = "inspection_qa.requests"
# Ids from load balancers and tracing headers (UUIDs, hex, "Root=1-…"); anything else is replaced, not echoed.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def request_id(given: str | None) -> str:
    """The client's id when it is safe to echo and log, else a fresh one."""
    if given is not None and REQUEST_ID.fullmatch(given):
        return given
    # 128 random bits, as a UUID4 has, in a fifth of the time uuid.uuid4() takes.
    return os.urandom(16).hex()


@dataclass
class RequestNote:
    """What a handler learnt about its request, for the log line."""

    question: str | None = None
    verdict: str | None = None
    confidence: float | None = None
    version: str | None = None


# The request being handled; handlers write into its note (answers run in worker threads, which copy the context).
CURRENT: ContextVar[RequestNote | None] = ContextVar("request_note", default=None)


def note_question(question: str, version: str) -> None:
    """The question a request asked and the index version it was asked of."""
    note = CURRENT.get()
    if note is not None:
        note.question, note.version = question, version


def note_answer(verdict: str, confidence: float) -> None:
    """How the request's question was answered."""
    note = CURRENT.get()
    if note is not None:
        note.verdict, note.confidence = verdict, confidence


def request_logger() -> logging.Logger:
    """The request logger: bare lines on stderr, not passed up to the root logger's format."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        logger.addHandler(LineWriter(sys.stderr))
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


class LineWriter(logging.handlers.QueueHandler):
    """Hands each line to a thread of its own that writes it, so a slow or stuck stderr (a pipe nobody
    reads) never holds up the event loop; past MAX_WAITING unwritten lines, new ones are dropped and counted
    (iqa_request_lines_dropped_total)."""

    MAX_WAITING = 10_000
    # Lines are written in batches: those that arrive within GATHER_SECONDS of the first, up to MAX_BATCH.
    GATHER_SECONDS = 0.05
    MAX_BATCH = 1_000
    # Not logging's QueueListener: its stop() waits without limit for a stuck stream at exit, and its
    # StreamHandler answers a broken stream with a traceback on that same stderr.

    def __init__(self, stream: TextIO) -> None:
        # A SimpleQueue is a few C calls on the event loop's side; its length is checked before each line.
        super().__init__(queue.SimpleQueue())
        self.stream = stream
        self.thread = threading.Thread(target=self.write_lines, name="request-log", daemon=True)
        self.thread.start()
        atexit.register(self.finish)

    def prepare(self, record: logging.LogRecord) -> str:
        """The line itself: request lines carry no format and no traceback."""
        return record.getMessage()

    def enqueue(self, record: Any) -> None:
        """Queue the line, or drop it when the writer is that far behind."""
        if self.queue.qsize() >= self.MAX_WAITING:
            # Imported here, on this rare path: prometheus-client picks its storage when first imported,
            # which the CLI arranges before the app starts (service/http/metrics.py).
            from service.http.metrics import record_dropped_line

            record_dropped_line()
        else:
            self.queue.put_nowait(record)

    def write_lines(self) -> None:
        """Write queued lines until told to stop; a closed or broken stream loses its lines, not the server."""
        while True:
            batch = self.next_batch()
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("".join(f"{line}\n" for line in batch if line is not None))
                self.stream.flush()
            if None in batch:
                return

    def next_batch(self) -> list[str | None]:
        """The next line, then whatever follows it within GATHER_SECONDS (at most MAX_BATCH lines): one
        wake-up and one write a batch, where a line at a time cost the server 17 µs of CPU a request."""
        batch = [self.queue.get()]
        if batch[0] is not None:
            time.sleep(self.GATHER_SECONDS)
        while len(batch) < self.MAX_BATCH and batch[-1] is not None:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def finish(self, seconds: float = 2.0) -> None:
        """Write what is queued before the process exits, waiting at most `seconds` for a stuck stream."""
        self.queue.put_nowait(None)
        self.thread.join(seconds)


@dataclass(frozen=True)
class RequestLog:
    """Writes the line for each finished request (at log level info or debug), with or without the question."""

    log_level: str = "info"
    log_questions: bool = False
    logger: logging.Logger = field(default_factory=request_logger)

    def write(self, rid: str, method: str, route: str, status: int, seconds: float, note: RequestNote) -> None:
        """Log one request; --log-level warning and above turn request lines off."""
        if self.log_level.lower() not in ("info", "debug"):
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": rid,
            "method": method,
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 3),
            "question_chars": len(note.question) if note.question is not None else None,
            "verdict": note.verdict,
            "abstained": note.verdict == "none" if note.verdict is not None else None,
            "confidence": note.confidence,
            "index_version": note.version,
        }
        if self.log_questions and note.question is not None:
            line["question"] = note.question
        self.logger.info(msgspec.json.encode(line).decode())
