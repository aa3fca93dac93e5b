"""The two inputs of the sentence features: a question as read against the index, and the candidate sentences up for quoting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from indexer.storage.sentence_table import SentenceTable
from service.core.sentence_terms import Terms

if TYPE_CHECKING:
    from indexer.storage.records import RecordStore


@dataclass(frozen=True)
class Question:
    """What the feature matrix reads of a question: its terms in order, their idf weights by term, its words,
    and from those the terms' vocabulary ids and weights as arrays, the table's ids of its names, and its kind."""

    terms: tuple[str, ...]
    weights: dict[str, float]
    words: set[str]
    term_ids: np.ndarray
    weight_values: np.ndarray
    named: np.ndarray
    kind: int


@dataclass(frozen=True)
class Candidates:
    """The sentences up for quoting, and what retrieval knew of the passages that hold them."""

    sentence_ids: list[int]
    # For each sentence: the best fused score and rank of a retrieved passage holding it, that chunk's scores.
    passage_score: np.ndarray
    passage_rank: np.ndarray
    chunk_dense: np.ndarray
    chunk_lexical: np.ndarray
    document_lexical: np.ndarray
    # The position of each sentence's document, to compare it with the other candidates of its document.
    documents: np.ndarray
    dense: np.ndarray
    dense_prev: np.ndarray
    dense_next: np.ndarray
    lexical: np.ndarray
    # Each sentence's previous and next sentence in its document (-1: none), for coverage in context.
    previous: np.ndarray
    following: np.ndarray
    # What the index knows of every sentence regardless of the question; how to read a text.
    table: SentenceTable
    read_text: Callable[[int], str]
    # The documents' records, for the heading path each sentence sits under.
    records: RecordStore
    # Mean and spread of the question's cosine to sentences at large.
    background: tuple[float, float] = (0.0, 1.0)

    @cached_property
    def texts(self) -> list[str]:
        """The candidates' texts (read only when asked for: the features come from the table)."""
        return [self.read_text(sentence_id) for sentence_id in self.sentence_ids]

    @cached_property
    def ids(self) -> np.ndarray:
        """sentence_ids as an array."""
        return np.asarray(self.sentence_ids, dtype=np.int64)

    @cached_property
    def terms(self) -> Terms:
        """The terms of the candidates (rows 0..n-1), of their previous sentences (n..2n-1) and of their next
        ones (2n..3n-1), for the NumPy feature code (the compiled kernel reads the table itself)."""
        return Terms.of(self.table, np.concatenate([self.ids, self.previous, self.following]))

    @cached_property
    def same_document(self) -> np.ndarray:
        """(n x n) whether two candidates come from the same document."""
        return self.documents[:, None] == self.documents[None, :]

    @property
    def edges(self) -> np.ndarray:
        """Whether each sentence starts and ends a paragraph (n x 2)."""
        return np.asarray(self.table.flags[self.ids, 4:6], dtype=np.float32).reshape(-1, 2)
