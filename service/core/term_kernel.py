"""The compiled candidate term features (service/core/_term_kernel.c), when the install could build them.

Each function returns exactly what its NumPy counterpart returns (tests/test_term_kernel.py compares them on
real candidates), or None when the extension is missing or the input is beyond it, and the caller then
runs the NumPy code.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from indexer.lexical import BM25_SETTINGS, LexicalIndex
from indexer.sentence_table import SentenceTable

try:
    from service.core import _term_kernel
except ImportError:  # built without a C compiler: the NumPy code answers alike, a little slower
    _term_kernel = None

# Question terms are held as bits of one 64-bit word per sentence.
MOST_TERMS = 64


def compiled() -> bool:
    """Whether the compiled kernel is in use."""
    return _term_kernel is not None


def int64s(values: np.ndarray | list[int]) -> np.ndarray:
    """A C-contiguous int64 array (a no-op for one already)."""
    return np.ascontiguousarray(values, dtype=np.int64)


def candidate_bm25(lexical: LexicalIndex, table: SentenceTable, sentence_ids: np.ndarray, terms: list[str]) -> np.ndarray | None:
    """sentence_terms.bm25_scores of the sentences for the query terms the vocabulary knows (in query order)."""
    if _term_kernel is None or lexical.average_length is None or not lexical.average_length > 0:
        return None
    vocabulary = lexical.bm25.vocab_dict
    out = np.empty(len(sentence_ids), dtype=np.float32)
    ids, idfs = int64s([vocabulary[term] for term in terms]), np.array([lexical.idf(term) for term in terms], dtype=np.float64)
    k1, b = BM25_SETTINGS["k1"], BM25_SETTINGS["b"]
    offsets, term_ids = np.ascontiguousarray(table.term_offsets), np.ascontiguousarray(table.term_ids)
    _term_kernel.candidate_bm25(offsets, term_ids, int64s(sentence_ids), ids, idfs, out, k1, b, lexical.average_length)
    return out


def candidate_terms(
    table: SentenceTable, rows: np.ndarray, documents: np.ndarray, term_ids: np.ndarray, weights: np.ndarray, total: float,
    question: tuple[str, ...], lexical: LexicalIndex, named: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """sentence_features.term_columns (n x 9) and table_signals (n x 5) of the candidates; rows holds their
    ids, then their previous and their next sentences' (-1: none)."""
    if _term_kernel is None or len(term_ids) > MOST_TERMS:
        return None
    count = len(documents)
    wanted = set(pairwise(question))
    vocabulary = lexical.bm25.vocab_dict
    pairs = int64s([vocabulary[term] for pair in wanted for term in pair if pair[0] in vocabulary and pair[1] in vocabulary])
    terms_out, signals_out = np.empty((count, 9), dtype=np.float32), np.empty((count, 5), dtype=np.float32)
    arrays = (table.term_offsets, table.term_ids, table.name_offsets, table.name_ids, table.distinct_terms, table.flags)
    _term_kernel.candidate_terms(
        *map(np.ascontiguousarray, arrays), int64s(rows), int64s(documents), int64s(term_ids),
        np.ascontiguousarray(weights, dtype=np.float64), pairs, int64s(named), terms_out, signals_out, float(total), float(len(wanted)),
    )
    return terms_out, signals_out


def candidate_documents(documents: np.ndarray, passage_score: np.ndarray, dense: np.ndarray, lexical_share: np.ndarray) -> np.ndarray | None:
    """sentence_features.document_columns (n x 5) from the candidates' documents and float32 scores."""
    if _term_kernel is None or not all(values.dtype == np.float32 for values in (passage_score, dense, lexical_share)):
        return None
    out = np.empty((len(documents), 5), dtype=np.float32)
    floats = (np.ascontiguousarray(values) for values in (passage_score, dense, lexical_share))
    _term_kernel.candidate_documents(int64s(documents), *floats, out)
    return out


def candidate_sentences(chunk_spans: np.ndarray, sentence_spans: np.ndarray, chunk_ids: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """candidates.first_holders and neighbours: the ranked chunks' sentences once each, the row of the first chunk
    holding each, their previous and next sentences (-1: none) and their documents' positions."""
    if _term_kernel is None:
        return None
    packed = _term_kernel.candidate_sentences(np.ascontiguousarray(chunk_spans), np.ascontiguousarray(sentence_spans), int64s(chunk_ids))
    return tuple(np.frombuffer(packed, dtype=np.int64).reshape(5, -1))
