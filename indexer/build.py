"""Turn a corpus directory into an index: load, split, embed, write."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from indexer.chunking import TOKEN_ENCODING_SHA256, ChunkSpan, Span, chunk_spans, paragraph_spans, sentence_spans
from indexer.encoding.embedding import Encoder
from indexer.failpoints import failpoint
from indexer.reading.loading import MAX_FILE_BYTES, load_corpus
from indexer.reading.structure import boundary_sentences, numbered_paragraph_starts
from indexer.storage.incremental import Changes, Piece, assemble, compare, pieces_by_document, published_manifest, reusable, reusable_pieces
from indexer.storage.lexical import BM25_SETTINGS, LexicalIndex
from indexer.storage.lifetime import worker_pool
from indexer.storage.publish import DEFAULT_KEEP, remove_leftovers
from indexer.storage.store import FORMAT_VERSION, IndexContents, Manifest, write_index
from indexer.storage.vectors import choose_index
from indexer.types import Chunk, Document, NodeWork, Sentence, Skipped

# Measured on eval/sets/seed.jsonl (README, "Choosing the chunk size").
DEFAULT_CHUNK_TOKENS = 64
DEFAULT_OVERLAP_TOKENS = 16


class EmptyCorpus(ValueError):
    """The corpus has no document that could be indexed."""


@dataclass(frozen=True)
class BuildSettings:
    """How documents are cut into chunks."""

    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the console and for tests."""

    out_dir: Path
    version: str
    documents: int
    chunks: int
    sentences: int
    seconds: float
    embedding_seconds: float
    skipped: list[Skipped] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    # Documents whose sentences, chunks and vectors came from the previous version unchanged.
    reused: int = 0
    embedded_chunks: int = 0
    # The part of `seconds` spent writing, verifying and publishing the version.
    publish_seconds: float = 0.0
    # What split and embedded the documents ("local" or "ray") and with how many encoder workers.
    engine: str = "local"
    workers: int = 1
    # On a Ray cluster: what each node's encoder workers embedded, by node address.
    nodes: dict[str, NodeWork] = field(default_factory=dict)
    # What killed builds had left in the index root, removed before this one started.
    cleaned: list[str] = field(default_factory=list)

    @property
    def chunks_per_second(self) -> float:
        """Chunks embedded per second of embedding time."""
        return self.embedded_chunks / self.embedding_seconds if self.embedding_seconds else 0.0


class Embedder(Protocol):
    """Splits and embeds documents into per-document pieces; says what engine it runs on (and, after a
    call, what each node of a cluster embedded)."""

    engine: str
    workers: int
    nodes: dict[str, NodeWork]

    def __call__(self, documents: list[Document]) -> tuple[dict[str, Piece], float]: ...


@dataclass(frozen=True)
class LocalEmbedder:
    """Split and embed in this process (chunking in spawned processes for large corpora)."""

    encoder: Encoder
    settings: BuildSettings
    batch_size: int = 32
    progress: bool = False
    engine: str = "local"
    workers: int = 1
    nodes: dict[str, NodeWork] = field(default_factory=dict)

    def __call__(self, documents: list[Document]) -> tuple[dict[str, Piece], float]:
        """Pieces of the documents and the seconds spent in the encoder."""
        return embed_documents(documents, self.encoder, self.settings, self.batch_size, self.progress)


# Below this many documents, starting worker processes costs more than it saves.
PARALLEL_MIN_DOCUMENTS = 256


def document_spans(document: Document, settings: BuildSettings) -> tuple[list[Span], list[ChunkSpan]]:
    """Sentence spans of one document and the chunks they pack into, sections starting new chunks."""
    text = document.text
    spans = sentence_spans(text, document.body_start)
    paragraphs = [paragraph.start for paragraph in paragraph_spans(text, document.body_start)]
    section_starts = [heading.start for heading in document.headings] + numbered_paragraph_starts(text, paragraphs)
    boundaries = boundary_sentences([span.start for span in spans], sorted(section_starts))
    return spans, chunk_spans(text, spans, settings.chunk_tokens, settings.overlap_tokens, boundaries)


