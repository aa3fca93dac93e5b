"""The compiled kernels (BM25 postings, candidate features) give the NumPy code's numbers bit for bit, and
refuse what they cannot read."""

from __future__ import annotations

import shutil
import sysconfig
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.storage import lexical as lexical_module
from indexer.storage.store import open_index
from service.core import answer_kernel, ranker_trees
from service.core.answer import AnswerSettings, answer_question, prepare_candidates
from service.core.candidates import first_holders, neighbours
from service.core.fusion import convex_fusion_arrays
from service.core.retrieval import Retriever
from service.core.sentence_features import FEATURES, SENTENCE_FEATURES, feature_matrix, numpy_feature_matrix, read_question
from service.core.sentence_terms import Terms, bm25_scores, known_terms

QUESTIONS = (
    "What did the inspector say about vetting?",
    "How many officers were dismissed in Exampleshire?",
    "What did the inspection say about the custody suite in Exampleshire?",
    "Who is the chief constable of Exampleshire Constabulary?",
    "Is the Met efficient and effective at keeping people safe?",
)

needs_kernel = pytest.mark.skipif(not answer_kernel.compiled(), reason="the C kernel was not built (no C compiler at install)")
needs_postings = pytest.mark.skipif(lexical_module._postings is None, reason="the C kernel was not built (no C compiler at install)")


@pytest.fixture(scope="module")
def retriever(mixed_index_dir: Path, encoder) -> Retriever:
    return Retriever(open_index(mixed_index_dir), encoder)


def same_bits(left: np.ndarray, right: np.ndarray) -> bool:
    return left.dtype == right.dtype and left.shape == right.shape and left.tobytes() == right.tobytes()


def test_the_kernel_is_built_wherever_a_c_compiler_is() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) here: the NumPy code answers")
    assert answer_kernel.compiled(), "a C compiler is present but service/core/_answer_kernel.c was not built: run pip install -e . again"
    assert lexical_module._postings is not None, "a C compiler is present but indexer/storage/_postings.c was not built: run pip install -e . again"
    assert ranker_trees._ranker_trees is not None, "a C compiler is present but service/core/_ranker_trees.c was not built: run pip install -e . again"


@needs_postings
@pytest.mark.parametrize("question", (*QUESTIONS, "vetting vetting officers", "zzz unknown words", "the of and"))
def test_compiled_bm25_equals_bm25s_and_the_numpy_loop(retriever: Retriever, question: str, monkeypatch: pytest.MonkeyPatch) -> None:
    indexes = (retriever.index.chunk_lexical, retriever.index.document_lexical, retriever.index.sentence_lexical)
    compiled = [(lexical.scores(question), lexical.scores_for(question, np.arange(lexical.size)[::-1])) for lexical in indexes]
    monkeypatch.setattr(lexical_module, "_postings", None)
    for (every, chosen), lexical in zip(compiled, indexes):
        assert same_bits(every, lexical.scores(question))
        assert same_bits(chosen, lexical.scores_for(question, np.arange(lexical.size)[::-1]))
    assert any(every.any() for every, _ in compiled) or question.startswith(("zzz", "the"))


@needs_kernel
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_compiled_matrix_and_bm25_equal_the_numpy_ones(retriever: Retriever, question: str) -> None:
    prepared = prepare_candidates(retriever, question, 5, AnswerSettings(), ranked=True)
    candidates, lexical = prepared.candidates, retriever.index.sentence_lexical
    read = read_question(prepared.text, candidates.table, lexical)
    compiled = answer_kernel.candidate_matrix(candidates, read, lexical, SENTENCE_FEATURES)
    assert compiled is not None
    assert same_bits(compiled, numpy_feature_matrix(read, candidates, lexical))
    numpy_bm25 = bm25_scores(lexical, prepared.text, Terms.of(candidates.table, candidates.ids))
    compiled_bm25 = answer_kernel.candidate_bm25(lexical, candidates.table, candidates.ids, known_terms(lexical, prepared.text))
    assert same_bits(compiled_bm25, numpy_bm25)


@needs_kernel
def test_a_nan_score_is_left_to_numpy(retriever: Retriever) -> None:
    prepared = prepare_candidates(retriever, QUESTIONS[0], 5, AnswerSettings(), ranked=True)
    dense = prepared.candidates.dense.copy()
    dense[0] = np.nan
    candidates = replace(prepared.candidates, dense=dense)
    lexical = retriever.index.sentence_lexical
    read = read_question(prepared.text, candidates.table, lexical)
    assert answer_kernel.candidate_matrix(candidates, read, lexical, SENTENCE_FEATURES) is None
    # The answer still gets its matrix: NumPy's, NaN row and all.
    assert same_bits(feature_matrix(prepared.text, candidates, lexical)[:, : len(SENTENCE_FEATURES)], numpy_feature_matrix(read, candidates, lexical))
    assert np.isnan(feature_matrix(prepared.text, candidates, lexical)[0, FEATURES.index("dense")])


