"""The record store: documents in SQLite, chunk and sentence spans in memory-mapped arrays, read by id.

Nothing is decoded at open, so a million chunks open in milliseconds and cost memory only for the
records a question touches. Chunk and sentence texts are slices of their document's text, so
`document.text[start:end] == chunk.text` holds by construction.
"""

from __future__ import annotations

import json
import mmap
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, overload

import msgspec
import numpy as np

from indexer.reading.metadata import date_range
from indexer.reading.structure import heading_span, page_numbers, section_path
from indexer.types import Chunk, Document, Heading, Sentence

Record = TypeVar("Record", Chunk, Sentence)
DOCUMENTS = "documents.sqlite"
CHUNK_SPANS = "chunk_spans.npy"
SENTENCE_SPANS = "sentence_spans.npy"
SENTENCE_CHUNK_OFFSETS = "sentence_chunk_offsets.npy"
SENTENCE_CHUNK_IDS = "sentence_chunk_ids.npy"
# Columns of the span arrays.
CHUNK_COLUMNS = ("document", "start", "end", "token_count", "first_sentence", "sentence_count")
SENTENCE_COLUMNS = ("document", "start", "end")
SCHEMA = """
CREATE TABLE documents (
    position INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, sha256 TEXT NOT NULL,
    body_start INTEGER NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL,
    chunk_count INTEGER NOT NULL, sentence_count INTEGER NOT NULL,
    format TEXT NOT NULL, pages TEXT NOT NULL, headings TEXT NOT NULL,
    -- What filters compare: lower-cased force and report type, the days the document's date covers.
    force TEXT, report_type TEXT, date_start TEXT, date_end TEXT,
    furniture TEXT NOT NULL DEFAULT '[]'
)
"""
# furniture (spans never quoted: titles, bylines) came after format 4 shipped; older tables lack it.
DOCUMENT_FIELDS = "doc_id, text, title, sha256, body_start, metadata, pages, headings, format"
Spans = tuple[tuple[int, int], ...]


def document_row(position: int, document: Document, chunk_count: int, sentence_count: int) -> tuple[Any, ...]:
    """One row of the documents table."""
    metadata = document.metadata
    dates = date_range(metadata.get("date"))
    return (
        position, document.doc_id, document.title, document.sha256, document.body_start,
        msgspec.json.encode(metadata).decode(), document.text, chunk_count, sentence_count,
        document.format, msgspec.json.encode(document.pages).decode(), msgspec.json.encode(document.headings).decode(),
        lowered(metadata.get("force")), lowered(metadata.get("report_type")), *(dates or (None, None)),
        msgspec.json.encode(document.furniture).decode(),
    )


def lowered(value: object) -> str | None:
    """A metadata value as filters compare it: trimmed, lower case."""
    return str(value).strip().lower() if value is not None else None


