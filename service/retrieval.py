"""Dense, lexical and hybrid retrieval over a built index: question in, scored passages out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from indexer.embedding import Encoder, load_encoder
from indexer.store import Index, open_index
from service.errors import InvalidRequest
from service.fusion import convex_fusion, ranked, reciprocal_rank_fusion
from service.query import retrieval_text
from service.types import Passage

MAX_QUESTION_CHARS = 2000
MAX_K = 50
Mode = Literal["dense", "lexical", "hybrid"]
Fusion = Literal["convex", "rrf"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
FUSIONS: tuple[str, ...] = ("convex", "rrf")


@dataclass(frozen=True)
class RetrievalSettings:
    """Which retrievers run and how their rankings are fused."""

    mode: Mode = "hybrid"
    fusion: Fusion = "convex"
    # Weight of the dense side in convex fusion; see README "Retrieval defaults".
    dense_weight: float = 0.5
    rrf_k: int = 60
    # Candidates each retriever contributes before fusion.
    depth: int = 100

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidRequest("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise InvalidRequest("fusion", f"must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise InvalidRequest("dense_weight", f"must be in [0, 1], got {self.dense_weight}")


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


def fuse(dense: dict[int, float], lexical: dict[int, float], settings: RetrievalSettings) -> dict[int, float]:
    """One score per item from the two retrievers' scores, as the settings say."""
    if settings.mode == "dense":
        return dense
    if settings.mode == "lexical":
        return {item: score for item, score in lexical.items() if score > 0}
    if settings.fusion == "rrf":
        positive_lexical = {item: score for item, score in lexical.items() if score > 0}
        return reciprocal_rank_fusion([[i for i, _ in ranked(dense, len(dense))], [i for i, _ in ranked(positive_lexical, len(lexical))]], settings.rrf_k)
    return convex_fusion(dense, lexical, settings.dense_weight)


class Retriever:
    """An encoder and an index opened together, checked to be compatible."""

    def __init__(self, index: Index, encoder: Encoder) -> None:
        self.index = index
        self.encoder = encoder

    @classmethod
    def open(cls, index_dir: Path, model: str) -> Retriever:
        """Load the model, then the index built with it."""
        encoder = load_encoder(model)
        return cls(open_index(index_dir, encoder.model_name, encoder.dimension), encoder)

    def query(self, question: str) -> tuple[str, np.ndarray]:
        """A validated question's retrieval text and its (1, dimension) unit vector."""
        text = retrieval_text(check_question(question))
        return text, self.encoder.encode([text])

    def candidate_scores(self, question: str, query_vector: np.ndarray, settings: RetrievalSettings) -> tuple[dict[int, float], dict[int, float]]:
        """Dense and lexical scores of the union of both retrievers' top candidates."""
        depth = min(settings.depth, len(self.index.chunks))
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if settings.mode != "lexical":
            scores, ids = self.index.search(query_vector, depth)
            dense = {int(i): float(s) for s, i in zip(scores[0], ids[0]) if i >= 0}
        if settings.mode != "dense":
            all_lexical = self.index.chunk_lexical.scores(question)
            top = np.argsort(-all_lexical, kind="stable")[:depth]
            lexical = {int(i): float(all_lexical[i]) for i in top}
            # Score every candidate on both sides so fusion never guesses a missing score.
            lexical.update({i: float(all_lexical[i]) for i in dense})
            missing = [i for i in lexical if i not in dense]
            if settings.mode == "hybrid" and missing:
                dense.update(zip(missing, (self.index.chunk_vectors(missing) @ query_vector[0]).tolist()))
        return dense, lexical

    def passages(self, question: str, query_vector: np.ndarray, k: int, settings: RetrievalSettings = RetrievalSettings()) -> list[Passage]:
        """The k best chunks for the question, best first."""
        dense, lexical = self.candidate_scores(question, query_vector, settings)
        return [self.passage(chunk_id, score) for chunk_id, score in ranked(fuse(dense, lexical, settings), k)]

    def passage(self, chunk_id: int, score: float) -> Passage:
        """A stored chunk as a Passage with its document title."""
        chunk = self.index.chunks[chunk_id]
        title = self.index.documents[chunk.doc_id].title
        return Passage(chunk.chunk_id, chunk.doc_id, title, chunk.text, chunk.start, chunk.end, round(score, 6))

    def search(self, question: str, k: int = 5, settings: RetrievalSettings = RetrievalSettings()) -> list[Passage]:
        """Validated question in, the k best passages out."""
        text, vector = self.query(question)
        return self.passages(text, vector, check_k(k), settings)
