"""The best any fusion weighting of today's features could score on an eval set, fit on the set itself.

An upper bound, not a result: when even weights chosen on the questions being scored cannot reach a
target, no re-weighting of these features will, and the gap is in the features (the model) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eval.quality.dataset import EvalQuestion, gold_spans, matched_answers
from eval.quality.tune import FEATURES, normalise, weight_grid
from service.core.fusion import convex_fusion, ranked
from service.core.retrieval import RetrievalSettings, Retriever


@dataclass(frozen=True)
class QuestionCandidates:
    """One answerable question's candidate chunks and their sentences, with features and gold marks."""

    chunk_features: np.ndarray  # (chunks, FEATURES), each column min-max normalised
    chunk_gold: np.ndarray  # (chunks,) bool
    chunk_sentences: list[list[int]]  # positions into the sentence arrays, per chunk
    sentence_dense: np.ndarray
    sentence_lexical: np.ndarray
    sentence_gold: np.ndarray
    sentence_quotable: np.ndarray  # headings, titles and bylines are never quoted


@dataclass(frozen=True)
class Ceiling:
    """The best hit@3 and answer accuracy@1 over the grid, and the weights that reach them."""

    hit_at_3: float
    hit_weights: dict[str, float]
    answer_accuracy: float
    answer_weights: dict[str, float]
    sentence_dense_share: float
    questions: int


def question_candidates(retriever: Retriever, question: EvalQuestion, settings: RetrievalSettings) -> QuestionCandidates:
    """Every candidate chunk the retriever proposes for the question, scored by every feature."""
    index = retriever.index
    gold = gold_spans(question, index.documents)
    text, vector = retriever.query(question.question)
    scores = retriever.query_scores(text, vector, settings)
    chunk_ids = sorted(retriever.candidates(vector, scores, settings))
    features = retriever.feature_scores(text, chunk_ids, vector, scores, settings)
    sentence_ids = sorted({int(s) for c in chunk_ids for s in index.records.chunk_sentences(c)})
    position = {sid: i for i, sid in enumerate(sentence_ids)}
    sentences = [index.sentences[sid] for sid in sentence_ids]
    return QuestionCandidates(
        chunk_features=np.column_stack([normalise(np.array([features[name][c] for c in chunk_ids])) for name in FEATURES]),
        chunk_gold=np.array([bool(matched_answers(index.chunks[c].doc_id, index.chunks[c].start, index.chunks[c].end, gold)) for c in chunk_ids]),
        chunk_sentences=[[position[int(s)] for s in index.records.chunk_sentences(c)] for c in chunk_ids],
        sentence_dense=np.asarray(scores.sentence_dense[sentence_ids], dtype=np.float64),
        sentence_lexical=np.asarray(index.sentence_lexical.scores_for(text, np.array(sentence_ids)), dtype=np.float64),
        sentence_gold=np.array([bool(matched_answers(s.doc_id, s.start, s.end, gold)) for s in sentences]),
        sentence_quotable=np.array([not index.records.is_unquotable(s.doc_id, s.start, s.end) for s in sentences]),
    )


def chunk_order(candidates: QuestionCandidates, weights: np.ndarray) -> np.ndarray:
    """Candidate chunks best first under the weights, ties to the earlier chunk as the service does."""
    fused = candidates.chunk_features @ weights
    return np.lexsort((np.arange(len(fused)), -fused))


def first_sentence_correct(candidates: QuestionCandidates, order: np.ndarray, k: int, dense_share: float) -> bool:
    """Whether the best quotable sentence of the top k chunks matches, sentences fused by the service's own fusion."""
    positions = list(dict.fromkeys(s for c in order[:k] for s in candidates.chunk_sentences[c]))
    features = {
        "dense": dict(zip(positions, candidates.sentence_dense[positions].tolist())),
        "lexical": dict(zip(positions, candidates.sentence_lexical[positions].tolist())),
    }
    fused = convex_fusion(features, {"dense": dense_share, "lexical": 1 - dense_share})
    quotable = [position for position, _ in ranked(fused, len(fused)) if candidates.sentence_quotable[position]]
    return bool(quotable) and bool(candidates.sentence_gold[quotable[0]])


def ceiling(questions: list[QuestionCandidates], step: float = 0.1, k: int = 5) -> Ceiling:
    """Best hit@3 and answer accuracy@1 over every chunk weighting and sentence dense share on the grid."""
    if not questions:
        raise ValueError("the ceiling needs at least one answerable question")
    grid, shares = weight_grid(step), np.linspace(0, 1, round(1 / step) + 1)
    best_hit, best_answer = (-1.0, 0), (-1.0, 0, 0.0)
    for column in range(grid.shape[1]):
        orders = [chunk_order(q, grid[:, column]) for q in questions]
        hit = float(np.mean([q.chunk_gold[order[:3]].any() for q, order in zip(questions, orders)]))
        best_hit = max(best_hit, (hit, column), key=lambda pair: pair[0])
        for share in shares:
            accuracy = float(np.mean([first_sentence_correct(q, order, k, share) for q, order in zip(questions, orders)]))
            if accuracy > best_answer[0]:
                best_answer = (accuracy, column, float(share))
    return Ceiling(best_hit[0], named(grid[:, best_hit[1]]), best_answer[0], named(grid[:, best_answer[1]]), round(best_answer[2], 3), len(questions))


def named(weights: np.ndarray) -> dict[str, float]:
    """A weight vector as {feature: weight}."""
    return {name: round(float(w), 3) for name, w in zip(FEATURES, weights)}
