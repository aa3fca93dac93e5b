"""One question from the terminal, answered by the same core as the server (no HTTP): the quoted answer,
its confidence and numbered citations, or the no-answer message."""

from __future__ import annotations

import msgspec

from service.core.answer import answer_question
from service.chat.replies import cited_evidence, source_line
from service.core.retrieval import RetrievalSettings, Retriever, check_k, check_question
from service.settings import Settings, answer_settings_from
from service.core.types import Answer

# Exit status by verdict (the CLI exits 2 on bad input, as click does on usage errors).
EXIT_STATUS = {"answer": 0, "none": 1, "uncertain": 3}
# How sure the first quote is, in words: from SURE on, "sure"; below it, "likely" (verdict answer) or "unsure".
SURE = 0.8


def answer_once(settings: Settings, question: str, k: int, mode: str) -> Answer:
    """Check the question, load the model and index, answer; InvalidRequest before loading anything."""
    check_question(question)
    check_k(k)
    answer_settings = answer_settings_from(settings, RetrievalSettings(mode=mode))
    retriever = Retriever.open(settings.index, settings.model, settings.backend, settings.threads)
    return answer_question(retriever, question, k, answer_settings)


def render(answer: Answer) -> str:
    """The answer for a reader: the quote, how sure it is, then each citation with its sentence."""
    lines = [answer.answer, "", f"{sureness(answer)} (confidence {answer.confidence:.2f}, coverage {answer.coverage:.2f})"]
    if answer.abstained:
        return "\n".join(lines)
    lines.append("")
    for number, evidence in enumerate(cited_evidence(answer.evidence), start=1):
        lines += [f"[{number}] {source_line(evidence)}", f"    “{evidence.text}”"]
    return "\n".join(lines)


def as_json(answer: Answer) -> str:
    """The answer exactly as POST /ask returns it."""
    return msgspec.json.encode(answer).decode()


def sureness(answer: Answer) -> str:
    """The verdict in words, as the page shows it."""
    if answer.verdict == "none":
        return "not covered by the reports"
    if answer.verdict == "uncertain":
        return "unsure: the closest passage"
    return "sure" if answer.confidence >= SURE else "likely"


def exit_status(answer: Answer) -> int:
    """0 for an answer, 3 when only the closest passage is shown, 1 when the reports do not cover the question."""
    return EXIT_STATUS[answer.verdict]
