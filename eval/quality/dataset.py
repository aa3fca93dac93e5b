"""Eval sets: JSONL questions with gold quotes, located in the indexed documents."""

from __future__ import annotations

from pathlib import Path

import msgspec

from indexer.types import Document
from service.core.filters import Filters


class EvalSetError(ValueError):
    """An eval set that cannot be read or does not fit the index."""


class GoldAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A quote that answers the question: an exact substring of the document text."""

    doc_id: str
    quote: str


class EvalQuestion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One question; no answers means the corpus cannot answer it."""

    id: str
    question: str
    answers: list[GoldAnswer]
    # Sections of a set, e.g. "far-wording": no content word shared with the answer sentence.
    tags: list[str] = []
    # Asked with these filters, as /ask's "filters" field (force, report_type, date_from, date_to, doc_ids).
    filters: Filters | None = None

    @property
    def answerable(self) -> bool:
        """Whether the corpus holds an answer."""
        return bool(self.answers)


GoldSpans = list[list[tuple[str, int, int]]]


def load_eval_set(path: Path) -> list[EvalQuestion]:
    """Parse a JSONL eval set, naming the line of any bad record."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvalSetError(f"cannot read eval set {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            questions.append(msgspec.json.decode(line, type=EvalQuestion))
        except (msgspec.DecodeError, ValueError) as error:
            raise EvalSetError(f"{path}:{number}: {error}") from error
    ids = [question.id for question in questions]
    if len(set(ids)) != len(ids):
        raise EvalSetError(f"{path}: question ids are not unique")
    return questions


def locate_quote(document: Document, quote: str) -> list[tuple[str, int, int]]:
    """Every (doc_id, start, end) span where quote occurs in the document."""
    spans, start = [], document.text.find(quote)
    while quote and start >= 0:
        spans.append((document.doc_id, start, start + len(quote)))
        start = document.text.find(quote, start + 1)
    return spans


def gold_spans(question: EvalQuestion, documents: dict[str, Document]) -> GoldSpans:
    """For each gold answer, its spans in the documents; errors say which quote is missing."""
    located = []
    for answer in question.answers:
        if answer.doc_id not in documents:
            raise EvalSetError(f"{question.id}: document {answer.doc_id!r} is not in the index")
        spans = locate_quote(documents[answer.doc_id], answer.quote)
        if not spans:
            raise EvalSetError(f"{question.id}: quote not found in {answer.doc_id}: {answer.quote[:80]!r}")
        located.append(spans)
    return located


def matched_answers(doc_id: str, start: int, end: int, gold: GoldSpans) -> frozenset[int]:
    """Indices of gold answers whose span overlaps [start, end) in the same document."""
    return frozenset(
        index
        for index, spans in enumerate(gold)
        if any(span_doc == doc_id and span_start < end and start < span_end for span_doc, span_start, span_end in spans)
    )
