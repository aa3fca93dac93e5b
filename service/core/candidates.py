"""Candidate answer sentences: the sentences of the best retrieved chunks, with what retrieval knew of them."""

from __future__ import annotations

import numpy as np

from service.core.answer_kernel import candidate_bm25, candidate_sentences
from service.core.candidate_sentences import Candidates
from service.core.retrieval import QueryScores, Retriever
from service.core.sentence_terms import Terms, bm25_scores, known_terms


def neighbours(retriever: Retriever, sentence_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of each sentence's previous and next sentence in the same document (-1 where there is none)."""
    spans = retriever.index.records.sentence_spans
    count = len(spans)
    documents = np.asarray(spans[sentence_ids, 0])
    # Ids are valid, so only one side can leave the range (np.maximum and np.minimum: np.clip costs more).
    before = np.maximum(sentence_ids - 1, 0)
    after = np.minimum(sentence_ids + 1, count - 1)
    previous = np.where((sentence_ids > 0) & (np.asarray(spans[before, 0]) == documents), before, -1)
    following = np.where((sentence_ids < count - 1) & (np.asarray(spans[after, 0]) == documents), after, -1)
    return previous, following


def similarity_or_zero(scores: QueryScores, ids: np.ndarray) -> np.ndarray:
    """Question similarity of sentence ids, 0 where the id is -1."""
    safe = np.where(ids >= 0, ids, 0)
    return np.where(ids >= 0, scores.sentence_dense[safe], 0.0).astype(np.float32)


def complete_chunk_features(
    retriever: Retriever, text: str, vector: np.ndarray, chunk_ids: list[int], features: dict[str, dict[int, float]]
) -> dict[str, dict[int, float]]:
    """The chunk features a single-retriever mode did not compute, for the answer step's chunks only."""
    index, ids = retriever.index, np.array(chunk_ids, dtype=np.int64)
    # Shares are taken of the best of these chunks, whichever retrievers proposed them.
    found = {name: {chunk_id: scores[chunk_id] for chunk_id in chunk_ids if chunk_id in scores} for name, scores in features.items()}
    if "chunk_dense" not in found:
        found["chunk_dense"] = dict(zip(chunk_ids, (index.chunk_vectors(ids) @ vector[0]).tolist()))
    if "chunk_lexical" not in found:
        found["chunk_lexical"] = dict(zip(chunk_ids, index.chunk_lexical.scores_for(text, ids).tolist()))
    if "document_lexical" not in found:
        positions = np.asarray(index.records.chunk_spans[ids, 0])
        found["document_lexical"] = dict(zip(chunk_ids, index.document_lexical.scores_for(text, positions).tolist()))
    return found


def gather_candidates(
    retriever: Retriever, text: str, vector: np.ndarray, ranked_chunks: list[tuple[int, float]], chunk_features: dict[str, dict[int, float]], scores: QueryScores
) -> Candidates:
    """Every sentence of the ranked chunks once, with its best chunk's rank and scores."""
    records = retriever.index.records
    chunk_ids = np.array([chunk_id for chunk_id, _ in ranked_chunks], dtype=np.int64)
    chunk_features = complete_chunk_features(retriever, text, vector, chunk_ids.tolist(), chunk_features)
    sentence_ids, rows, previous, following, documents = chunk_sentences(retriever, chunk_ids)
    fused = np.array([score for _, score in ranked_chunks], dtype=np.float64)
    index = retriever.index
    return Candidates(
        sentence_ids=sentence_ids.tolist(),
        passage_score=fused[rows].astype(np.float32),
        passage_rank=(rows + 1).astype(np.float32),
        chunk_dense=chunk_column(chunk_features, "chunk_dense", chunk_ids, rows, share=False),
        chunk_lexical=chunk_column(chunk_features, "chunk_lexical", chunk_ids, rows),
        document_lexical=chunk_column(chunk_features, "document_lexical", chunk_ids, rows),
        documents=documents,
        dense=scores.sentence_dense[sentence_ids].astype(np.float32),
        dense_prev=similarity_or_zero(scores, previous),
        dense_next=similarity_or_zero(scores, following),
        lexical=sentence_lexical(retriever, text, sentence_ids),
        previous=previous,
        following=following,
        table=index.sentence_table,
        read_text=lambda sentence_id: index.sentences[sentence_id].text,
        background=retriever.background_similarity(vector),
        records=records,
    )


def chunk_sentences(retriever: Retriever, chunk_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """The chunks' sentences once each (first_holders), the row of the first chunk holding each, their previous and
    next sentences (neighbours) and their documents' positions; compiled when the install built it."""
    records = retriever.index.records
    found = candidate_sentences(records.chunk_spans, records.sentence_spans, chunk_ids)
    if found is not None:
        return found
    sentence_ids, rows = first_holders(records.chunk_spans, chunk_ids)
    return sentence_ids, rows, *neighbours(retriever, sentence_ids), np.asarray(records.sentence_spans[sentence_ids, 0])


def first_holders(chunk_spans: np.ndarray, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every sentence of the chunks once, in order of first appearance, and the row (in chunk_ids) of the
    first, best ranked, chunk that holds it."""
    spans = np.asarray(chunk_spans[chunk_ids]).reshape(-1, 6)
    counts = spans[:, 5]
    rows = np.repeat(np.arange(len(chunk_ids)), counts)
    held = np.repeat(spans[:, 4], counts) + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    first = np.sort(np.unique(held, return_index=True)[1])
    return held[first], rows[first]


def chunk_column(features: dict[str, dict[int, float]], name: str, chunk_ids: np.ndarray, rows: np.ndarray, share: bool = True) -> np.ndarray:
    """One chunk feature for each sentence's chunk (chunk_ids[rows]), as a share of the best candidate chunk's when share."""
    scores = features.get(name, {})
    values = np.array([scores.get(chunk_id, 0.0) for chunk_id in chunk_ids.tolist()], dtype=np.float32)[rows]
    if not share:
        return values
    best = max(scores.values(), default=0.0)
    return values / best if best > 0 else np.zeros_like(values)


def sentence_lexical(retriever: Retriever, text: str, sentence_ids: np.ndarray) -> np.ndarray:
    """Sentence BM25 of the candidates, from their stored terms where the index allows (compiled when built)."""
    index, lexical = retriever.index, retriever.index.sentence_lexical
    found = candidate_bm25(lexical, index.sentence_table, sentence_ids, known_terms(lexical, text))
    if found is None:
        found = bm25_scores(lexical, text, Terms.of(index.sentence_table, sentence_ids))
    return (lexical.scores_for(text, sentence_ids) if found is None else found).astype(np.float32)
