"""Whole-service scale benchmark: a real index replicated to about a million chunks, served and measured.

Embedding a million chunks of real text would take hours here, so the records are copies of a real
index (its documents, sentences and chunks, renamed per copy) and the copies' vectors are the real
ones scattered by Gaussian noise and renormalised: synthetic, same dimension and norm, stated as such.
Everything else is real: the same writer, BM25 indexes over all the copied texts, the HNSW index
the build chooses at this size, and the real server answering over HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import numpy as np

from eval.perf.bench import percentile, server_memory, server_rss_kib, start_server
from indexer.build import index_contents
from indexer.storage.store import Index, Manifest, write_index
from indexer.storage.vectors import choose_index
from indexer.types import Chunk, Document, Sentence


def source_records(index: Index) -> tuple[list[Document], list[Sentence], list[Chunk]]:
    """The documents (in build order), sentences and chunks of a built index."""
    records = index.records
    documents = [index.documents[records.doc_id(position)] for position in range(records.document_count)]
    return documents, list(index.sentences), list(index.chunks)


def copied(documents: list[Document], sentences: list[Sentence], chunks: list[Chunk], copies: int) -> tuple[list[Document], list[Sentence], list[Chunk]]:
    """copies renamed copies of every record, ids renumbered copy after copy."""
    all_documents: list[Document] = []
    all_sentences: list[Sentence] = []
    all_chunks: list[Chunk] = []
    for copy in range(copies):
        prefix, first_sentence, first_chunk = f"copy{copy:04d}/", copy * len(sentences), copy * len(chunks)
        all_documents += [msgspec.structs.replace(d, doc_id=prefix + d.doc_id) for d in documents]
        all_sentences += [Sentence(s.sentence_id + first_sentence, prefix + s.doc_id, s.start, s.end, s.text) for s in sentences]
        all_chunks += [
            Chunk(c.chunk_id + first_chunk, prefix + c.doc_id, c.start, c.end, c.text, c.token_count, tuple(i + first_sentence for i in c.sentence_ids))
            for c in chunks
        ]
    return all_documents, all_sentences, all_chunks


def copied_vectors(real: np.ndarray, copies: int, noise: float, path: Path) -> np.ndarray:
    """The real vectors for copy 0, then noisy copies of them, written to a memory-mapped file."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(real) * copies, real.shape[1]))
    out[: len(real)] = real
    for copy in range(1, copies):
        rng = np.random.default_rng(copy)
        block = real + rng.normal(0, noise / np.sqrt(real.shape[1]), real.shape).astype(np.float32)
        out[copy * len(real) : (copy + 1) * len(real)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def replicate_index(source: Index, out_root: Path, chunk_target: int, noise: float, work: Path) -> Manifest:
    """Write and publish an index of about chunk_target chunks copied from source."""
    copies = max(1, round(chunk_target / len(source.chunks)))
    documents, sentences, chunks = copied(*source_records(source), copies)
    work.mkdir(parents=True, exist_ok=True)
    chunk_vectors = copied_vectors(source.chunk_vectors(list(range(len(source.chunks)))), copies, noise, work / "chunk-vectors.npy")
    sentence_vectors = copied_vectors(np.asarray(source.sentence_vectors, dtype=np.float32), copies, noise, work / "sentence-vectors.npy")
    started = time.perf_counter()
    # The build's own assembly: records, vectors and the three BM25 indexes.
    contents = index_contents(documents, sentences, chunks, sentence_vectors, chunk_vectors)
    factory, params = choose_index(len(chunks))
    manifest = msgspec.structs.replace(
        source.manifest,
        version=time.strftime("%Y%m%dT%H%M%S000000Z", time.gmtime()) + f"-scale{copies}",
        faiss_index=factory,
        faiss_params=params,
        documents={d.doc_id: d.sha256 for d in documents},
        counts={"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences), "skipped": 0},
        build_seconds=time.perf_counter() - started,
    )
    return write_index(out_root, contents, manifest)


@dataclass(frozen=True)
class ServiceScale:
    """What one server over a large index measured."""

    startup_seconds: float
    ready: dict
    latencies_ms: list[float]
    errors: int
    rss_mib_after_start: float
    rss_mib_after_questions: float
    memory: str

    def lines(self) -> list[str]:
        """A short printed report."""
        latencies = sorted(self.latencies_ms)
        return [
            f"index: {self.ready['documents']:,} documents, {self.ready['chunks']:,} chunks, {self.ready['sentences']:,} sentences",
            f"startup (process start to /ready 200): {self.startup_seconds:.2f} s",
            f"/ask over HTTP, one at a time: n={len(latencies)} errors={self.errors} p50={percentile(latencies, 0.5):.2f} ms p99={percentile(latencies, 0.99):.2f} ms",
            f"RSS after start {self.rss_mib_after_start:,.0f} MiB, after the questions {self.rss_mib_after_questions:,.0f} MiB",
            self.memory,
        ]


def measure_service(out_root: Path, model: str, backend: str, questions: list[str]) -> ServiceScale:
    """Start the real server on the index, time its start, ask every question once, read its memory."""
    started = time.perf_counter()
    process, base = start_server(out_root, model, backend=backend)
    startup = time.perf_counter() - started
    try:
        ready = httpx.get(f"{base}/ready", timeout=10).json()
        after_start = server_rss_kib(process) / 1024
        latencies, errors = [], 0
        with httpx.Client(base_url=base, timeout=30) as client:
            for question in questions:
                begin = time.perf_counter()
                response = client.post("/ask", json={"question": question, "k": 5})
                latencies.append((time.perf_counter() - begin) * 1000)
                errors += response.status_code != 200
        return ServiceScale(startup, ready, latencies, errors, after_start, server_rss_kib(process) / 1024, server_memory(process))
    finally:
        process.terminate()
        process.wait(timeout=30)
