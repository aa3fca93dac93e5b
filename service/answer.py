"""Extractive answers: score the sentences of retrieved passages, quote the best."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from service.confidence import Calibration, answer_features, load_calibration
from service.fusion import fuse_scores, ranked
from service.retrieval import QueryScores, RetrievalSettings, Retriever, check_k
from service.types import Answer, Evidence, Passage

NO_ANSWER = "No answer: the indexed reports do not appear to address this question."


@dataclass(frozen=True)
class AnswerSettings:
    """How passages are found, how evidence is chosen and when to abstain."""

    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    # Abstain when the calibrated confidence is below abstain_below (None: the calibration's threshold).
    calibration: Calibration = field(default_factory=load_calibration)
    abstain_below: float | None = None
    max_evidence: int = 5


@dataclass(frozen=True)
class ScoredSentences:
    """Candidate sentences ranked for a question, with the best dense similarity among them."""

    evidence: list[Evidence]
    best_cosine: float


def sentence_features(retriever: Retriever, text: str, sentence_ids: list[int], scores: QueryScores, mode: str) -> dict[str, dict[int, float]]:
    """Dense and BM25 scores of the candidate sentences, as the mode allows."""
    features: dict[str, dict[int, float]] = {}
    if mode != "lexical":
        features["dense"] = dict(zip(sentence_ids, scores.sentence_dense[sentence_ids].tolist()))
    if mode != "dense":
        lexical = retriever.index.sentence_lexical
        # From the sentences' own tokens where the index allows: their posting lists stay unread.
        found = lexical.scores_of_texts(text, [retriever.index.sentences[sid].text for sid in sentence_ids])
        found = lexical.scores_for(text, np.array(sentence_ids)) if found is None else found
        features["lexical"] = dict(zip(sentence_ids, found.tolist()))
    return features


def score_sentences(
    retriever: Retriever, text: str, passages: list[Passage], scores: QueryScores, settings: AnswerSettings
) -> ScoredSentences:
    """Every sentence of the passages, ranked by fused dense and BM25 scores, repeats dropped."""
    index = retriever.index
    sentence_ids = list(dict.fromkeys(sid for p in passages for sid in index.records.chunk_sentences(p.chunk_id)))
    if not sentence_ids:
        return ScoredSentences([], 0.0)
    retrieval = settings.retrieval
    features = sentence_features(retriever, text, sentence_ids, scores, retrieval.mode)
    # Sentences get the passages' dense:lexical balance.
    weights = {"dense": retrieval.dense_share, "lexical": 1 - retrieval.dense_share}
    fused = fuse_scores(features, weights, retrieval.fusion, retrieval.rrf_k)
    evidence: list[Evidence] = []
    for sentence_id, score in ranked(fused, len(sentence_ids)):
        candidate = evidence_for(retriever, sentence_id, score)
        # A heading names a topic but says nothing about it, so it is never quoted as an answer.
        if index.records.is_unquotable(candidate.doc_id, candidate.start, candidate.end):
            continue
        # A line repeated in the source is one quote to the reader, not two.
        if all(candidate.text != kept.text for kept in evidence):
            evidence.append(candidate)
        if len(evidence) == settings.max_evidence:
            break
    best_cosine = max(features["dense"].values()) if "dense" in features else float(scores.sentence_dense[sentence_ids].max())
    return ScoredSentences(evidence[: settings.max_evidence], best_cosine)


def evidence_for(retriever: Retriever, sentence_id: int, score: float) -> Evidence:
    """A stored sentence as Evidence with its document title."""
    sentence = retriever.index.sentences[sentence_id]
    records = retriever.index.records
    pages, section = records.context(sentence.doc_id, sentence.start, sentence.end)
    return Evidence(sentence.text, sentence.doc_id, records.title(sentence.doc_id), sentence.start, sentence.end, round(score, 6), pages, section)


def compose_answer(best: Evidence) -> str:
    """The best sentence quoted verbatim, with its source title."""
    return f"“{best.text}” ({best.title})"


@dataclass(frozen=True)
class Draft:
    """Everything found for a question before deciding whether to answer."""

    passages: list[Passage]
    evidence: list[Evidence]
    features: dict[str, float]
    notice: str | None = None


def draft_answer(retriever: Retriever, question: str, k: int, settings: AnswerSettings) -> Draft:
    """Retrieve passages, rank their sentences and measure the abstention features."""
    k = check_k(k)
    text, query_vector = retriever.query(question)
    scores = retriever.query_scores(text, query_vector, settings.retrieval)
    if scores.allowed is not None and scores.allowed.empty:
        return Draft([], [], {}, scores.allowed.notice)
    passages = retriever.passages(text, query_vector, k, settings.retrieval, scores)
    scored = score_sentences(retriever, text, passages, scores, settings)
    features = answer_features(retriever.index.sentence_lexical, text, passages, scored.best_cosine)
    return Draft(passages, scored.evidence, features)


@dataclass(frozen=True)
class Verdict:
    """Whether to answer a draft, and how sure the calibration is that the reports answer it."""

    confidence: float
    abstained: bool


def judge(draft: Draft, settings: AnswerSettings) -> Verdict:
    """Calibrated confidence of a draft, and abstention below the operating threshold."""
    if not draft.evidence:
        return Verdict(0.0, True)
    confidence = settings.calibration.confidence(draft.features)
    threshold = settings.calibration.threshold if settings.abstain_below is None else settings.abstain_below
    return Verdict(round(confidence, 4), not draft.evidence or confidence < threshold)


def answer_text(draft: Draft, verdict: Verdict) -> str:
    """The reply a reader sees: the best sentence quoted, or a plain no-answer."""
    if verdict.abstained:
        return draft.notice or NO_ANSWER
    return compose_answer(draft.evidence[0])


def finish_answer(draft: Draft, verdict: Verdict, took_ms: float) -> Answer:
    """The Answer record for a judged draft."""
    return Answer(
        answer=answer_text(draft, verdict),
        abstained=verdict.abstained,
        confidence=verdict.confidence,
        evidence=[] if verdict.abstained else draft.evidence,
        passages=draft.passages,
        took_ms=round(took_ms, 3),
        notice=draft.notice,
    )


def answer_question(retriever: Retriever, question: str, k: int = 5, settings: AnswerSettings = AnswerSettings()) -> Answer:
    """Retrieve k passages for the question and answer from their sentences, or abstain."""
    started = time.perf_counter()
    draft = draft_answer(retriever, question, k, settings)
    return finish_answer(draft, judge(draft, settings), (time.perf_counter() - started) * 1000)