def all_document_spans(documents: list[Document], settings: BuildSettings, progress: bool) -> Iterator[tuple[list[Span], list[ChunkSpan]]]:
    """document_spans of every document, in order; in worker processes for large corpora."""
    task = partial(document_spans, settings=settings)
    workers = min(os.cpu_count() or 1, 8)
    bar = partial(tqdm, total=len(documents), desc="chunking", unit="doc", disable=not progress)
    if workers < 2 or len(documents) < PARALLEL_MIN_DOCUMENTS:
        yield from bar(map(task, documents))
        return
    with worker_pool(workers) as pool:
        yield from bar(pool.map(task, documents, chunksize=64))


def split_documents(
    documents: list[Document], settings: BuildSettings, progress: bool = False
) -> tuple[list[Sentence], list[Chunk]]:
    """Sentences and chunks of every document, with corpus-wide ids."""
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    # The spans come first in zip so the progress bar sees its iterator end and shows 100%.
    for (spans, chunk_list), document in zip(all_document_spans(documents, settings, progress), documents):
        failpoint("chunking")
        text, first_id = document.text, len(sentences)
        sentences.extend(
            Sentence(first_id + i, document.doc_id, s.start, s.end, text[s.start : s.end]) for i, s in enumerate(spans)
        )
        for span in chunk_list:
            chunks.append(
                Chunk(
                    chunk_id=len(chunks),
                    doc_id=document.doc_id,
                    start=span.start,
                    end=span.end,
                    text=text[span.start : span.end],
                    token_count=span.token_count,
                    sentence_ids=tuple(range(first_id + span.first_sentence, first_id + span.last_sentence + 1)),
                )
            )
    return sentences, chunks


def build_version(documents: list[Document], model: str, settings: BuildSettings, now: datetime) -> str:
    """A version id: build time plus a hash of what went into the index."""
    digest = hashlib.sha256(f"{model}|{settings}".encode())
    for document in documents:
        digest.update(f"{document.doc_id}:{document.sha256}".encode())
    # Microseconds: two builds of the same corpus must never share a version directory.
    return f"{now:%Y%m%dT%H%M%S%fZ}-{digest.hexdigest()[:8]}"


def describe_build(
    documents: list[Document],
    contents: IndexContents,
    skipped: int,
    encoder: Encoder,
    settings: BuildSettings,
    seconds: float,
    embedder: Embedder | None = None,
) -> Manifest:
    """The manifest for a build (file checksums are added when written)."""
    now = datetime.now(UTC)
    faiss_index, faiss_params = choose_index(len(contents.chunks))
    return Manifest(
        format_version=FORMAT_VERSION,
        version=build_version(documents, f"{encoder.model_name}@{encoder.backend}", settings, now),
        created_at=now.isoformat(timespec="seconds"),
        model=encoder.model_name,
        dimension=encoder.dimension,
        metric="inner_product",
        faiss_index=faiss_index,
        faiss_params=faiss_params,
        tokenizer="cl100k_base",
        tokenizer_sha256=TOKEN_ENCODING_SHA256,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.overlap_tokens,
        lexical=BM25_SETTINGS,
        documents={document.doc_id: document.sha256 for document in documents},
        counts={
            "documents": len(documents),
            "chunks": len(contents.chunks),
            "sentences": len(contents.sentences),
            "skipped": skipped,
        },
        build_seconds=round(seconds, 3),
        encoder=encoder.backend,
        model_sha256=encoder.model_sha256,
        engine=embedder.engine if embedder else "local",
        workers=embedder.workers if embedder else 1,
        nodes=embedder.nodes if embedder else {},
    )