@needs_kernel
@pytest.mark.parametrize("question", QUESTIONS)
def test_compiled_sentences_equal_the_numpy_ones(retriever: Retriever, question: str) -> None:
    text, vector = retriever.query(question)
    settings = AnswerSettings().retrieval
    chunks, _ = retriever.ranked_chunks(text, vector, 10, settings, retriever.query_scores(text, vector, settings))
    chunk_ids = np.array([chunk_id for chunk_id, _ in chunks], dtype=np.int64)
    records = retriever.index.records
    compiled = answer_kernel.candidate_sentences(records.chunk_spans, records.sentence_spans, chunk_ids)
    sentence_ids, rows = first_holders(records.chunk_spans, chunk_ids)
    expected = (sentence_ids, rows, *neighbours(retriever, sentence_ids), records.sentence_spans[sentence_ids, 0])
    assert len(compiled) == 5 and all(same_bits(got, np.asarray(want, dtype=np.int64)) for got, want in zip(compiled, expected))


@needs_kernel
def test_answers_are_the_same_without_the_kernel(retriever: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    def everything(question: str) -> tuple:
        prepared = prepare_candidates(retriever, question, 5, AnswerSettings(), ranked=True)
        answer = answer_question(retriever, question)
        return feature_matrix(prepared.text, prepared.candidates, retriever.index.sentence_lexical).tobytes(), answer.verdict, answer.confidence, answer.answer

    compiled = [everything(question) for question in QUESTIONS]
    monkeypatch.setattr(answer_kernel, "_answer_kernel", None)
    assert not answer_kernel.compiled()
    assert [everything(question) for question in QUESTIONS] == compiled


@needs_kernel
def test_ids_outside_the_table_are_refused_not_read(retriever: Retriever) -> None:
    table, lexical = retriever.index.sentence_table, retriever.index.sentence_lexical
    beyond = np.array([len(table.distinct_terms)], dtype=np.int64)
    with pytest.raises(ValueError, match="outside the sentence table"):
        answer_kernel.candidate_bm25(lexical, table, beyond, known_terms(lexical, "vetting"))
    prepared = prepare_candidates(retriever, QUESTIONS[0], 5, AnswerSettings(), ranked=True)
    candidates = replace(prepared.candidates, previous=np.full(len(prepared.candidates.ids), len(table.distinct_terms)))
    read = read_question(prepared.text, candidates.table, lexical)
    with pytest.raises(ValueError, match="outside the sentence table"):
        answer_kernel.candidate_matrix(candidates, read, lexical, SENTENCE_FEATURES)
    records = retriever.index.records
    with pytest.raises(ValueError, match="outside the index"):
        answer_kernel.candidate_sentences(records.chunk_spans, records.sentence_spans, np.array([0, len(records.chunk_spans)]))


@needs_postings
def test_postings_beyond_their_arrays_are_refused_not_read() -> None:
    indptr, indices, data = np.array([0, 2], dtype=np.int64), np.array([0, 5], dtype=np.int32), np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError, match="outside the index"):
        lexical_module._postings.postings_scores(indptr, indices, data, np.array([0]), None, np.empty(3, dtype=np.float32))
    with pytest.raises(ValueError, match="outside the index"):
        lexical_module._postings.postings_scores(indptr, indices, data, np.array([1]), None, np.empty(9, dtype=np.float32))


@needs_kernel
def test_compiled_fusion_and_best_sentences_equal_the_numpy_ones(retriever: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(7)
    columns = {
        "chunk_dense": generator.normal(size=40).astype(np.float32),
        "sentence_dense": np.full(40, 0.25, dtype=np.float32),  # flat: every item normalises to 1
        "chunk_lexical": generator.exponential(size=40).astype(np.float32),
        "document_lexical": np.where(generator.random(40) < 0.5, 0, generator.exponential(size=40)).astype(np.float32),
    }
    weights = {"chunk_dense": 0.5, "sentence_dense": 0.2, "chunk_lexical": 0.2, "document_lexical": 0.1}
    text, vector = retriever.query(QUESTIONS[0])
    similarity = retriever.query_scores(text, vector, AnswerSettings().retrieval).sentence_dense
    assert similarity.all is not None
    chunk_ids = np.arange(len(retriever.index.chunks))[::-1].copy()
    compiled = (convex_fusion_arrays(columns, weights), retriever.best_sentence_scores(chunk_ids, similarity))
    monkeypatch.setattr(answer_kernel, "_answer_kernel", None)
    assert same_bits(compiled[0], convex_fusion_arrays(columns, weights))
    assert same_bits(compiled[1], retriever.best_sentence_scores(chunk_ids, similarity))
