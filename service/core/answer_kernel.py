"""The answer step's compiled kernels (service/core/_answer_kernel.c), when the install could build them: the
candidate sentences, their BM25 and feature matrix, the chunk fusion and each chunk's best sentence.

Each function returns exactly what its NumPy counterpart returns (tests/test_kernels.py compares them on
real candidates), or None when the extension is missing or the input is beyond it, and the caller then
runs the NumPy code.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from indexer.storage.lexical import BM25_SETTINGS, LexicalIndex
from indexer.storage.sentence_table import SentenceTable

if TYPE_CHECKING:
    from service.core.candidate_sentences import Candidates, Question

try:
    from service.core import _answer_kernel
except ImportError:  # built without a C compiler: the NumPy code answers alike, more slowly
    _answer_kernel = None

# Question terms are held as bits of one 64-bit word per sentence.
MOST_TERMS = 64
# The candidates' float32 scores the kernel reads, in its order (attributes of candidate_sentences.Candidates).
SCORES = ("dense", "dense_prev", "dense_next", "lexical", "passage_score", "passage_rank", "chunk_dense", "chunk_lexical", "document_lexical")


def compiled() -> bool:
    """Whether the compiled kernel is in use."""
    return _answer_kernel is not None


def int64s(values: np.ndarray | list[int]) -> np.ndarray:
    """A C-contiguous int64 array (a no-op for one already)."""
    return np.ascontiguousarray(values, dtype=np.int64)


def candidate_bm25(lexical: LexicalIndex, table: SentenceTable, sentence_ids: np.ndarray, terms: list[str]) -> np.ndarray | None:
    """sentence_terms.bm25_scores of the sentences for the query terms the vocabulary knows (in query order)."""
    if _answer_kernel is None or lexical.average_length is None or not lexical.average_length > 0:
        return None
    vocabulary = lexical.bm25.vocab_dict
    out = np.empty(len(sentence_ids), dtype=np.float32)
    ids, idfs = int64s([vocabulary[term] for term in terms]), np.array([lexical.idf(term) for term in terms], dtype=np.float64)
    k1, b = BM25_SETTINGS["k1"], BM25_SETTINGS["b"]
    offsets, term_ids = np.ascontiguousarray(table.term_offsets), np.ascontiguousarray(table.term_ids)
    _answer_kernel.candidate_bm25(offsets, term_ids, int64s(sentence_ids), ids, idfs, out, k1, b, lexical.average_length)
    return out


def candidate_matrix(candidates: Candidates, question: Question, lexical: LexicalIndex, features: tuple[str, ...]) -> np.ndarray | None:
    """sentence_features.feature_matrix of the candidates, or None (no kernel, other features, too many terms, a NaN score)."""
    # The kernel writes its columns in its own order (its FEATURES); any other order is left to NumPy.
    if _answer_kernel is None or features != _answer_kernel.FEATURES or len(question.term_ids) > MOST_TERMS:
        return None
    table, count = candidates.table, len(candidates.sentence_ids)
    wanted = set(pairwise(question.terms))
    vocabulary = lexical.bm25.vocab_dict
    pairs = int64s([vocabulary[term] for pair in wanted for term in pair if pair[0] in vocabulary and pair[1] in vocabulary])
    scores = [getattr(candidates, name) for name in SCORES]
    if any(values.dtype != np.float32 for values in scores):
        return None
    matrix = np.empty((count, len(features)), dtype=np.float32)
    arrays = (table.term_offsets, table.term_ids, table.name_offsets, table.name_ids, table.distinct_terms, table.flags)
    rows = np.concatenate([candidates.ids, candidates.previous, candidates.following])
    filled = _answer_kernel.candidate_matrix(
        *map(np.ascontiguousarray, arrays), int64s(rows), int64s(candidates.documents), int64s(question.term_ids),
        question.weight_values, pairs, int64s(question.named), *map(np.ascontiguousarray, scores), matrix,
        float(sum(question.weights.values())), float(len(wanted)), *map(float, candidates.background), float(question.kind),
    )
    return matrix if filled else None


def candidate_sentences(chunk_spans: np.ndarray, sentence_spans: np.ndarray, chunk_ids: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """candidates.first_holders and neighbours: the ranked chunks' sentences once each, the row of the first chunk
    holding each, their previous and next sentences (-1: none) and their documents' positions."""
    if _answer_kernel is None:
        return None
    packed = _answer_kernel.candidate_sentences(np.ascontiguousarray(chunk_spans), np.ascontiguousarray(sentence_spans), int64s(chunk_ids))
    return tuple(np.frombuffer(packed, dtype=np.int64).reshape(5, -1))


def convex_fusion_columns(columns: list[np.ndarray], coefficients: list[float]) -> np.ndarray | None:
    """fusion.convex_fusion_arrays of float32 columns with their weight / total coefficients, or None."""
    if _answer_kernel is None or not columns or any(column.dtype != np.float32 for column in columns):
        return None
    out = np.empty(len(columns[0]), dtype=np.float64)
    _answer_kernel.convex_fusion(tuple(np.ascontiguousarray(column) for column in columns), tuple(map(float, coefficients)), out)
    return out


def best_in_spans(similarity: np.ndarray, chunk_spans: np.ndarray, chunk_ids: np.ndarray) -> np.ndarray | None:
    """retrieval.best_sentence_scores from every sentence's float32 similarity, or None."""
    if _answer_kernel is None or similarity.dtype != np.float32:
        return None
    out = np.empty(len(chunk_ids), dtype=np.float32)
    _answer_kernel.best_in_spans(np.ascontiguousarray(similarity), np.ascontiguousarray(chunk_spans), int64s(chunk_ids), out)
    return out
