"""Answer-side records: what retrieval returns and what the API sends back."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Passage(msgspec.Struct, frozen=True):
    """A retrieved chunk with its source offsets and similarity score."""

    chunk_id: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    # Page numbers the passage spans (paged formats such as PDF; empty otherwise).
    pages: list[int] = []
    # The headings the passage sits under, outermost first.
    section: list[str] = []


class Evidence(msgspec.Struct, frozen=True):
    """A source sentence that answers the question, quoted exactly."""

    text: str
    doc_id: str
    title: str
    start: int
    end: int
    score: float
    pages: list[int] = []
    section: list[str] = []


class Quote(Evidence, frozen=True, kw_only=True):
    """The passage an answer quotes: the first evidence with the sentences that complete it, exact text and
    offsets; its score is the first evidence's."""

    # The key sentence within it (the first evidence), for highlighting.
    key_start: int
    key_end: int


class Answer(msgspec.Struct, frozen=True, omit_defaults=True):
    """An extractive answer: quoted evidence sentences and a verdict on them, or none."""

    answer: str
    # True exactly when the verdict is "none": no quote is presented as an answer.
    abstained: bool
    # "answer": the first evidence answers the question; "uncertain": the reports cover the topic, and the
    # evidence is the closest they come; "none": the reports do not cover the question.
    verdict: Literal["answer", "uncertain", "none"]
    # Calibrated probability that the first evidence answers the question, if the reports cover it.
    confidence: float
    # Calibrated probability that the reports cover the question at all.
    coverage: float
    evidence: list[Evidence]
    passages: list[Passage]
    took_ms: float
    # Why nothing was searched, e.g. filters that match no document; absent otherwise.
    notice: str | None = None
    # The passage quoted: the first evidence with the sentences that complete it; absent when nothing is quoted.
    quote: Quote | None = None


class DocumentSummary(msgspec.Struct, frozen=True):
    """A served document: its metadata and size in the index."""

    doc_id: str
    title: str
    metadata: dict[str, Any]
    sha256: str
    chunks: int
    sentences: int


class DocumentInfo(DocumentSummary, frozen=True):
    """A served document with its full text, which citation offsets index."""

    text: str


class DocumentPage(msgspec.Struct, frozen=True):
    """One page of the served documents, in document id order."""

    total: int
    offset: int
    limit: int
    documents: list[DocumentSummary]
