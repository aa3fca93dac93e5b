"""Features of candidate answer sentences: what the learned answer ranker reads.

Every feature is scale-free (a share, a cosine, a rank, or a score divided by the best candidate's),
so a ranker fit on one corpus reads another corpus's candidates the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from indexer.storage.lexical import LexicalIndex, text_tokens
from indexer.storage.sentence_table import AMOUNT, CAPITALISED, MONTH, NUMBER, YEAR, SentenceTable
from service.core.answer_kernel import candidate_matrix
from service.core.candidate_sentences import Candidates, Question
from service.core.sections import STRUCTURE_FEATURES, structure_columns
from service.core.sentence_terms import gather, largest_missing, member, pair_shares, spreads, vocabulary_ids, weighted_share
from service.core.stopwords import ENGLISH_STOP_WORDS

QUESTION_STOPWORDS = tuple(sorted(ENGLISH_STOP_WORDS | {"did", "does", "say", "said", "tell"}))
# The kind of answer a question asks for, by its wording; order matters (first match wins).
QUESTION_TYPES = (
    ("how_many", r"\bhow\s+(many|much)\b|\bwhat\s+(number|percentage|proportion|amount)\b"),
    ("when", r"\bwhen\b|\bwhat\s+(year|date|day|month|time|century|decade|period)\b|\bwhich\s+(year|date|century)\b"),
    ("how_long", r"\bhow\s+(long|far|old|often|big|large|tall|high|fast)\b"),
    ("who", r"\bwho(m|se)?\b"),
    ("where", r"\bwhere\b"),
    ("why", r"\bwhy\b"),
    ("how", r"\bhow\b"),
    ("which", r"\bwhich\b"),
    ("what", r"\bwhat\b"),
)
QUESTION_TYPE_PATTERNS = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in QUESTION_TYPES]
WORD = re.compile(r"[A-Za-z]+")

# The columns the compiled kernel (or its NumPy counterpart) computes from the sentence table.
SENTENCE_FEATURES = (
    "dense", "dense_gap", "dense_rank", "dense_prev", "dense_next", "dense_z",
    "lexical_share", "lexical_rank", "lexical_of_query",
    "coverage", "coverage_context", "coverage_document", "novel_terms", "bigrams", "match_spread",
    "missing_context", "missing_document", "tokens",
    "passage_score", "passage_rank", "chunk_dense", "chunk_lexical_share", "document_lexical_share",
    "document_best_passage", "document_dense_gap", "document_lexical_gap", "dense_rank_in_document", "lexical_rank_in_document",
    "starts_paragraph", "ends_paragraph",
    "question_type", "question_terms",
    "has_number", "has_year", "has_month", "has_amount", "new_names",
)
FEATURES = SENTENCE_FEATURES + STRUCTURE_FEATURES


def question_type(question: str) -> int:
    """Index of the question's kind in QUESTION_TYPES (len(QUESTION_TYPES) when none matches)."""
    return next((number for number, (_, pattern) in enumerate(QUESTION_TYPE_PATTERNS) if pattern.search(question)), len(QUESTION_TYPES))


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each value, highest first (ties share the better rank)."""
    order = -values
    return np.searchsorted(np.sort(order), order, side="left").astype(np.float32) + 1


def share_of_best(values: np.ndarray) -> np.ndarray:
    """Each value divided by the largest (0 when none is positive)."""
    best = float(values.max()) if len(values) else 0.0
    return values / best if best > 0 else np.zeros_like(values)


def idf_weights(lexical: LexicalIndex, terms: Sequence[str]) -> dict[str, float]:
    """BM25 idf of each distinct question term (unseen terms get the largest idf)."""
    return {term: lexical.idf(term) for term in dict.fromkeys(terms)}


def coverage_of(weights: dict[str, float], tokens: set[str]) -> float:
    """Idf-weighted share of the question's terms found among tokens."""
    total = sum(weights.values())
    return sum(weight for term, weight in weights.items() if term in tokens) / total if total else 0.0