def advise_random(array: np.ndarray) -> np.ndarray:
    """Turn off read-ahead on a memory-mapped array read at scattered ids: each fault would otherwise
    pull in (and keep resident) a neighbourhood the process never reads."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mmap, "MADV_RANDOM"):
        mapping.madvise(mmap.MADV_RANDOM)
    # A plain ndarray view of the same mapping: np.memmap runs Python code on every indexing.
    return np.asarray(array)


def chunk_spans(chunks: list[Chunk], positions: dict[str, int]) -> np.ndarray:
    """One row of CHUNK_COLUMNS per chunk; its sentences must be consecutive ids."""
    rows = np.zeros((len(chunks), len(CHUNK_COLUMNS)), dtype=np.int64)
    for row, chunk in zip(rows, chunks):
        ids = chunk.sentence_ids
        if ids and list(ids) != list(range(ids[0], ids[0] + len(ids))):
            raise ValueError(f"chunk {chunk.chunk_id} holds non-consecutive sentences {ids}")
        row[:] = (positions[chunk.doc_id], chunk.start, chunk.end, chunk.token_count, ids[0] if ids else 0, len(ids))
    return rows


def sentence_chunk_index(chunks: list[Chunk], sentence_count: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR arrays: the chunks holding sentence s are ids[offsets[s]:offsets[s + 1]]."""
    pairs = sorted((sentence_id, chunk.chunk_id) for chunk in chunks for sentence_id in chunk.sentence_ids)
    counts = np.bincount([s for s, _ in pairs], minlength=sentence_count) if pairs else np.zeros(sentence_count, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, np.array([c for _, c in pairs], dtype=np.int64)


def write_records(directory: Path, documents: list[Document], chunks: list[Chunk], sentences: list[Sentence]) -> None:
    """Write the documents table and the span arrays into directory."""
    positions = {document.doc_id: position for position, document in enumerate(documents)}
    spans = chunk_spans(chunks, positions)
    sentence_rows = np.array([(positions[s.doc_id], s.start, s.end) for s in sentences], dtype=np.int64).reshape(-1, 3)
    chunk_counts = np.bincount(spans[:, 0], minlength=len(documents)) if len(spans) else np.zeros(len(documents), np.int64)
    sentence_counts = np.bincount(sentence_rows[:, 0], minlength=len(documents)) if len(sentence_rows) else np.zeros(len(documents), np.int64)
    connection = sqlite3.connect(directory / DOCUMENTS)
    try:
        connection.execute(SCHEMA)
        connection.executemany(
            f"INSERT INTO documents VALUES ({', '.join('?' * 17)})",
            (document_row(p, d, int(chunk_counts[p]), int(sentence_counts[p])) for p, d in enumerate(documents)),
        )
        connection.commit()
    finally:
        connection.close()
    np.save(directory / CHUNK_SPANS, spans)
    np.save(directory / SENTENCE_SPANS, sentence_rows)
    offsets, ids = sentence_chunk_index(chunks, len(sentences))
    np.save(directory / SENTENCE_CHUNK_OFFSETS, offsets)
    np.save(directory / SENTENCE_CHUNK_IDS, ids)


class RecordStore:
    """The records of one index version, opened read-only."""

    def __init__(self, directory: Path) -> None:
        path = directory / DOCUMENTS
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}")
        # immutable=1: a published version never changes, so SQLite may skip locking entirely.
        self._connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.chunk_spans = advise_random(np.load(directory / CHUNK_SPANS, mmap_mode="r"))
        self.sentence_spans = advise_random(np.load(directory / SENTENCE_SPANS, mmap_mode="r"))
        self.sentence_chunk_offsets = advise_random(np.load(directory / SENTENCE_CHUNK_OFFSETS, mmap_mode="r"))
        self.sentence_chunk_ids = advise_random(np.load(directory / SENTENCE_CHUNK_IDS, mmap_mode="r"))
        self.document_count = int(self.query("SELECT count(*) FROM documents")[0][0])
        # An index written before furniture was recorded reads as having none (titles are still matched).
        self.has_furniture = any(row[1] == "furniture" for row in self.query("PRAGMA table_info(documents)"))
        self.text = lru_cache(maxsize=256)(self._text)
        self.doc_id = lru_cache(maxsize=4096)(self._doc_id)
        self.title = lru_cache(maxsize=4096)(self._title)
        self.layout = lru_cache(maxsize=1024)(self._layout)
        self.section_index = lru_cache(maxsize=1024)(self._section_index)
        self.furniture = lru_cache(maxsize=1024)(self._furniture)
        self.body_start = lru_cache(maxsize=4096)(self._body_start)
        self.position = lru_cache(maxsize=4096)(self._position)
        self.documents = DocumentTable(self)
        self.chunks = ChunkTable(self, self.chunk_spans)
        self.sentences = SentenceTable(self, self.sentence_spans)

    def close(self) -> None:
        """Close the SQLite connection (a store only the writer reads, while writing)."""
        self._connection.close()

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement; one connection shared under a lock (reads take microseconds)."""
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def _text(self, position: int) -> str:
        """The full text of the document at position."""
        return self.query("SELECT text FROM documents WHERE position = ?", (position,))[0][0]

    def _doc_id(self, position: int) -> str:
        """The id of the document at position."""
        return self.query("SELECT doc_id FROM documents WHERE position = ?", (position,))[0][0]

    def _title(self, doc_id: str) -> str:
        """The title of a document by id."""
        return self.query("SELECT title FROM documents WHERE doc_id = ?", (doc_id,))[0][0]

    def _layout(self, position: int) -> tuple[tuple[int, ...], tuple[Heading, ...]]:
        """The page starts and headings of the document at position."""
        pages, headings = self.query("SELECT pages, headings FROM documents WHERE position = ?", (position,))[0]
        return msgspec.json.decode(pages, type=tuple[int, ...]), msgspec.json.decode(headings, type=tuple[Heading, ...])

    def _body_start(self, position: int) -> int:
        """Where the document at position starts after any front matter."""
        return int(self.query("SELECT body_start FROM documents WHERE position = ?", (position,))[0][0])

    def _furniture(self, position: int) -> Spans:
        """The never-quoted spans of the document at position (none in an index that predates them)."""
        if not self.has_furniture:
            return ()
        found = self.query("SELECT furniture FROM documents WHERE position = ?", (position,))[0][0]
        return msgspec.json.decode(found, type=Spans)

    def _section_index(self, position: int) -> tuple[list[int], list[tuple[str, ...]]]:
        """Each heading's start and the heading path in force from it, for looking a section up by bisection."""
        headings = self.layout(position)[1]
        return [heading.start for heading in headings], [section_path(headings, heading.start) for heading in headings]

    def section(self, position: int, offset: int) -> tuple[str, ...]:
        """The heading path in force at an offset of the document at position (section_path, by bisection)."""
        return self.section_place(position, offset)[0]

    def section_place(self, position: int, offset: int) -> tuple[tuple[str, ...], int, int]:
        """The heading path in force at an offset, how many of the document's headings start at or before it,
        and how many it has."""
        starts, paths = self.section_index(position)
        found = bisect_right(starts, offset)
        return (paths[found - 1] if found else ()), found, len(starts)

    def context(self, doc_id: str, start: int, end: int) -> tuple[list[int], list[str]]:
        """The page numbers a span covers and the heading path it sits under."""
        position = self.position(doc_id)
        if position is None:
            return [], []
        pages = self.layout(position)[0]
        return list(page_numbers(pages, start, end)), list(self.section(position, start))

    def is_unquotable(self, doc_id: str, start: int, end: int) -> bool:
        """Whether [start, end) of a document lies within a heading or furniture span (a title, byline or
        repeated title line), or reads as the document's title: it names a topic and answers nothing."""
        position = self.position(doc_id)
        if position is None:
            return False
        text = self.text(position)
        spans = [heading_span(text, h) for h in self.layout(position)[1]] + list(self.furniture(position))
        if any(left <= start and end <= right for left, right in spans):
            return True
        sentence = " ".join(text[start:end].split())
        # A one-sentence document takes its title from that sentence, which must stay quotable.
        return sentence == " ".join(self.title(doc_id).split()) and sentence != " ".join(text[self.body_start(position) :].split())

    def _position(self, doc_id: str) -> int | None:
        """The position of a document by id, or None."""
        rows = self.query("SELECT position FROM documents WHERE doc_id = ?", (doc_id,))
        return int(rows[0][0]) if rows else None

    def select_positions(
        self, forces: list[str] | None, report_types: list[str] | None, date_from: str | None, date_to: str | None, doc_ids: list[str] | None
    ) -> np.ndarray:
        """Positions of the documents matching every given condition (lists match any value; values
        lower-cased as stored; a document matches a date range its own date overlaps)."""
        conditions: list[str] = []
        parameters: list[Any] = []
        for column, values in (("force", forces), ("report_type", report_types), ("doc_id", doc_ids)):
            if values is not None:
                conditions.append(f"{column} IN (SELECT value FROM json_each(?))")
                parameters.append(json.dumps(values))
        if date_from is not None:
            conditions.append("date_end >= ?")
            parameters.append(date_from)
        if date_to is not None:
            conditions.append("date_start <= ?")
            parameters.append(date_to)
        where = " AND ".join(conditions) or "1"
        rows = self.query(f"SELECT position FROM documents WHERE {where} ORDER BY position", tuple(parameters))
        return np.array([row[0] for row in rows], dtype=np.int64)

    def counts(self, doc_id: str) -> tuple[int, int]:
        """Chunks and sentences of one document."""
        rows = self.query("SELECT chunk_count, sentence_count FROM documents WHERE doc_id = ?", (doc_id,))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def doc_ids(self, offset: int = 0, limit: int = -1) -> list[str]:
        """Document ids in sorted order, a page at a time."""
        return [row[0] for row in self.query("SELECT doc_id FROM documents ORDER BY doc_id LIMIT ? OFFSET ?", (limit, offset))]

    def chunk_doc_ids(self, chunk_ids: list[int]) -> list[str]:
        """The document id of each chunk."""
        return [self.doc_id(int(position)) for position in self.chunk_spans[chunk_ids, 0]]

    def chunk_sentences(self, chunk_id: int) -> range:
        """Ids of the sentences a chunk overlaps."""
        first, count = self.chunk_spans[chunk_id, 4:6]
        return range(int(first), int(first + count))

    def sentence_chunks(self, sentence_id: int) -> np.ndarray:
        """Ids of the chunks that hold a sentence."""
        return self.sentence_chunk_ids[self.sentence_chunk_offsets[sentence_id] : self.sentence_chunk_offsets[sentence_id + 1]]


