"""The learned answer ranker in the answer step: what it quotes, how sure it is, and that every adapter uses it."""

from __future__ import annotations

from litestar.testing import TestClient

from service.core.answer import MIN_EVIDENCE, AnswerSettings, answer_question, draft_answer, shipped_models
from service.core.retrieval import Retriever

VETTING = "What did the inspector say about vetting?"


def test_the_shipped_ranker_and_its_verdict_models_load_for_the_default_encoder(retriever: Retriever) -> None:
    ranker, models = shipped_models(retriever.encoder.model_name)
    assert ranker is not None
    for calibration in (models.coverage, models.answer):
        assert "top_score" in calibration.features and calibration.fitted_on["half"] == "choose"
        assert 0.0 < calibration.threshold < 1.0
    # Only the answer model reads the wording of the first sentence.
    assert "negation_mismatch" in models.answer.features and "negation_mismatch" not in models.coverage.features


def test_evidence_past_the_third_is_quoted_only_when_the_ranker_judges_it_an_answer(retriever: Retriever) -> None:
    ranker, _ = shipped_models(retriever.encoder.model_name)
    for question in (VETTING, "What did the inspector say about neighbourhood policing?", "How does the Met tackle organised crime?"):
        answer = answer_question(retriever, question, 5, AnswerSettings(abstain_below=0.0))
        assert answer.evidence, question
        # Scores are the ranker's probability that the sentence answers; extras must reach the bar.
        assert all(0.0 <= e.score <= 1.0 for e in answer.evidence)
        assert len(answer.evidence) >= MIN_EVIDENCE
        assert all(e.score >= ranker.manifest.extra_evidence_probability for e in answer.evidence[MIN_EVIDENCE:])
        assert [e.score for e in answer.evidence] == sorted((e.score for e in answer.evidence), reverse=True)


def test_the_vetting_question_is_answered_by_the_vetting_sentence(retriever: Retriever) -> None:
    answer = answer_question(retriever, VETTING)
    assert not answer.abstained
    assert "improve its vetting" in answer.evidence[0].text


def test_the_ranking_covers_more_chunks_than_the_shown_passages(retriever: Retriever) -> None:
    draft = draft_answer(retriever, VETTING, 1, AnswerSettings())
    assert len(draft.passages) == 1
    shown = set(retriever.index.records.chunk_sentences(draft.passages[0].chunk_id))
    assert len(draft.ranking) > len(shown)


def test_how_many_passages_are_shown_does_not_change_the_answer_or_its_confidence(retriever: Retriever) -> None:
    questions = (VETTING, "How many officers does the force have?", "What did the inspector say about call handling?")
    for question in questions:
        answers = [answer_question(retriever, question, k, AnswerSettings()) for k in (1, 3, 5, 12)]
        assert len({(a.confidence, a.coverage, a.verdict, tuple(e.text for e in a.evidence)) for a in answers}) == 1, question
        assert [len(a.passages) for a in answers] == [1, 3, 5, 12]


def test_fused_scores_remain_available_without_the_ranker(retriever: Retriever) -> None:
    answer = answer_question(retriever, VETTING, 5, AnswerSettings(use_ranker=False))
    assert "improve its vetting" in answer.evidence[0].text
    # Fused scores are min-max normalised per question, and the fallback quotes up to five sentences.
    assert all(0.0 <= e.score <= 1.0 for e in answer.evidence) and len(answer.evidence) > 1


def test_ask_and_chat_use_the_ranker_and_its_confidence(client: TestClient, retriever: Retriever) -> None:
    expected = answer_question(retriever, VETTING)
    body = client.post("/ask", json={"question": VETTING}).json()
    assert (body["confidence"], body["coverage"], body["verdict"]) == (expected.confidence, expected.coverage, expected.verdict)
    assert [e["text"] for e in body["evidence"]] == [e.text for e in expected.evidence]
    chat = client.post("/v1/chat/completions", json={"model": "inspection-qa", "messages": [{"role": "user", "content": VETTING}]}).json()
    assert expected.evidence[0].text in chat["choices"][0]["message"]["content"]


def test_answers_use_the_rankers_loaded_at_start_up(retriever: Retriever) -> None:
    from service.core.answer import models_in
    from service.core.filters import Filters
    from service.core.retrieval import RetrievalSettings

    # The app loads both rankers at start-up (service/http/app.py); a first answer must not load them again
    # (it did once: 700 ms on a worker's first question).
    model = retriever.encoder.model_name
    shipped_models(model), shipped_models(model, True)
    before = models_in.cache_info().misses
    answer_question(retriever, VETTING)
    within = RetrievalSettings(filters=Filters(doc_ids=["hmic-met-peel-2017.txt"]))
    answer_question(retriever, VETTING, 5, AnswerSettings(retrieval=within))
    assert models_in.cache_info().misses == before
