"""Index builds on a Ray cluster: extraction, chunking and embedding run as Ray Data stages; this process
is the one writer, and publishes through the same code as a local build (indexer.build)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from indexer.build import (
    BuildReport,
    BuildSettings,
    EmptyCorpus,
    build_from_documents,
    split_documents,
)
from indexer.cluster.ray_cluster import ray_session
from indexer.encoding.embedding import Encoder, load_encoder
from indexer.failpoints import failpoint
from indexer.reading.loading import MAX_FILE_BYTES, load_candidate, plan_corpus, warn_unlisted
from indexer.storage.incremental import Piece
from indexer.storage.publish import DEFAULT_KEEP
from indexer.types import Chunk, Document, NodeWork, Sentence, Skipped

# SciFact abstracts give about 11 texts each: a batch is about a second of one worker's encoding.
DOCUMENTS_PER_BATCH = 16
DEFAULT_SETTINGS = BuildSettings()
# Loading the model takes an encoder seconds (exporting it first, on a node that never has, 11 s here);
# a pool that has not started in this time is waiting for CPUs the cluster does not have free.
ENCODER_START_SECONDS = 600

DOCUMENT = msgspec.msgpack.Decoder(Document)
SKIPPED = msgspec.msgpack.Decoder(Skipped)
SENTENCES = msgspec.msgpack.Decoder(list[Sentence])
CHUNKS = msgspec.msgpack.Decoder(list[Chunk])
ENCODE = msgspec.msgpack.Encoder()


@dataclass(frozen=True)
class RayOptions:
    """Which cluster to build on and how to cut the work."""

    # "auto": the cluster running on this machine; "local": a private one started for this build; or host:port.
    address: str = "auto"
    # Encoder workers (Ray actors); None: one per CPU of the cluster.
    workers: int | None = None
    documents_per_batch: int = DOCUMENTS_PER_BATCH
    # The cluster's authentication token, when it is not where Ray looks (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token).
    token_file: Path | None = None


@dataclass(frozen=True)
class WorkerPlan:
    """How many encoder actors to start and how many CPUs (and encoder threads) each holds."""

    workers: int
    cpus_each: int


def plan_workers(node_cpus: list[int], workers: int | None) -> WorkerPlan:
    """One encoder actor per CPU by default; asked for fewer, each gets an equal share of the CPUs, as
    large as still lets them all fit: an actor's CPUs must all be on its node."""
    cluster_cpus = sum(node_cpus)
    if cluster_cpus < 1:
        raise ValueError("the Ray cluster has no CPUs to run encoders on")
    count = workers or cluster_cpus
    if count < 1 or count > cluster_cpus:
        raise ValueError(f"{count} Ray workers need a CPU each, and the cluster has {cluster_cpus}")
    each = cluster_cpus // count
    while sum(cpus // each for cpus in node_cpus) < count:
        each -= 1
    return WorkerPlan(count, each)


def node_cpus() -> list[int]:
    """The CPUs of each live node of the connected cluster."""
    import ray

    return [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]]


def configure_data(progress: bool) -> None:
    """Ray Data's own progress bars when asked, no per-run log chatter, and every encoder started before
    the first batch is handed out."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = progress
    context.print_on_execution_start = progress
    context.enable_auto_log_stats = False
    # Otherwise Ray Data hands up to two batches to whichever encoder has loaded its model first, while
    # the others are still loading theirs.
    context.wait_for_min_actors_s = ENCODER_START_SECONDS
    # Ray Data logs every run's plan at INFO; without progress the build is meant to be quiet.
    logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.WARNING)


def extract_batch(batch: dict[str, np.ndarray], corpus_dir: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Ray Data stage: read and extract a batch of corpus files (the same code as a local build)."""
    root = Path(corpus_dir)
    loaded = [load_candidate(Path(path), root, max_bytes, msgspec.msgpack.decode(listed)) for path, listed in zip(batch["path"], batch["listed"])]
    return {
        "position": batch["position"],
        "document": np.array([ENCODE.encode(item) if isinstance(item, Document) else b"" for item in loaded], dtype=object),
        "skipped": np.array([ENCODE.encode(item) if isinstance(item, Skipped) else b"" for item in loaded], dtype=object),
    }