class DocumentTable(Mapping[str, Document]):
    """Documents by id, read from SQLite on demand; iterates ids in sorted order."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def __getitem__(self, doc_id: str) -> Document:
        rows = self.store.query(f"SELECT position, {DOCUMENT_FIELDS} FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        position, doc_id, text, title, sha256, body_start, metadata, pages, headings, kind = rows[0]
        return Document(
            doc_id, text, title, sha256, body_start, msgspec.json.decode(metadata),
            msgspec.json.decode(pages, type=tuple[int, ...]), msgspec.json.decode(headings, type=tuple[Heading, ...]), kind,
            self.store.furniture(position),
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.doc_ids())

    def __len__(self) -> int:
        return self.store.document_count

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.store.position(doc_id) is not None


class SpanTable(Sequence[Record]):
    """Records by id, built on demand from a row of span columns and their document's text."""

    def __init__(self, store: RecordStore, spans: np.ndarray) -> None:
        self.store = store
        self.spans = spans

    def record(self, record_id: int, row: tuple[int, ...]) -> Record:
        """The record for one row of spans."""
        raise NotImplementedError

    @overload
    def __getitem__(self, record_id: int) -> Record: ...
    @overload
    def __getitem__(self, record_id: slice) -> list[Record]: ...
    def __getitem__(self, record_id: int | slice) -> Record | list[Record]:
        if isinstance(record_id, slice):
            return [self[i] for i in range(*record_id.indices(len(self)))]
        row = tuple(self.spans[record_id].tolist())  # IndexError past the end
        return self.record(int(record_id) % len(self), row)

    def __len__(self) -> int:
        return len(self.spans)


class ChunkTable(SpanTable[Chunk]):
    """Chunks by id: CHUNK_COLUMNS spans, text sliced from the document."""

    def record(self, record_id: int, row: tuple[int, ...]) -> Chunk:
        position, start, end, tokens, first, count = row
        text = self.store.text(position)[start:end]
        return Chunk(record_id, self.store.doc_id(position), start, end, text, tokens, tuple(range(first, first + count)))


class SentenceTable(SpanTable[Sentence]):
    """Sentences by id: SENTENCE_COLUMNS spans, text sliced from the document."""

    def record(self, record_id: int, row: tuple[int, ...]) -> Sentence:
        position, start, end = row
        return Sentence(record_id, self.store.doc_id(position), start, end, self.store.text(position)[start:end])
