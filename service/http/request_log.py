"""One JSON line per request: id, route, status, time taken and, for questions, what was answered."""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, UTC

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
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


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
