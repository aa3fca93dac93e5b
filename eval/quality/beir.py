"""BEIR-format benchmarks through the same chunking, embedding, indexing and retrieval code."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from eval.quality.metrics import as_ranking, mean, ndcg_at_k, recall_at_k, reciprocal_rank_at_k
from indexer.build import BuildReport, BuildSettings, build_from_documents
from indexer.encoding.embedding import CachedEncoder, Encoder
from indexer.storage.store import FORMAT_VERSION, IndexStoreError, open_index, read_manifest
from indexer.types import Document
from service.core.retrieval import RetrievalSettings, Retriever

DEFAULT_CACHE = Path(".cache") / "beir"
# Chunk candidates each retriever contributes; a document scores its best chunk.
CHUNK_DEPTH = 1000
DOCUMENT_DEPTH = 100


class BeirError(ValueError):
    """A dataset directory that is not in BEIR format."""


@dataclass(frozen=True)
class BeirRun:
    """Metrics of one run and the ranked documents per query."""

    metrics: dict[str, float]
    run: dict[str, list[tuple[str, float]]]
    qrels: dict[str, dict[str, int]]


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file, naming the line of a bad one."""
    if not path.is_file():
        raise BeirError(f"missing {path}")
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise BeirError(f"{path}:{number}: {error}") from error
    return records


def load_documents(dataset: Path) -> list[Document]:
    """corpus.jsonl as Documents: the title, when there is one, as the first paragraph."""
    documents = []
    for record in read_jsonl(dataset / "corpus.jsonl"):
        title, body = (record.get("title") or "").strip(), record.get("text") or ""
        text = f"{title}\n\n{body}" if title else body
        if text.strip():
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            documents.append(Document(doc_id=str(record["_id"]), text=text, title=title or str(record["_id"]), sha256=digest))
    return documents


def load_queries(dataset: Path) -> dict[str, str]:
    """Query id to text; nothing else is read, since `metadata` holds the answers."""
    return {str(record["_id"]): record["text"] for record in read_jsonl(dataset / "queries.jsonl")}


def load_qrels(dataset: Path, split: str) -> dict[str, dict[str, int]]:
    """qrels/<split>.tsv as query id -> {doc id: grade}, header and CRLF tolerated."""
    path = dataset / "qrels" / f"{split}.tsv"
    if not path.is_file():
        raise BeirError(f"missing {path}")
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = re.split(r"\t", line.strip())
        if len(fields) < 3 or not fields[2].lstrip("-").isdigit():
            continue  # the header, or a blank line
        qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    return qrels


def index_path(key: str, encoder: Encoder, settings: BuildSettings, cache: Path) -> Path:
    """Where the index of key's documents for this model and chunking is kept under cache."""
    # torch indexes keep their pre-backend names, so existing caches stay valid (Encoder.cache_identity).
    model_slug = re.sub(r"[^A-Za-z0-9.-]+", "_", encoder.cache_identity)
    return cache / f"{key}-{model_slug}-{settings.chunk_tokens}-{settings.overlap_tokens}-f{FORMAT_VERSION}"


def built_once(
    key: str, documents: Callable[[], list[Document]], encoder: Encoder, settings: BuildSettings, cache: Path, progress: bool, ray: str | None = None
) -> tuple[Path, BuildReport | None]:
    """An index of the documents under cache, named by key, model and chunking; built only when missing,
    on the Ray cluster at `ray` when given."""
    out = index_path(key, encoder, settings, cache)
    try:
        read_manifest(out)
        return out, None
    except IndexStoreError:
        pass
    if ray:
        from indexer.cluster.ray_build import RayOptions, ray_build_from_documents

        # No vector cache: every vector of this index comes from the cluster's encoders.
        return out, ray_build_from_documents(documents(), out, encoder, RayOptions(ray), settings, progress=progress)
    # Vectors are cached by text, so another chunk size re-embeds only the chunks that changed.
    cached = CachedEncoder(encoder, cache / "embeddings")
    return out, build_from_documents(documents(), out, cached, settings, progress=progress)


def corpus_key(dataset: Path, ray: str | None = None) -> str:
    """The cache name of a dataset's corpus; Ray-built indexes are kept apart from local ones."""
    corpus_hash = hashlib.sha256((dataset / "corpus.jsonl").read_bytes()).hexdigest()[:16]
    return f"{corpus_hash}-ray" if ray else corpus_hash


def cached_index(dataset: Path, encoder: Encoder, settings: BuildSettings, cache: Path, progress: bool, ray: str | None = None) -> Path:
    """The dataset's retrieval index for this model and chunking, built once (locally or on Ray) and reused."""
    out, report = built_once(corpus_key(dataset, ray), lambda: load_documents(dataset), encoder, settings, cache, progress, ray)
    if progress and report is not None:
        print(f"indexed {report.documents} documents as {report.chunks} chunks in {report.seconds:.0f} s ({report.chunks_per_second:.0f} chunks/s)")
    return out


def rank_documents(retriever: Retriever, query: str, settings: RetrievalSettings, depth: int = DOCUMENT_DEPTH) -> list[tuple[str, float]]:
    """Documents ordered by their best chunk's fused score, retrieved as the service retrieves (names select documents)."""
    text, vector, settings = retriever.scoped_query(query, settings)
    best: dict[str, float] = {}
    for passage in retriever.passages(text, vector, CHUNK_DEPTH, settings):
        if passage.score > best.get(passage.doc_id, float("-inf")):
            best[passage.doc_id] = passage.score
    return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:depth]


def score_run(run: dict[str, list[tuple[str, float]]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@10 and Recall@100 averaged over the judged queries."""
    per_query = {"ndcg@10": [], "mrr@10": [], "recall@10": [], "recall@100": []}
    for query_id, relevance in qrels.items():
        ranked = [doc_id for doc_id, _ in run.get(query_id, [])]
        ranking, relevant = as_ranking(ranked, relevance), sum(1 for grade in relevance.values() if grade > 0)
        per_query["ndcg@10"].append(ndcg_at_k(ranked, relevance, 10))
        per_query["mrr@10"].append(reciprocal_rank_at_k(ranking, 10))
        per_query["recall@10"].append(recall_at_k(ranking, relevant, 10) if relevant else 0.0)
        per_query["recall@100"].append(recall_at_k(ranking, relevant, 100) if relevant else 0.0)
    return {name: mean(values) for name, values in per_query.items()} | {"queries": len(qrels)}


def run_beir(
    dataset: Path,
    split: str,
    encoder: Encoder,
    build: BuildSettings,
    retrieval: RetrievalSettings,
    cache: Path = DEFAULT_CACHE,
    progress: bool = False,
    ray: str | None = None,
) -> BeirRun:
    """Index the corpus (or reuse the cache; on the Ray cluster at `ray` when given), retrieve for every
    judged query and score the run."""
    qrels = load_qrels(dataset, split)
    queries = load_queries(dataset)
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise BeirError(f"{len(missing)} judged queries are missing from queries.jsonl, e.g. {missing[0]}")
    index = open_index(cached_index(dataset, encoder, build, cache, progress, ray), encoder.model_name, encoder.dimension, encoder.backend)
    retriever = Retriever(index, encoder)
    run = {qid: rank_documents(retriever, queries[qid], retrieval) for qid in tqdm(qrels, desc=f"{split} queries", disable=not progress)}
    return BeirRun(score_run(run, qrels), run, qrels)
