"""The retrieval core answers known questions from the real index, in every mode."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.storage.store import Index
from service.core.answer import NO_ANSWER, AnswerSettings, answer_question
from service.core.errors import InvalidRequest
from service.core.retrieval import RetrievalSettings, Retriever


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_finds_the_vetting_passage(retriever: Retriever, mode: str) -> None:
    passages = retriever.search("Does the force's vetting comply with national policy?", 3, RetrievalSettings(mode=mode))
    assert any("vetting" in p.text for p in passages)
    assert len(passages) == 3
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_rrf_fusion_is_selectable(retriever: Retriever) -> None:
    passages = retriever.search("shortage of trained detectives", 2, RetrievalSettings(fusion="rrf"))
    assert "detectives" in passages[0].text


def test_lexical_mode_returns_nothing_for_unknown_words(retriever: Retriever) -> None:
    assert retriever.search("zyxwv qwerty", 5, RetrievalSettings(mode="lexical")) == []


def test_answer_quotes_the_vetting_sentence(retriever: Retriever, seed_text: str) -> None:
    answer = answer_question(retriever, "What did the inspector say about vetting?")
    assert not answer.abstained
    best = answer.evidence[0]
    assert "improve its vetting, which does not comply with national policy" in best.text
    assert seed_text[best.start : best.end] == best.text
    assert best.text in answer.answer
    assert answer.took_ms > 0


def test_answer_abstains_on_an_unrelated_question(retriever: Retriever) -> None:
    answer = answer_question(retriever, "What is a good recipe for chocolate cake?")
    assert answer.abstained
    assert answer.answer == NO_ANSWER
    assert answer.evidence == []


@pytest.mark.parametrize("question", ["", "   \n", "x" * 2001])
def test_bad_questions_raise_invalid_request(retriever: Retriever, question: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        answer_question(retriever, question)
    assert error.value.field == "question"


def test_bad_settings_raise_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="mode"):
        RetrievalSettings(mode="semantic")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="weights"):
        RetrievalSettings(weights={"chunk_dense": 1.0})
    with pytest.raises(InvalidRequest, match="weights"):
        RetrievalSettings(weights={"chunk_dense": -1.0, "sentence_dense": 1.0, "chunk_lexical": 1.0, "document_lexical": 1.0})


def test_bm25_scores_of_chosen_ids_equal_the_full_scoring(index: Index) -> None:
    for lexical, records in ((index.chunk_lexical, index.chunks), (index.sentence_lexical, index.sentences)):
        for query in ("vetting national policy", "detectives detectives shortage", "the force's force", "zyxwv"):
            ids = np.array([0, 2, 5, lexical.size - 1, 2])
            full = lexical.scores(query)
            assert np.array_equal(lexical.scores_for(query, ids), full[ids])
            # Scored from the texts themselves, without reading postings: the same to float precision.
            from_texts = lexical.scores_of_texts(query, [records[int(i)].text for i in ids])
            assert np.allclose(from_texts, full[ids], rtol=1e-5, atol=1e-6), (query, from_texts, full[ids])


def test_past_the_scan_limit_only_candidate_sentences_are_scored_and_the_answer_holds(retriever: Retriever) -> None:
    question = "What did the inspector say about vetting?"
    scanned = answer_question(retriever, question)
    limited = answer_question(retriever, question, 5, AnswerSettings(retrieval=RetrievalSettings(sentence_scan_max=0)))
    assert "vetting" in limited.evidence[0].text
    assert limited.evidence[0].text == scanned.evidence[0].text