def bigram_share(question_terms: Sequence[str], tokens: Sequence[str]) -> float:
    """Share of the question's adjacent term pairs that are adjacent in the sentence too."""
    wanted = set(pairwise(question_terms))
    return len(wanted & set(pairwise(tokens))) / len(wanted) if wanted else 0.0


def match_spread(weights: dict[str, float], tokens: Sequence[str]) -> float:
    """How far apart the question's terms sit in the sentence: span of matched tokens over its length."""
    where = [i for i, token in enumerate(tokens) if token in weights]
    return (where[-1] - where[0] + 1) / len(tokens) if len(where) > 1 else 0.0


def sentence_signals(text: str) -> tuple[tuple[float, float, float, float], frozenset[str]]:
    """Whether a sentence holds numbers, years, months and amounts, and its capitalised words, lower-cased
    (what the sentence table stores for every sentence at build time)."""
    flags = (float(bool(NUMBER.search(text))), float(bool(YEAR.search(text))), float(bool(MONTH.search(text))), float(bool(AMOUNT.search(text))))
    return flags, frozenset(word.lower() for word in CAPITALISED.findall(text))


def answer_type_signals(text: str, question_words: set[str]) -> tuple[float, float, float, float, float]:
    """Numbers, years, months, amounts, and capitalised words the question does not already name."""
    flags, names = sentence_signals(text)
    return (*flags, float(len(names - question_words)))


def question_names(table: SentenceTable, question_words: set[str]) -> np.ndarray:
    """The table's ids of the names among the question's words."""
    return np.array([table.names[word] for word in question_words if word in table.names], dtype=np.int64)


def table_signals(candidates: Candidates, question_words: set[str]) -> np.ndarray:
    """answer_type_signals of every candidate from the sentence table (n x 5)."""
    table, ids = candidates.table, candidates.ids
    rows, _, names, counts = gather(table.name_offsets, table.name_ids, ids)
    known = np.bincount(rows[member(names, question_names(table, question_words))], minlength=len(ids))
    flags = np.asarray(table.flags[ids, :4], dtype=np.float32).reshape(-1, 4)
    return np.column_stack([flags, (counts - known).astype(np.float32)])


def lexical_of_query(lexical: LexicalIndex, weights: dict[str, float], scores: np.ndarray) -> np.ndarray:
    """Sentence BM25 over the most a text could score for the query (each term once, at k1 saturation)."""
    ceiling = sum(weights.values())
    return scores / ceiling if ceiling > 0 else np.zeros_like(scores)


