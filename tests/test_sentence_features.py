"""The answer ranker's sentence features: pure functions by hand, the matrix on the real index."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.answer import AnswerSettings, prepare_candidates
from service.core.retrieval import Retriever, mean_and_spread
from service.core.sentence_features import (
    FEATURES,
    QUESTION_TYPES,
    answer_type_signals,
    bigram_share,
    coverage_of,
    feature_matrix,
    match_spread,
    missing_weight,
    question_type,
    ranks,
    share_of_best,
)
from service.core.sentence_terms import gather, row_values


def kind(question: str) -> str:
    number = question_type(question)
    return QUESTION_TYPES[number][0] if number < len(QUESTION_TYPES) else "other"


def test_question_types_follow_the_asking_words() -> None:
    assert kind("How many officers does the force have?") == "how_many"
    assert kind("In what year was the inspection?") == "when"
    assert kind("When did HMIC inspect the Met?") == "when"
    assert kind("Who wrote this inspection statement?") == "who"
    assert kind("Why is policing London hard?") == "why"
    assert kind("How well does the Met investigate crime?") == "how"
    assert kind("What did the inspector say about vetting?") == "what"
    assert kind("Tell me about vetting.") == "other"


def test_ranks_put_the_highest_first_and_share_ties() -> None:
    assert ranks(np.array([0.2, 0.9, 0.5, 0.9])).tolist() == [4.0, 1.0, 3.0, 1.0]
    assert share_of_best(np.array([2.0, 1.0, 0.0])).tolist() == [1.0, 0.5, 0.0]
    assert share_of_best(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]


def test_term_overlap_measures() -> None:
    weights = {"vet": 3.0, "forc": 1.0}
    # idf-weighted share: only "vet" found -> 3 / 4
    assert coverage_of(weights, {"vet", "polic"}) == 0.75
    # The rarest missing term over the rarest of all: "forc" missing -> 1 / 3.
    assert missing_weight(weights, {"vet"}) == pytest.approx(1 / 3)
    assert missing_weight(weights, {"vet", "forc"}) == 0.0
    # Question bigrams (a b), (b c); the sentence has (a b) adjacent -> 1 / 2.
    assert bigram_share(("a", "b", "c"), ("x", "a", "b", "y", "c")) == 0.5
    # Matched tokens at positions 1 and 3 of 5: span 3 / 5.
    assert match_spread(weights, ("x", "vet", "y", "forc", "z")) == pytest.approx(0.6)


def test_answer_type_signals_see_numbers_dates_and_new_names() -> None:
    number, year, month, amount, names = answer_type_signals("In March 2017, Matt Parr found 12% of calls unanswered.", {"matt"})
    assert (number, year, month, amount) == (1.0, 1.0, 1.0, 1.0)
    assert names == 2.0  # March and Parr; Matt is in the question
    assert answer_type_signals("The force has sound processes.", set()) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_the_matrix_describes_the_vetting_sentence_as_a_full_match(retriever: Retriever) -> None:
    question = "What did the inspector say about vetting?"
    prepared = prepare_candidates(retriever, question, 5, AnswerSettings(), ranked=True)
    matrix = feature_matrix(prepared.text, prepared.candidates, retriever.index.sentence_lexical)
    assert matrix.shape == (len(prepared.candidates.sentence_ids), len(FEATURES))
    assert np.isfinite(matrix).all()
    row = next(i for i, text in enumerate(prepared.candidates.texts) if "improve its vetting" in text)
    column = {name: matrix[row, i] for i, name in enumerate(FEATURES)}
    assert column["coverage"] == 1.0 and column["missing_context"] == 0.0
    assert column["lexical_share"] == 1.0 and column["lexical_rank"] == 1.0


def test_row_values_are_the_gathered_values_of_csr_rows() -> None:
    # Rows 0..3 of a CSR table: [7, 8], [], [9], [10, 11, 12].
    offsets, values = np.array([0, 2, 2, 3, 6]), np.array([7, 8, 9, 10, 11, 12])
    assert row_values(offsets, values, np.array([3, 0, 1, 2])).tolist() == [10, 11, 12, 7, 8, 9]
    assert row_values(offsets, values, np.array([], dtype=np.int64)).tolist() == []
    generator = np.random.default_rng(3)
    lengths = generator.integers(0, 4, size=50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = generator.integers(0, 1000, size=int(offsets[-1]))
    ids = generator.integers(0, 50, size=30)
    assert row_values(offsets, values, ids).tolist() == gather(offsets, values, ids)[2].tolist()


def test_mean_and_spread_are_numpys_to_the_bit() -> None:
    assert mean_and_spread(np.array([1, 2, 3, 4], dtype=np.float32)) == (2.5, pytest.approx(1.118034, abs=1e-6))
    generator = np.random.default_rng(5)
    for size in (1, 2, 7, 8, 9, 29, 128, 129, 1024):
        values = (generator.normal(size=size) * generator.random() + generator.random()).astype(np.float32)
        assert mean_and_spread(values) == (float(values.mean()), float(values.std()))