def build_index(
    corpus_dir: Path,
    out_dir: Path,
    encoder: Encoder,
    settings: BuildSettings = BuildSettings(),
    batch_size: int = 32,
    progress: bool = False,
    keep: int = DEFAULT_KEEP,
    incremental: bool = True,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> BuildReport:
    """Build a new version of the index of corpus_dir under out_dir, publish it and report on it."""
    started = time.perf_counter()
    documents, skipped = load_corpus(corpus_dir, max_file_bytes)
    if not documents:
        raise EmptyCorpus(f"no indexable documents in {corpus_dir} ({len(skipped)} files skipped)")
    return build_from_documents(documents, out_dir, encoder, settings, batch_size, progress, skipped, started, keep, incremental)


def build_from_documents(
    documents: list[Document],
    out_dir: Path,
    encoder: Encoder,
    settings: BuildSettings = BuildSettings(),
    batch_size: int = 32,
    progress: bool = False,
    skipped: list[Skipped] | None = None,
    started: float | None = None,
    keep: int = DEFAULT_KEEP,
    incremental: bool = True,
    embedder: Embedder | None = None,
) -> BuildReport:
    """Split, embed and write already-loaded documents as a new version under out_dir.

    Unless incremental is False, documents unchanged since the published version (same content hash,
    same model and chunking) keep their sentences, chunks and vectors; only the rest go to the embedder
    (by default this process's encoder; a Ray cluster's with indexer.cluster.ray_build).
    """
    embedder = embedder or LocalEmbedder(encoder, settings, batch_size, progress)
    started = time.perf_counter() if started is None else started
    skipped = skipped or []
    cleaned = remove_leftovers(out_dir)
    previous = published_manifest(out_dir) if incremental else None
    changes = compare(documents, previous.documents if previous else {})
    unchanged = changes.unchanged if previous and reusable(previous, build_fingerprint(encoder, settings)) else []
    pieces = reusable_pieces(out_dir, previous, unchanged) if previous and unchanged else {}
    reused = len(pieces)
    fresh, embedding_seconds = embedder([d for d in documents if d.doc_id not in pieces])
    pieces.update(fresh)
    contents = index_contents(documents, *assemble(documents, pieces, encoder.dimension))
    manifest = describe_build(documents, contents, len(skipped), encoder, settings, time.perf_counter() - started, embedder)
    writing = time.perf_counter()
    manifest = write_index(out_dir, contents, manifest, keep)
    publish_seconds = time.perf_counter() - writing
    return BuildReport(
        out_dir=out_dir,
        version=manifest.version,
        documents=len(documents),
        chunks=len(contents.chunks),
        sentences=len(contents.sentences),
        seconds=time.perf_counter() - started,
        embedding_seconds=embedding_seconds,
        skipped=skipped,
        changes=changes,
        reused=reused,
        embedded_chunks=sum(len(piece.chunks) for piece in fresh.values()),
        publish_seconds=publish_seconds,
        engine=embedder.engine,
        workers=embedder.workers,
        nodes=embedder.nodes,
        cleaned=cleaned,
    )


def index_contents(
    documents: list[Document], sentences: list[Sentence], chunks: list[Chunk], sentence_vectors: np.ndarray, chunk_vectors: np.ndarray
) -> IndexContents:
    """Everything to write for a version: records, vectors and the three BM25 indexes."""
    return IndexContents(
        documents,
        sentences,
        chunks,
        chunk_vectors,
        sentence_vectors,
        LexicalIndex.build([chunk.text for chunk in chunks]),
        LexicalIndex.build([sentence.text for sentence in sentences]),
        LexicalIndex.build([document.text[document.body_start :] for document in documents]),
    )


def build_fingerprint(encoder: Encoder, settings: BuildSettings) -> dict[str, object]:
    """Manifest fields that must match for a previous version's spans and vectors to be reused."""
    return {
        "format_version": FORMAT_VERSION,
        "model": encoder.model_name,
        # Same name, other weights (a re-packaged or fine-tuned model): the old vectors are not reusable.
        "model_sha256": encoder.model_sha256,
        "dimension": encoder.dimension,
        "encoder": encoder.backend,
        "tokenizer_sha256": TOKEN_ENCODING_SHA256,
        "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.overlap_tokens,
    }


def embed_documents(
    documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int, progress: bool
) -> tuple[dict[str, Piece], float]:
    """Split and embed documents, as per-document pieces, and the seconds spent in the encoder."""
    sentences, chunks = split_documents(documents, settings, progress)
    started = time.perf_counter()
    chunk_vectors = encoder.encode([chunk.text for chunk in chunks], batch_size, progress)
    failpoint("embedding")
    sentence_vectors = encoder.encode([sentence.text for sentence in sentences], batch_size, progress)
    return pieces_by_document(sentences, chunks, sentence_vectors, chunk_vectors), time.perf_counter() - started