def by_document(same: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate: the best value among its document's candidates (same[i, j]: i and j share a
    document), and its own rank among them (1 + how many of them score higher, as ranks() counts)."""
    best = np.where(same, values[None, :], -np.inf).max(axis=1).astype(values.dtype)
    rank = (same & (values[None, :] > values[:, None])).sum(axis=1).astype(np.float32) + 1
    return best, rank


def document_columns(candidates: Candidates, lexical_share: np.ndarray) -> np.ndarray:
    """Per candidate: its document's best passage score, its gaps to the document's best dense and BM25
    sentence, and its dense and BM25 rank within the document (n x 5)."""
    same = candidates.same_document
    best_passage, _ = by_document(same, candidates.passage_score)
    best_dense, dense_rank = by_document(same, candidates.dense)
    best_lexical, lexical_rank = by_document(same, lexical_share)
    return np.column_stack([best_passage, candidates.dense - best_dense, lexical_share - best_lexical, dense_rank, lexical_rank])


def missing_weight(weights: dict[str, float], tokens: set[str]) -> float:
    """The largest idf among question terms missing from tokens, over the largest idf of all of them."""
    largest = max(weights.values(), default=0.0)
    return max((w for term, w in weights.items() if term not in tokens), default=0.0) / largest if largest > 0 else 0.0


def term_columns(terms: tuple[str, ...], weights: dict[str, float], candidates: Candidates, lexical: LexicalIndex) -> np.ndarray:
    """Per candidate: question-term coverage of the sentence, its context and its document's candidates,
    new terms, shared bigrams, match spread, and the weight of the rarest missing term (n x 9); the
    per-sentence functions above (coverage_of, bigram_share, …) define each, computed here for all at once."""
    table, ids = candidates.table, candidates.ids
    term_ids, values = vocabulary_ids(lexical, list(weights)), np.array(list(weights.values()), dtype=np.float64)
    total = sum(weights.values())
    count = len(ids)
    own = candidates.terms.head(count)
    everything = candidates.terms.holding(term_ids)
    held = everything[:count]
    context = held | everything[count : 2 * count] | everything[2 * count :]
    # A term is in a candidate's document when any candidate of that document has it in context.
    document = (candidates.same_document.astype(np.int32) @ context.astype(np.int32)) > 0
    distinct = np.asarray(table.distinct_terms[ids])
    columns = (
        weighted_share(held, values, total), weighted_share(context, values, total), weighted_share(document, values, total),
        distinct - held.sum(axis=1), pair_shares(own, terms, lexical), spreads(own, term_ids),
        largest_missing(context, values), largest_missing(document, values), distinct,
    )
    return np.column_stack([np.asarray(column, dtype=np.float32) for column in columns]).reshape(len(ids), 9)


def read_question(question: str, table: SentenceTable, lexical: LexicalIndex) -> Question:
    """What the feature matrix reads of a question's retrieval text."""
    terms = text_tokens(question, QUESTION_STOPWORDS)
    weights = idf_weights(lexical, terms)
    words = {word.lower() for word in WORD.findall(question)}
    return Question(
        terms, weights, words, vocabulary_ids(lexical, list(weights)), np.array(list(weights.values()), dtype=np.float64),
        question_names(table, words), question_type(question),
    )


def feature_matrix(question: str, candidates: Candidates, lexical: LexicalIndex) -> np.ndarray:
    """One row of FEATURES per candidate sentence: the sentence columns (from the compiled kernel when the
    install built it) and the structure columns."""
    read = read_question(question, candidates.table, lexical)
    compiled = candidate_matrix(candidates, read, lexical, SENTENCE_FEATURES)
    sentence_columns = compiled if compiled is not None else numpy_feature_matrix(read, candidates, lexical)
    return np.hstack([sentence_columns, structure_columns(question, candidates)])


def numpy_feature_matrix(question: Question, candidates: Candidates, lexical: LexicalIndex) -> np.ndarray:
    """The SENTENCE_FEATURES columns in NumPy: what the compiled kernel computes, and what runs without it."""
    weights = question.weights
    lexical_share = share_of_best(candidates.lexical)
    dense_best = float(candidates.dense.max()) if len(candidates.dense) else 0.0
    count = len(candidates.sentence_ids)
    columns = [
        candidates.dense, candidates.dense - dense_best, ranks(candidates.dense), candidates.dense_prev, candidates.dense_next,
        (candidates.dense - candidates.background[0]) / candidates.background[1],
        lexical_share, ranks(candidates.lexical), lexical_of_query(lexical, weights, candidates.lexical),
        term_columns(question.terms, weights, candidates, lexical),
        candidates.passage_score, candidates.passage_rank, candidates.chunk_dense, candidates.chunk_lexical, candidates.document_lexical,
        document_columns(candidates, lexical_share), candidates.edges,
        np.full(count, question.kind), np.full(count, len(weights)),
        table_signals(candidates, question.words),
    ]
    matrix = np.empty((count, len(SENTENCE_FEATURES)), dtype=np.float32)
    column = 0
    for values in columns:
        block = np.asarray(values).reshape(count, -1)
        matrix[:, column : column + block.shape[1]] = block
        column += block.shape[1]
    return matrix
