"""Indexing throughput of a local build against Ray builds of the same documents on the same machine."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from indexer.build import BuildReport, BuildSettings, build_from_documents
from indexer.cluster.ray_build import RayOptions, ray_build_from_documents
from indexer.cluster.ray_cluster import ray_session
from indexer.encoding.embedding import Encoder
from indexer.types import Document

WARM_UP_TEXTS = 64


@dataclass(frozen=True)
class Run:
    """One whole build (chunking, embedding, BM25, writing, publishing) and a build of one document per
    worker on the same engine, whose time is what starting the engine's workers costs."""

    label: str
    build: BuildReport
    fixed_seconds: float

    @property
    def texts(self) -> int:
        """Chunks and sentences embedded."""
        return self.build.chunks + self.build.sentences

    @property
    def rate(self) -> float:
        """Texts per second over the whole build."""
        return self.texts / self.build.seconds

    def node_lines(self) -> list[str]:
        """What each node of a Ray build embedded, and its share of the embedding stage's rate."""
        seconds = max(self.build.embedding_seconds, 1e-9)
        return [
            f"  node {node}: {work.workers} worker(s), {work.texts} texts, {work.texts / seconds:.1f} texts/s over the embedding stage"
            for node, work in self.build.nodes.items()
        ]

    def line(self, local: Run) -> str:
        """A printable row, with its throughput against the local build's."""
        return (
            f"{self.label:<16}{self.build.seconds:8.1f} s  {self.rate:7.1f} texts/s  {self.rate / local.rate:.3f} of local;  "
            f"embedding stage {self.build.embedding_seconds:.1f} s; one document per worker {self.fixed_seconds:.1f} s"
        )


@contextmanager
def scratch_root(keep: Path | None) -> Iterator[Path]:
    """An index root to build into: `keep` (built there from scratch) or a temporary one."""
    if keep is not None:
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as scratch:
        yield Path(scratch) / "index"


def local_run(documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int, keep: Path | None) -> Run:
    """A whole local build, then a one-document one."""
    encoder.encode([document.text for document in documents[:WARM_UP_TEXTS]], batch_size)
    with scratch_root(keep) as root:
        report = build_from_documents(documents, root, encoder, settings, batch_size, incremental=False)
    with scratch_root(None) as root:
        started = time.perf_counter()
        build_from_documents(documents[:1], root, encoder, settings, batch_size)
        return Run("local build", report, time.perf_counter() - started)


def ray_run(documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int, options: RayOptions, keep: Path | None) -> Run:
    """A whole build on the connected Ray cluster with options.workers encoders, then one of a document
    per worker (so that every worker starts)."""
    with scratch_root(keep) as root:
        report = ray_build_from_documents(documents, root, encoder, options, settings, batch_size, incremental=False)
    with scratch_root(None) as root:
        started = time.perf_counter()
        ray_build_from_documents(documents[: options.workers or 1], root, encoder, options, settings, batch_size)
        label = f"ray, {options.workers} worker{'s' if options.workers != 1 else ''}"
        return Run(label, report, time.perf_counter() - started)


def measure_ray(
    documents: list[Document], encoder: Encoder, settings: BuildSettings, batch_size: int, address: str, workers: tuple[int, ...],
    keep: tuple[Path | None, Path | None], token_file: Path | None = None,
) -> tuple[float, list[Run]]:
    """Seconds to connect to (or start) the cluster, then the local build and a Ray build per worker
    count; keep names where to leave the local and the last Ray index, if anywhere."""
    started = time.perf_counter()
    with ray_session(address, token_file=token_file):
        connected = time.perf_counter() - started
        runs = [local_run(documents, encoder, settings, batch_size, keep[0])]
        for count in workers:
            destination = keep[1] if count == workers[-1] else None
            runs.append(ray_run(documents, encoder, settings, batch_size, RayOptions(address, count), destination))
    return connected, runs