def extract_corpus(corpus_dir: Path, max_bytes: int, options: RayOptions, cpus: int) -> tuple[list[Document], list[Skipped]]:
    """Every corpus file read and extracted on the cluster, in the order a local build loads them."""
    import ray

    corpus_dir = corpus_dir.absolute()
    plan = plan_corpus(corpus_dir)
    rows = [
        {"position": i, "path": str(path), "listed": ENCODE.encode(plan.listed.get(path.relative_to(corpus_dir).as_posix()))}
        for i, path in enumerate(plan.candidates)
    ]
    if not rows:
        return [], list(plan.skipped)
    per_batch = max(1, min(options.documents_per_batch, -(-len(rows) // max(cpus, 1))))
    dataset = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // per_batch)).map_batches(
        extract_batch, fn_kwargs={"corpus_dir": str(corpus_dir), "max_bytes": max_bytes}, batch_size=per_batch
    )
    loaded: dict[int, Document | Skipped] = {}
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for position, document, skipped in zip(batch["position"], batch["document"], batch["skipped"]):
            loaded[int(position)] = DOCUMENT.decode(document) if document else SKIPPED.decode(skipped)
    ordered = [loaded[i] for i in range(len(rows))]
    documents = [item for item in ordered if isinstance(item, Document)]
    skipped = list(plan.skipped) + [item for item in ordered if isinstance(item, Skipped)]
    warn_unlisted(plan, documents, skipped)
    return documents, skipped


def split_batch(batch: dict[str, np.ndarray], chunk_tokens: int, overlap_tokens: int) -> dict[str, np.ndarray]:
    """Ray Data stage: each document's sentences and chunks, numbered from 0 within it (as a Piece)."""
    settings = BuildSettings(chunk_tokens, overlap_tokens)
    split = [split_documents([DOCUMENT.decode(raw)], settings) for raw in batch["document"]]
    return {
        "doc_id": batch["doc_id"],
        "sentences": np.array([ENCODE.encode(sentences) for sentences, _ in split], dtype=object),
        "chunks": np.array([ENCODE.encode(chunks) for _, chunks in split], dtype=object),
    }


class EmbedBatch:
    """Ray Data stage run by actors: each holds one encoder for its life and embeds batches of documents."""

    def __init__(self, model: str, backend: str, threads: int, batch_size: int) -> None:
        import ray

        self.encoder = load_encoder(model, backend, threads)
        self.batch_size = batch_size
        # Which node and worker embedded each document, for the manifest (an actor restarted elsewhere
        # after its node died starts here again).
        self.node = ray.util.get_node_ip_address()
        self.worker = ray.get_runtime_context().get_actor_id() or ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch with every document's chunk and sentence vectors added (float32 bytes)."""
        chunks = [CHUNKS.decode(raw) for raw in batch["chunks"]]
        sentences = [SENTENCES.decode(raw) for raw in batch["sentences"]]
        # Chunks then sentences, as a local build calls the encoder.
        chunk_vectors = self.encoder.encode([chunk.text for group in chunks for chunk in group], self.batch_size)
        failpoint("ray-embedding")
        sentence_vectors = self.encoder.encode([sentence.text for group in sentences for sentence in group], self.batch_size)
        return batch | {
            "chunk_vectors": per_document(chunk_vectors, [len(group) for group in chunks]),
            "sentence_vectors": per_document(sentence_vectors, [len(group) for group in sentences]),
            "node": np.array([self.node] * len(chunks), dtype=object),
            "worker": np.array([self.worker] * len(chunks), dtype=object),
        }


def per_document(vectors: np.ndarray, counts: list[int]) -> np.ndarray:
    """Rows of vectors cut by document, each as bytes."""
    bounds = np.cumsum([0] + counts)
    return np.array([vectors[start:end].tobytes() for start, end in itertools.pairwise(bounds)], dtype=object)


def node_work(done: list[tuple[str, str, int]]) -> dict[str, NodeWork]:
    """Encoder workers and texts embedded per node, from (node, worker, texts) of every document."""
    nodes = {}
    for node in sorted({node for node, _, _ in done}):
        mine = [(worker, texts) for other, worker, texts in done if other == node]
        nodes[node] = NodeWork(workers=len({worker for worker, _ in mine}), texts=sum(texts for _, texts in mine))
    return nodes


def decode_piece(row: dict[str, Any], dimension: int) -> Piece:
    """One document's output row as a Piece."""
    sentences, chunks = SENTENCES.decode(row["sentences"]), CHUNKS.decode(row["chunks"])
    sentence_vectors = np.frombuffer(row["sentence_vectors"], dtype=np.float32).reshape(len(sentences), dimension)
    chunk_vectors = np.frombuffer(row["chunk_vectors"], dtype=np.float32).reshape(len(chunks), dimension)
    return Piece(sentences, chunks, sentence_vectors, chunk_vectors)


@dataclass
class RayEmbedder:
    """Splits and embeds documents on the cluster: split tasks feed a pool of encoder actors. After a
    call, `workers` is the pool size it ran with (fewer documents than planned workers start fewer) and
    `nodes` what each node's workers embedded."""

    model: str
    backend: str
    dimension: int
    settings: BuildSettings
    plan: WorkerPlan
    batch_size: int = 32
    documents_per_batch: int = DOCUMENTS_PER_BATCH
    engine: str = "ray"
    workers: int = 0
    nodes: dict[str, NodeWork] = field(default_factory=dict)

    def __call__(self, documents: list[Document]) -> tuple[dict[str, Piece], float]:
        """Pieces of the documents and the seconds the cluster stages took."""
        if not documents:
            return {}, 0.0
        started = time.perf_counter()
        # Small corpora are cut finer, so that every worker gets a batch.
        per_batch = max(1, min(self.documents_per_batch, -(-len(documents) // self.plan.workers)))
        batches = -(-len(documents) // per_batch)
        self.workers = min(batches, self.plan.workers)
        pieces: dict[str, Piece] = {}
        done: list[tuple[str, str, int]] = []
        for batch in self.batches(documents, per_batch):
            for row in range(len(batch["doc_id"])):
                piece = decode_piece({name: column[row] for name, column in batch.items()}, self.dimension)
                pieces[str(batch["doc_id"][row])] = piece
                done.append((str(batch["node"][row]), str(batch["worker"][row]), len(piece.chunks) + len(piece.sentences)))
        self.nodes = node_work(done)
        return pieces, time.perf_counter() - started

    def batches(self, documents: list[Document], per_batch: int) -> Iterator[dict[str, np.ndarray]]:
        """The embedded batches as the cluster returns them."""
        from ray.exceptions import GetTimeoutError

        try:
            yield from self.dataset(documents, per_batch).iter_batches(batch_size=None, batch_format="numpy")
        except GetTimeoutError as error:
            raise ValueError(f"the Ray cluster did not start {self.workers} encoder workers in {ENCODER_START_SECONDS} s: {error}") from error

    def dataset(self, documents: list[Document], per_batch: int) -> Any:
        """The split and embed stages over the documents, not yet run."""
        import ray
        from ray.data import ActorPoolStrategy, TaskPoolStrategy

        rows = [{"doc_id": document.doc_id, "document": ENCODE.encode(document)} for document in documents]
        batches = -(-len(rows) // per_batch)
        split = ray.data.from_items(rows, override_num_blocks=batches).map_batches(
            split_batch,
            fn_kwargs={"chunk_tokens": self.settings.chunk_tokens, "overlap_tokens": self.settings.overlap_tokens},
            batch_size=per_batch,
            # The encoders hold every CPU; splitting is a small fraction of the work and runs beside them.
            num_cpus=0,
            compute=TaskPoolStrategy(size=min(batches, self.plan.workers * self.plan.cpus_each)),
        )
        return split.map_batches(
            EmbedBatch,
            fn_constructor_kwargs={"model": self.model, "backend": self.backend, "threads": self.plan.cpus_each, "batch_size": self.batch_size},
            batch_size=per_batch,
            num_cpus=self.plan.cpus_each,
            # More encoders than batches would each load the model for nothing.
            compute=ActorPoolStrategy(size=self.workers),
        )


def ray_embedder(encoder: Encoder, settings: BuildSettings, options: RayOptions, batch_size: int) -> RayEmbedder:
    """An embedder for this encoder's model and backend, sized to the cluster's nodes."""
    plan = plan_workers(node_cpus(), options.workers)
    return RayEmbedder(encoder.model_name, encoder.backend, encoder.dimension, settings, plan, batch_size, options.documents_per_batch)


@contextmanager
def cluster_embedder(encoder: Encoder, settings: BuildSettings, options: RayOptions, batch_size: int, progress: bool) -> Iterator[tuple[RayEmbedder, int]]:
    """A session on the cluster, with an embedder sized to it and the cluster's CPUs."""
    with ray_session(options.address, token_file=options.token_file) as cpus:
        configure_data(progress)
        yield ray_embedder(encoder, settings, options, batch_size), cpus


def ray_build_index(
    corpus_dir: Path,
    out_dir: Path,
    encoder: Encoder,
    options: RayOptions,
    settings: BuildSettings = DEFAULT_SETTINGS,
    batch_size: int = 32,
    progress: bool = False,
    keep: int = DEFAULT_KEEP,
    incremental: bool = True,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> BuildReport:
    """build_index with extraction, chunking and embedding on a Ray cluster; only added and changed
    documents are chunked and embedded there, and this process writes and publishes the version."""
    started = time.perf_counter()
    with cluster_embedder(encoder, settings, options, batch_size, progress) as (embedder, cpus):
        documents, skipped = extract_corpus(corpus_dir, max_file_bytes, options, cpus)
        if not documents:
            raise EmptyCorpus(f"no indexable documents in {corpus_dir} ({len(skipped)} files skipped)")
        return build_from_documents(documents, out_dir, encoder, settings, batch_size, progress, skipped, started, keep, incremental, embedder)


def ray_build_from_documents(
    documents: list[Document],
    out_dir: Path,
    encoder: Encoder,
    options: RayOptions,
    settings: BuildSettings = DEFAULT_SETTINGS,
    batch_size: int = 32,
    progress: bool = False,
    incremental: bool = True,
) -> BuildReport:
    """build_from_documents with chunking and embedding on a Ray cluster (for already-loaded documents)."""
    started = time.perf_counter()
    with cluster_embedder(encoder, settings, options, batch_size, progress) as (embedder, _):
        return build_from_documents(documents, out_dir, encoder, settings, batch_size, progress, started=started, incremental=incremental, embedder=embedder)
