"""Core records shared by the indexer, the service and eval."""

from __future__ import annotations

from typing import Any

import msgspec


class Heading(msgspec.Struct, frozen=True, array_like=True):
    """A heading of a document: where its text starts, its level (1 = top) and its text."""

    start: int
    level: int
    text: str


class Document(msgspec.Struct, frozen=True):
    """One corpus file: its id (path relative to the corpus), extracted text and metadata."""

    doc_id: str
    text: str
    title: str
    sha256: str
    # Offsets index `text`; body_start skips YAML front matter so it is never chunked.
    body_start: int = 0
    metadata: dict[str, Any] = {}
    # Offset where each page starts (page 1 first); empty for formats without pages.
    pages: tuple[int, ...] = ()
    headings: tuple[Heading, ...] = ()
    # The format the text was extracted from: text, markdown, pdf, html or docx.
    format: str = "text"
    # [start, end) spans of title, repeated-title, byline and dateline lines: never quoted (indexer.reading.furniture).
    furniture: tuple[tuple[int, int], ...] = ()


class Sentence(msgspec.Struct, frozen=True):
    """A sentence of a document, with character offsets into the document text."""

    sentence_id: int
    doc_id: str
    start: int
    end: int
    text: str


class Chunk(msgspec.Struct, frozen=True):
    """A run of whole sentences (or a piece of one long sentence) embedded as one vector."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str
    token_count: int
    # Ids of the sentences this chunk overlaps, in order.
    sentence_ids: tuple[int, ...] = ()


class Skipped(msgspec.Struct, frozen=True):
    """A corpus file left out of the build, and why."""

    path: str
    reason: str


class NodeWork(msgspec.Struct, frozen=True):
    """What one node of a Ray cluster embedded in a build: its encoder workers, and the texts (chunks and
    sentences) they embedded."""

    workers: int
    texts: int
