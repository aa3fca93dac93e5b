"""The question's terms against the candidate sentences' stored terms, for all candidates at once: which
question terms each sentence, its context and its document hold, adjacent pairs, spread, and BM25.

Each function computes exactly what its per-sentence counterpart in sentence_features computes (the same
float64 operations in the same order), over the SentenceTable's term ids instead of re-tokenized text.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from indexer.storage.lexical import BM25_SETTINGS, LexicalIndex, text_tokens
from indexer.storage.sentence_table import SentenceTable


@dataclass(frozen=True)
class Terms:
    """Sentences' terms in order, flattened: the row each belongs to, its place in its sentence, its id."""

    rows: np.ndarray
    places: np.ndarray
    ids: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, table: SentenceTable, sentence_ids: np.ndarray) -> Terms:
        """The terms of the given sentences (row i is sentence_ids[i]; an id of -1 has none)."""
        return cls(*gather(table.term_offsets, table.term_ids, sentence_ids))

    def head(self, count: int) -> Terms:
        """The terms of the first count rows (rows come in order, so they are a prefix)."""
        end = int(self.lengths[:count].sum())
        return Terms(self.rows[:end], self.places[:end], self.ids[:end], self.lengths[:count])

    def holding(self, term_ids: np.ndarray) -> np.ndarray:
        """(rows × len(term_ids)) whether each row holds each term (an id of -1 is held by none)."""
        held = np.zeros((len(self.lengths), len(term_ids)), dtype=bool)
        known = np.flatnonzero(term_ids >= 0)
        if len(known):
            columns = known[np.argsort(term_ids[known])]
            wanted = term_ids[columns]
            where = np.minimum(np.searchsorted(wanted, self.ids), len(wanted) - 1)
            match = wanted[where] == self.ids
            held[self.rows[match], columns[where[match]]] = True
        return held

    def counts(self, term: int) -> np.ndarray:
        """How often each row holds one term."""
        return np.bincount(self.rows[self.ids == term], minlength=len(self.lengths))


def gather(offsets: np.ndarray, values: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The CSR rows of ids, flattened: each value's row and place in its row, the values, each row's length
    (an id of -1 is an empty row)."""
    safe = np.where(ids >= 0, ids, 0)
    starts = np.asarray(offsets[safe])
    lengths = np.where(ids >= 0, np.asarray(offsets[safe + 1]) - starts, 0)
    rows = np.repeat(np.arange(len(ids)), lengths)
    places = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, places, np.asarray(values[np.repeat(starts, lengths) + places]), lengths


def row_values(offsets: np.ndarray, values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """gather's values alone, for ids that are all rows (no -1): in half its time."""
    if not len(ids):
        return np.asarray(values[:0])
    starts = np.asarray(offsets[ids])
    lengths = np.asarray(offsets[ids + 1]) - starts
    ends = np.cumsum(lengths)
    return np.asarray(values[np.arange(int(ends[-1])) + np.repeat(starts - ends + lengths, lengths)])


def vocabulary_ids(lexical: LexicalIndex, terms: list[str] | tuple[str, ...]) -> np.ndarray:
    """Each term's id in the sentence vocabulary, -1 for a term no sentence holds."""
    vocabulary = lexical.bm25.vocab_dict
    return np.array([vocabulary.get(term, -1) for term in terms], dtype=np.int64)


def weighted_share(held: np.ndarray, weights: np.ndarray, total: float) -> np.ndarray:
    """coverage_of for every row: the weights of held terms, summed in the question's order, over total."""
    if not total or not held.shape[1]:
        return np.zeros(len(held))
    # A running sum adds the columns one by one, left to right, as the per-sentence sum does.
    return np.where(held, weights, 0.0).cumsum(axis=1)[:, -1] / total


def largest_missing(held: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """missing_weight for every row: the largest weight of a term not held, over the largest weight."""
    largest = float(weights.max()) if len(weights) else 0.0
    if largest <= 0:
        return np.zeros(len(held))
    return np.where(held, 0.0, weights).max(axis=1, initial=0.0) / largest


def pair_shares(terms: Terms, question: tuple[str, ...], lexical: LexicalIndex) -> np.ndarray:
    """bigram_share for every row: the question's distinct adjacent term pairs also adjacent in the sentence."""
    wanted = set(pairwise(question))
    shares = np.zeros(len(terms.lengths))
    if not wanted:
        return shares
    size = np.int64(len(lexical.bm25.vocab_dict))
    adjacent = terms.rows[:-1] == terms.rows[1:]
    codes = terms.ids[:-1].astype(np.int64) * size + terms.ids[1:]
    matched = np.zeros(len(terms.lengths), dtype=np.int64)
    for first, second in vocabulary_ids(lexical, [term for pair in wanted for term in pair]).reshape(-1, 2).tolist():
        if first >= 0 and second >= 0:
            matched += np.bincount(terms.rows[:-1][adjacent & (codes == first * size + second)], minlength=len(shares)) > 0
    return matched / len(wanted)


def spreads(terms: Terms, term_ids: np.ndarray) -> np.ndarray:
    """match_spread for every row: the span of its question terms over its length, where it has two or more."""
    count = len(terms.lengths)
    hit = member(terms.ids, term_ids)
    rows, places = terms.rows[hit], terms.places[hit]
    # Hits come in row order, places rising: each run of one row runs from its first hit to its last.
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1]))) if len(rows) else np.zeros(0, dtype=np.int64)
    ends = np.concatenate((starts[1:], [len(rows)])) - 1
    spread = np.zeros(count)
    several = ends > starts
    owners = rows[starts[several]]
    spread[owners] = (places[ends[several]] - places[starts[several]] + 1) / np.maximum(terms.lengths[owners], 1)
    return spread


def member(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Whether each value is one of the wanted ones (-1s in wanted are no one's): np.isin for short lists."""
    known = np.sort(wanted[wanted >= 0])
    if not len(known) or not len(values):
        return np.zeros(len(values), dtype=bool)
    return known[np.minimum(np.searchsorted(known, values), len(known) - 1)] == values


def known_terms(lexical: LexicalIndex, query: str) -> list[str]:
    """The query's BM25 terms that some sentence holds, in order, repeats kept (each counts again)."""
    return [term for term in text_tokens(query) if term in lexical.bm25.vocab_dict]


def bm25_scores(lexical: LexicalIndex, query: str, terms: Terms) -> np.ndarray | None:
    """LexicalIndex.scores_of_texts from stored terms: the same float64 sum in the same order, as float32;
    None for an index saved without its average length."""
    if lexical.average_length is None:
        return None
    k1, b = BM25_SETTINGS["k1"], BM25_SETTINGS["b"]
    wanted = known_terms(lexical, query)
    norm = k1 * (1 - b + b * np.maximum(terms.lengths, 1) / lexical.average_length)
    result = np.zeros(len(terms.lengths))
    ids = vocabulary_ids(lexical, wanted).tolist()
    for term, term_id in zip(wanted, ids):
        idf, counts = lexical.idf(term), terms.counts(term_id)
        result = result + np.where(counts > 0, idf * counts / (counts + norm), 0.0)
    return result.astype(np.float32)
