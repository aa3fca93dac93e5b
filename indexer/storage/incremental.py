"""Incremental builds: documents whose content hash is unchanged keep their sentences, chunks and vectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.storage.publish import VERSIONS, version_dir
from indexer.storage.store import Index, IndexStoreError, Manifest, read_manifest
from indexer.types import Chunk, Document, Sentence


@dataclass(frozen=True)
class Piece:
    """One document's sentences and chunks with their vectors, numbered from 0 within the document."""

    sentences: list[Sentence]
    chunks: list[Chunk]
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray


@dataclass(frozen=True)
class Changes:
    """How the corpus differs from the published version, by document id."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def compare(documents: list[Document], previous: dict[str, str]) -> Changes:
    """Sort documents into added, changed and unchanged against previous hashes; list the removed."""
    current = {document.doc_id: document.sha256 for document in documents}
    return Changes(
        added=[doc_id for doc_id in current if doc_id not in previous],
        changed=[doc_id for doc_id, sha in current.items() if doc_id in previous and previous[doc_id] != sha],
        removed=sorted(doc_id for doc_id in previous if doc_id not in current),
        unchanged=[doc_id for doc_id, sha in current.items() if previous.get(doc_id) == sha],
    )


def reusable(previous: Manifest, fingerprint: dict[str, object]) -> bool:
    """Whether a published index was built as this build would build it (same spans, same vectors)."""
    return all(getattr(previous, name) == value for name, value in fingerprint.items())


def published_manifest(root: Path) -> Manifest | None:
    """The manifest of the version published under root, or None when there is none that reads cleanly."""
    try:
        return read_manifest(root)
    except IndexStoreError:
        return None


def previous_dir(root: Path, manifest: Manifest) -> Path:
    """The directory of the version that manifest describes, even if another was published since."""
    directory = root / VERSIONS / manifest.version
    return directory if directory.is_dir() else version_dir(root)


def pieces_by_document(sentences: list[Sentence], chunks: list[Chunk], sentence_vectors: np.ndarray, chunk_vectors: np.ndarray) -> dict[str, Piece]:
    """Cut corpus-wide lists (each document's records contiguous) into pieces numbered from 0."""
    pieces: dict[str, Piece] = {}
    chunk_groups = contiguous_groups([c.doc_id for c in chunks])
    for doc_id, rows in contiguous_groups([s.doc_id for s in sentences]).items():
        span = chunk_groups.get(doc_id, range(0))
        first = sentences[rows.start].sentence_id
        base = chunks[span.start].chunk_id if span else 0
        local_sentences = [Sentence(s.sentence_id - first, s.doc_id, s.start, s.end, s.text) for s in sentences[rows.start : rows.stop]]
        local_chunks = [
            Chunk(c.chunk_id - base, c.doc_id, c.start, c.end, c.text, c.token_count, tuple(i - first for i in c.sentence_ids))
            for c in chunks[span.start : span.stop]
        ]
        pieces[doc_id] = Piece(local_sentences, local_chunks, sentence_vectors[rows.start : rows.stop], chunk_vectors[span.start : span.stop])
    return pieces


def contiguous_groups(doc_ids: list[str]) -> dict[str, range]:
    """The positions each document's records occupy (they are contiguous)."""
    groups: dict[str, range] = {}
    for position, doc_id in enumerate(doc_ids):
        groups[doc_id] = range(groups[doc_id].start if doc_id in groups else position, position + 1)
    return groups


def assemble(documents: list[Document], pieces: dict[str, Piece], dimension: int) -> tuple[list[Sentence], list[Chunk], np.ndarray, np.ndarray]:
    """Corpus-wide sentences, chunks and vectors in document order, renumbered from 0."""
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    nothing = Piece([], [], np.zeros((0, dimension), np.float32), np.zeros((0, dimension), np.float32))
    for document in documents:
        piece, first = pieces.get(document.doc_id, nothing), len(sentences)
        sentences += [Sentence(s.sentence_id + first, s.doc_id, s.start, s.end, s.text) for s in piece.sentences]
        chunks += [
            Chunk(len(chunks) + i, c.doc_id, c.start, c.end, c.text, c.token_count, tuple(j + first for j in c.sentence_ids))
            for i, c in enumerate(piece.chunks)
        ]
    empty = np.zeros((0, dimension), dtype=np.float32)
    sentence_vectors = np.vstack([empty] + [pieces.get(d.doc_id, nothing).sentence_vectors for d in documents]).astype(np.float32)
    chunk_vectors = np.vstack([empty] + [pieces.get(d.doc_id, nothing).chunk_vectors for d in documents]).astype(np.float32)
    return sentences, chunks, sentence_vectors, chunk_vectors


def reusable_pieces(root: Path, manifest: Manifest, doc_ids: list[str]) -> dict[str, Piece]:
    """The pieces of doc_ids from the version manifest describes; none when that version will not open
    (a corrupt version must not block the full rebuild that replaces it)."""
    try:
        index = Index(previous_dir(root, manifest))
    except IndexStoreError:
        return {}
    return previous_pieces(index, doc_ids)


def previous_pieces(index: Index, keep: list[str]) -> dict[str, Piece]:
    """The pieces of the given documents from a published index."""
    records = index.records
    positions = [position for position in map(records.position, keep) if position is not None]
    sentences = [index.sentences[int(i)] for i in np.flatnonzero(np.isin(records.sentence_spans[:, 0], positions))]
    chunks = [index.chunks[int(i)] for i in np.flatnonzero(np.isin(records.chunk_spans[:, 0], positions))]
    sentence_vectors = np.asarray(index.sentence_vectors[[s.sentence_id for s in sentences]], dtype=np.float32)
    chunk_vectors = index.chunk_vectors([c.chunk_id for c in chunks]) if chunks else np.zeros((0, index.manifest.dimension), np.float32)
    # Ids stay global here; pieces_by_document renumbers within each document.
    return pieces_by_document(sentences, chunks, sentence_vectors, chunk_vectors)
