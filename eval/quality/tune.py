"""Grid search of the hybrid fusion weights on a BEIR training split, through the real retriever."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from eval.quality.beir import DOCUMENT_DEPTH, score_run
from service.core.retrieval import DENSE_FEATURES, LEXICAL_FEATURES, RetrievalSettings, Retriever

FEATURES = DENSE_FEATURES + LEXICAL_FEATURES


@dataclass(frozen=True)
class QueryFeatures:
    """Min-max normalised feature scores of one query's candidate chunks, and their documents."""

    normalised: np.ndarray  # (candidates, features)
    doc_ids: list[str]


def weight_grid(step: float) -> np.ndarray:
    """Every weight vector over the features on a grid of the given step, summing to 1."""
    ticks = round(1 / step)
    points = [w for w in itertools.product(range(ticks + 1), repeat=len(FEATURES)) if sum(w) == ticks]
    return np.array(points, dtype=np.float64).T / ticks  # (features, grid points)


def normalise(column: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1], as service.core.fusion.min_max does; all equal gives 1."""
    low, high = column.min(), column.max()
    return (column - low) / (high - low) if high > low else np.ones_like(column)


def query_features(retriever: Retriever, query: str, settings: RetrievalSettings) -> QueryFeatures:
    """The retriever's own candidates and feature scores for one query."""
    text, vector = retriever.query(query)
    scores = retriever.query_scores(text, vector, settings)
    chunk_ids = sorted(retriever.candidates(vector, scores, settings))
    features = retriever.feature_scores(text, chunk_ids, vector, scores, settings)
    matrix = np.column_stack([normalise(np.array([features[name][i] for i in chunk_ids])) for name in FEATURES])
    return QueryFeatures(matrix, retriever.index.records.chunk_doc_ids(chunk_ids))


def ranked_documents(features: QueryFeatures, fused: np.ndarray) -> list[tuple[str, float]]:
    """Documents by their best chunk's fused score."""
    best: dict[str, float] = {}
    for doc_id, score in zip(features.doc_ids, fused.tolist()):
        if score > best.get(doc_id, float("-inf")):
            best[doc_id] = score
    return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:DOCUMENT_DEPTH]


def grid_search(
    retriever: Retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]], settings: RetrievalSettings, step: float = 0.1
) -> list[tuple[float, float, dict[str, float]]]:
    """(nDCG@10, Recall@100, weights) for every grid point, best first."""
    grid = weight_grid(step)
    per_query = {qid: query_features(retriever, queries[qid], settings) for qid in tqdm(qrels, desc="features")}
    results = []
    for column in range(grid.shape[1]):
        run = {qid: ranked_documents(f, f.normalised @ grid[:, column]) for qid, f in per_query.items()}
        metrics = score_run(run, qrels)
        weights = {name: round(float(w), 3) for name, w in zip(FEATURES, grid[:, column])}
        results.append((metrics["ndcg@10"], metrics["recall@100"], weights))
    return sorted(results, key=lambda row: (-row[0], -row[1]))
