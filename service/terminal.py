"""One question from the terminal, answered by the same core as the server (no HTTP): the quoted answer,
its confidence and numbered citations, or the no-answer message."""

from __future__ import annotations

import msgspec

from service.answer import AnswerSettings, answer_question
from service.chat import cited_evidence, source_line
from service.confidence import configured_calibration
from service.retrieval import RetrievalSettings, Retriever, check_k, check_question
from service.settings import Settings
from service.types import Answer

# Exit statuses: an answer, an abstention (the CLI exits 2 on bad input, as click does on usage errors).
ANSWERED, ABSTAINED = 0, 1


def answer_once(settings: Settings, question: str, k: int, mode: str) -> Answer:
    """Check the question, load the model and index, answer; InvalidRequest before loading anything."""
    check_question(question)
    check_k(k)
    answer_settings = AnswerSettings(
        retrieval=RetrievalSettings(mode=mode), calibration=configured_calibration(settings.calibration), abstain_below=settings.abstain_below
    )
    retriever = Retriever.open(settings.index, settings.model, settings.backend, settings.threads)
    return answer_question(retriever, question, k, answer_settings)


def render(answer: Answer) -> str:
    """The answer for a reader: the quote, the confidence, then each citation with its sentence."""
    lines = [answer.answer, "", f"confidence {answer.confidence:.2f}"]
    if answer.abstained:
        return "\n".join(lines)
    lines.append("")
    for number, evidence in enumerate(cited_evidence(answer.evidence), start=1):
        lines += [f"[{number}] {source_line(evidence)}", f"    “{evidence.text}”"]
    return "\n".join(lines)


def as_json(answer: Answer) -> str:
    """The answer exactly as POST /ask returns it."""
    return msgspec.json.encode(answer).decode()


def exit_status(answer: Answer) -> int:
    """0 when the reports answer the question, 1 when the service abstains."""
    return ABSTAINED if answer.abstained else ANSWERED
