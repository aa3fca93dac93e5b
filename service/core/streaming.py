"""Answers as a stream of events: evidence as soon as it is found, then the answer text, then timings."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

from service.core.answer import AnswerSettings, answer_text, draft_answer, judge
from service.core.answer_pool import off_loop
from service.core.retrieval import Retriever

WORDS = re.compile(r"\S+\s*")


def elapsed_ms(started: float) -> float:
    """Milliseconds since a perf_counter reading, rounded for the wire."""
    return round((time.perf_counter() - started) * 1000, 3)


async def answer_events(
    retriever: Retriever, question: str, k: int, settings: AnswerSettings
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs: "evidence" once, "answer" text deltas, then "done" with timings."""
    started = time.perf_counter()
    # Encoding and search are CPU work: an answering thread does them, not the event loop.
    draft = await off_loop(draft_answer, retriever, question, k, settings)
    verdict = judge(draft, settings)
    evidence = [] if verdict.abstained else draft.evidence
    evidence_ms = elapsed_ms(started)
    yield "evidence", {
        "abstained": verdict.abstained,
        "verdict": verdict.verdict,
        "confidence": verdict.confidence,
        "coverage": verdict.coverage,
        "evidence": evidence,
        "passages": draft.passages,
        **({"notice": draft.notice} if draft.notice else {}),
    }
    # The answer is composed only after the evidence event has gone out.
    for piece in WORDS.findall(answer_text(draft, verdict)):
        yield "answer", {"delta": piece}
    yield "done", {"evidence_ms": evidence_ms, "took_ms": elapsed_ms(started)}
