"""Dense, lexical and hybrid retrieval over a built index: question in, scored passages out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np

from indexer.encoding.embedding import DEFAULT_BACKEND, Encoder, load_encoder
from indexer.storage.publish import version_dir
from indexer.storage.store import Index, open_index
from service.core.answer_kernel import best_in_spans
from service.core.errors import InvalidRequest
from service.core.filters import Filters, Restriction, restriction
from service.core.fusion import convex_fusion_arrays, fuse_scores, ranked
from service.core.named_documents import DocumentNames, without_words
from service.core.query import retrieval_text
from service.core.sentence_terms import row_values
from service.core.types import Passage

MAX_QUESTION_CHARS = 2000
MAX_K = 50
Mode = Literal["dense", "lexical", "hybrid"]
Fusion = Literal["convex", "rrf"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
FUSIONS: tuple[str, ...] = ("convex", "rrf")
DENSE_FEATURES = ("chunk_dense", "sentence_dense")
LEXICAL_FEATURES = ("chunk_lexical", "document_lexical")
# Up to this many sentences, every question is compared with every sentence vector (about 2 ms per
# 50,000 here) and the nearest sentences propose chunks of their own. Beyond it the scan would cost
# more than the rest of an answer and, memory-mapped, pull the whole matrix into memory, so only the
# sentences of the chunks the other retrievers propose are scored (eval/reports/scale.md).
SENTENCE_SCAN_MAX = 250_000
# Sentences whose cosine to a question tells how close "close" is for that question: a one-word
# topic sits far from every sentence, a full question near many (about 0.4 ms per question).
BACKGROUND_SENTENCES = 1024
# A filter matching up to this many chunks is searched exactly (about 1 ms per 20,000 chunks).
EXACT_FILTERED_MAX = 20_000
# Chunks whose passage fields (document, title, text, pages, headings) are kept assembled.
PASSAGE_CACHE = 4096


def default_weights() -> dict[str, float]:
    """Convex fusion weights, chosen on the SciFact train split (eval/reports/scifact.md)."""
    return {"chunk_dense": 0.2, "sentence_dense": 0.5, "chunk_lexical": 0.1, "document_lexical": 0.2}


@dataclass(frozen=True)
class RetrievalSettings:
    """Which retrievers run and how their scores are fused."""

    mode: Mode = "hybrid"
    fusion: Fusion = "convex"
    weights: dict[str, float] = field(default_factory=default_weights)
    rrf_k: int = 60
    # Candidates each retriever contributes before fusion.
    depth: int = 100
    sentence_scan_max: int = SENTENCE_SCAN_MAX
    # Only documents matching these are searched (None: all).
    filters: Filters | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidRequest("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise InvalidRequest("fusion", f"must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if set(self.weights) != set(DENSE_FEATURES + LEXICAL_FEATURES) or min(self.weights.values()) < 0:
            raise InvalidRequest("weights", f"must give a non-negative weight to each of {', '.join(DENSE_FEATURES + LEXICAL_FEATURES)}")

    @property
    def dense_share(self) -> float:
        """The weight of the dense features against the lexical ones."""
        return sum(self.weights[name] for name in DENSE_FEATURES) / sum(self.weights.values())


def check_question(question: str, field: str = "question") -> str:
    """The question stripped of outer whitespace, or InvalidRequest saying what is wrong."""
    if not isinstance(question, str):
        raise InvalidRequest(field, "must be a string")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidRequest(field, "must be valid Unicode text (found an unpaired surrogate)") from error
    stripped = question.strip()
    if not stripped:
        raise InvalidRequest(field, "must not be empty or only whitespace")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidRequest(field, f"must be at most {MAX_QUESTION_CHARS} characters, got {len(question)}")
    return stripped


def check_k(k: int, field: str = "k") -> int:
    """k itself when it is an integer in 1..MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidRequest(field, f"must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


def top_ids(scores: np.ndarray, depth: int) -> np.ndarray:
    """Positions of the depth highest scores (unordered)."""
    depth = min(depth, len(scores))
    return np.argpartition(-scores, depth - 1)[:depth] if depth else np.array([], dtype=np.int64)


class SentenceSimilarity:
    """Cosine of one question to stored sentence vectors: all at once for small indexes, by id beyond."""

    def __init__(self, index: Index, vector: np.ndarray, scan: bool, allowed: np.ndarray | None = None) -> None:
        self.rows = index.sentence_rows
        self.vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.all = np.asarray(index.sentence_vectors) @ self.vector if scan else None
        # Sentences outside the filters never propose a chunk.
        self.allowed = allowed

    def __getitem__(self, ids: int | list[int] | np.ndarray) -> np.ndarray:
        """Similarities of the given sentence ids (a scalar array for one id)."""
        if self.all is not None:
            return self.all[ids]
        wanted = np.asarray(ids, dtype=np.int64)
        return (self.rows[wanted.reshape(-1)].astype(np.float32) @ self.vector).reshape(wanted.shape)

    def nearest(self, depth: int) -> np.ndarray:
        """Ids of the depth most similar sentences, or none when the index is too large to scan."""
        if self.all is None:
            return np.array([], dtype=np.int64)
        return top_ids(self.all if self.allowed is None else np.where(self.allowed, self.all, -np.inf), depth)


@dataclass(frozen=True)
class QueryScores:
    """Per-query scores computed once and shared by the retrieval and answer steps."""

    sentence_dense: SentenceSimilarity
    chunk_lexical: np.ndarray | None
    allowed: Restriction | None = None


class Retriever:
    """An encoder and an index opened together, checked to be compatible."""

    def __init__(self, index: Index, encoder: Encoder, encode_question: Callable[[str], np.ndarray] | None = None) -> None:
        self.index = index
        self.encoder = encoder
        # The service passes a micro-batcher here; eval and tests encode directly.
        self.encode_question = encode_question or (lambda text: encoder.encode([text]))
        self.background = background_sample(index)
        # Every document's names (short metadata values), read once here rather than by the first question.
        self.document_names = DocumentNames.of_records(index.records.query("SELECT position, metadata FROM documents"))
        # The chunks answers keep showing, assembled once (a third of a passage's cost is its score's).
        self.chunk_context = lru_cache(maxsize=PASSAGE_CACHE)(self._chunk_context)

    def background_similarity(self, vector: np.ndarray) -> tuple[float, float]:
        """Mean and spread of the question's cosine to sentences at large, the yardstick its best match is read against."""
        if not len(self.background):
            return 0.0, 1.0
        mean, spread = mean_and_spread(self.background @ vector[0])
        return mean, max(spread, 1e-3)

    @classmethod
    def open(cls, index_dir: Path, model: str, backend: str = DEFAULT_BACKEND, threads: int | None = None) -> Retriever:
        """Load the model, then the index built with it."""
        encoder = load_encoder(model, backend, threads)
        return cls(open_index(index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)

    def query(self, question: str) -> tuple[str, np.ndarray]:
        """A validated question's retrieval text and its (1, dimension) unit vector."""
        text = retrieval_text(check_question(question))
        return text, self.encode_question(text)

    def scoped_query(self, question: str, settings: RetrievalSettings) -> tuple[str, np.ndarray, RetrievalSettings]:
        """query() within the reports the question names, as a doc_ids filter inside the reader's own filters:
        the vector of the whole question (within its reports its names still steer the encoder better than a
        question without them), the text to match terms with less the names. Unchanged when it names none,
        or when the reader's filters leave none of the named reports."""
        text, vector = self.query(question)
        named = self.document_names.named(question)
        if named is None:
            return text, vector, settings
        filters = settings.filters
        doc_ids = [self.index.records.doc_id(position) for position in named.positions]
        if filters is None:
            return without_words(text, named.words), vector, replace(settings, filters=Filters(doc_ids=doc_ids))
        scoped = msgspec.structs.replace(filters, doc_ids=[doc_id for doc_id in doc_ids if filters.doc_ids is None or doc_id in filters.doc_ids])
        # Only a reader's own filters can leave none of the named reports; then their filters alone apply.
        if not scoped.doc_ids or restriction(self.index, scoped).empty:
            return text, vector, settings
        return without_words(text, named.words), vector, replace(settings, filters=scoped)

    def query_scores(self, text: str, vector: np.ndarray, settings: RetrievalSettings) -> QueryScores:
        """Sentence similarities and, unless dense-only, chunk and document BM25 scores."""
        scan = len(self.index.sentences) <= settings.sentence_scan_max
        allowed = restriction(self.index, settings.filters)
        lexical = self.index.chunk_lexical.scores(text) if settings.mode != "dense" else None
        if lexical is not None and allowed is not None:
            lexical = np.where(allowed.chunk_mask, lexical, 0).astype(np.float32)
        return QueryScores(
            SentenceSimilarity(self.index, vector, scan, None if allowed is None else allowed.sentence_mask), lexical, allowed
        )

    def nearest_chunks(self, vector: np.ndarray, depth: int, allowed: Restriction | None) -> list[int]:
        """The depth chunks nearest the query vector, among the allowed ones: exactly for a small
        allowed set (an HNSW walk can miss members of a narrow filter), by a filtered search beyond."""
        if allowed is None:
            _, ids = self.index.search(vector, min(depth, len(self.index.chunks)))
        elif len(allowed.chunk_ids) <= EXACT_FILTERED_MAX:
            similarities = self.index.chunk_vectors(allowed.chunk_ids) @ vector[0]
            return allowed.chunk_ids[top_ids(similarities, depth)].tolist()
        else:
            _, ids = self.index.search(vector, min(depth, len(allowed.chunk_ids)), allowed.chunk_ids)
        return ids[0][ids[0] >= 0].tolist()

    def candidates(self, vector: np.ndarray, scores: QueryScores, settings: RetrievalSettings) -> set[int]:
        """Chunks proposed by each active retriever: nearest chunks, nearest sentences, best BM25."""
        found: set[int] = set()
        allowed = scores.allowed
        if allowed is not None and allowed.empty:
            return found
        if settings.mode != "lexical":
            found.update(self.nearest_chunks(vector, settings.depth, allowed))
            records = self.index.records
            found.update(row_values(records.sentence_chunk_offsets, records.sentence_chunk_ids, scores.sentence_dense.nearest(settings.depth)).tolist())
        if scores.chunk_lexical is not None:
            best = top_ids(scores.chunk_lexical, settings.depth)
            found.update(best[scores.chunk_lexical[best] > 0].tolist())
        # With few allowed sentences, the nearest ones run out and excluded ones fill the depth.
        return found if allowed is None else {i for i in found if allowed.chunk_mask[i]}

    def best_sentence_scores(self, chunk_ids: list[int], similarity: SentenceSimilarity) -> np.ndarray:
        """Each chunk's best sentence similarity, the chunks' sentences gathered in one read (compiled when built)."""
        if similarity.all is not None:
            found = best_in_spans(similarity.all, self.index.records.chunk_spans, np.asarray(chunk_ids))
            if found is not None:
                return found
        spans = self.index.records.chunk_spans[chunk_ids]
        firsts, counts = spans[:, 4], np.maximum(spans[:, 5], 1)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sentence_ids = np.repeat(firsts - offsets, counts) + np.arange(int(counts.sum()))
        return np.maximum.reduceat(similarity[sentence_ids], offsets)

    def feature_arrays(self, text: str, chunk_ids: list[int], vector: np.ndarray, scores: QueryScores, settings: RetrievalSettings) -> dict[str, np.ndarray]:
        """Every active feature's score for every candidate chunk, in chunk_ids' order."""
        features: dict[str, np.ndarray] = {}
        if settings.mode != "lexical":
            features["chunk_dense"] = self.index.chunk_vectors(chunk_ids) @ vector[0]
            features["sentence_dense"] = self.best_sentence_scores(chunk_ids, scores.sentence_dense)
        if scores.chunk_lexical is not None:
            features["chunk_lexical"] = scores.chunk_lexical[chunk_ids]
            positions = np.asarray(self.index.records.chunk_spans[chunk_ids, 0])
            features["document_lexical"] = self.index.document_lexical.scores_for(text, positions)
        return features

    def feature_scores(self, text: str, chunk_ids: list[int], vector: np.ndarray, scores: QueryScores, settings: RetrievalSettings) -> dict[str, dict[int, float]]:
        """Every active feature's score for every candidate chunk, by chunk id."""
        return {name: dict(zip(chunk_ids, values.tolist())) for name, values in self.feature_arrays(text, chunk_ids, vector, scores, settings).items()}

    def ranked_chunks(
        self, text: str, vector: np.ndarray, k: int, settings: RetrievalSettings, scores: QueryScores
    ) -> tuple[list[tuple[int, float]], dict[str, dict[int, float]]]:
        """The k best (chunk id, fused score) pairs, best first, and every candidate's feature scores."""
        chunk_ids = sorted(self.candidates(vector, scores, settings))
        if not chunk_ids:
            return [], {}
        arrays = self.feature_arrays(text, chunk_ids, vector, scores, settings)
        features = {name: dict(zip(chunk_ids, values.tolist())) for name, values in arrays.items()}
        if settings.fusion != "convex":
            return ranked(fuse_scores(features, settings.weights, settings.fusion, settings.rrf_k), k), features
        fused = convex_fusion_arrays(arrays, settings.weights)
        order = np.lexsort((np.asarray(chunk_ids), -fused))[:k]
        return [(chunk_ids[row], float(fused[row])) for row in order.tolist()], features

    def passages(self, text: str, vector: np.ndarray, k: int, settings: RetrievalSettings = RetrievalSettings(), scores: QueryScores | None = None) -> list[Passage]:
        """The k best chunks for the query, best first."""
        scores = scores or self.query_scores(text, vector, settings)
        chunks, _ = self.ranked_chunks(text, vector, k, settings, scores)
        return [self.passage(chunk_id, score) for chunk_id, score in chunks]

    def passage(self, chunk_id: int, score: float) -> Passage:
        """A stored chunk as a Passage with its document title."""
        doc_id, title, text, start, end, pages, section = self.chunk_context(chunk_id)
        return Passage(chunk_id, doc_id, title, text, start, end, round(score, 6), list(pages), list(section))

    def _chunk_context(self, chunk_id: int) -> tuple[str, str, str, int, int, tuple[int, ...], tuple[str, ...]]:
        """What a Passage shows of a chunk besides its score: document, title, text, offsets, pages and headings."""
        chunk = self.index.chunks[chunk_id]
        records = self.index.records
        pages, section = records.context(chunk.doc_id, chunk.start, chunk.end)
        return chunk.doc_id, records.title(chunk.doc_id), chunk.text, chunk.start, chunk.end, tuple(pages), tuple(section)

    def search(self, question: str, k: int = 5, settings: RetrievalSettings = RetrievalSettings()) -> list[Passage]:
        """Validated question in, the k best passages out."""
        text, vector, settings = self.scoped_query(question, settings)
        return self.passages(text, vector, check_k(k), settings)


def mean_and_spread(values: np.ndarray) -> tuple[float, float]:
    """float(values.mean()) and float(values.std()) of a float32 array, by NumPy's own float32 steps (the sum
    over the count; the summed squared deviations over the count, square-rooted) without its wrappers, in half the time."""
    count = np.intp(len(values))
    mean = values.dtype.type(np.add.reduce(values) / count)
    deviations = values - mean
    variance = values.dtype.type(np.add.reduce(deviations * deviations) / count)
    return float(mean), float(np.sqrt(variance))


def background_sample(index: Index, size: int = BACKGROUND_SENTENCES) -> np.ndarray:
    """Vectors of up to `size` sentences spread evenly over the index (all of a small one)."""
    count = len(index.sentences)
    ids = np.unique(np.linspace(0, count - 1, min(size, count)).astype(np.int64)) if count else np.zeros(0, dtype=np.int64)
    return np.asarray(index.sentence_rows[ids], dtype=np.float32)


def reopened(retriever: Retriever, root: Path) -> Retriever | None:
    """A retriever over the version now published under root, sharing the encoder; None if unchanged."""
    if version_dir(root) == retriever.index.path:
        return None
    encoder = retriever.encoder
    index = open_index(root, encoder.model_name, encoder.dimension, encoder.backend)
    return Retriever(index, encoder, retriever.encode_question)
