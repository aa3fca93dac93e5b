"""Indexing throughput against the raw encoder on the same texts, measured in one run."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from indexer.build import BuildReport, BuildSettings, build_from_documents, split_documents
from indexer.encoding.embedding import Encoder
from indexer.types import Document

WARM_UP_TEXTS = 64


@dataclass(frozen=True)
class Throughput:
    """Texts (chunks and sentences) embedded per second by the bare encoder and by a whole build."""

    texts: int
    chunks: int
    raw_seconds: float
    build: BuildReport

    @property
    def raw_rate(self) -> float:
        """Texts per second from encoder.encode alone."""
        return self.texts / self.raw_seconds

    @property
    def build_rate(self) -> float:
        """Texts per second over the whole build: chunking, embedding, BM25 and writing."""
        return self.texts / self.build.seconds

    def lines(self) -> list[str]:
        """A printable report."""
        return [
            f"texts embedded: {self.texts} ({self.chunks} chunks + {self.texts - self.chunks} sentences)",
            f"raw encoder:    {self.raw_seconds:8.1f} s  {self.raw_rate:7.1f} texts/s",
            f"whole build:    {self.build.seconds:8.1f} s  {self.build_rate:7.1f} texts/s  "
            f"({self.chunks / self.build.seconds:.1f} chunks/s; embedding {self.build.embedding_seconds:.1f} s)",
            f"build / raw:    {self.build_rate / self.raw_rate:.3f}",
        ]


def measure_throughput(documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int) -> Throughput:
    """Encode the build's texts with the bare encoder, then run the whole build, on the same encoder."""
    sentences, chunks = split_documents(documents, settings)
    texts = [chunk.text for chunk in chunks] + [sentence.text for sentence in sentences]
    encoder.encode(texts[:WARM_UP_TEXTS], batch_size)
    started = time.perf_counter()
    # Two calls, as the build makes them: chunks, then sentences.
    encoder.encode(texts[: len(chunks)], batch_size)
    encoder.encode(texts[len(chunks) :], batch_size)
    raw_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="throughput-") as scratch:
        report = build_from_documents(documents, Path(scratch) / "index", encoder, settings, batch_size)
    return Throughput(len(texts), len(chunks), raw_seconds, report)
