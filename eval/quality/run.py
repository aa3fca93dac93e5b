"""Run an eval set through the retrieval core and score it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eval.quality.dataset import EvalQuestion, gold_spans, matched_answers
from eval.quality.metrics import (
    abstention_precision,
    abstention_recall,
    hit_at_k,
    mean,
    recall_at_k,
    reciprocal_rank_at_k,
)
from service.core.answer import AnswerSettings, answer_question
from service.core.retrieval import Retriever

RETRIEVAL_DEPTH = 10


@dataclass(frozen=True)
class QuestionResult:
    """How one question fared: passage matches, first evidence, abstention."""

    id: str
    question: str
    tags: list[str]
    answerable: bool
    gold_count: int
    ranking: list[frozenset[int]]
    abstained: bool
    first_evidence: str | None
    evidence_correct: bool
    verdict: str = "none"

    @property
    def first_hit_rank(self) -> int | None:
        """1-based rank of the first matching passage, if any."""
        return next((rank for rank, matched in enumerate(self.ranking, 1) if matched), None)


@dataclass(frozen=True)
class EvalReport:
    """Summary metrics and per-question results."""

    metrics: dict[str, float]
    results: list[QuestionResult] = field(default_factory=list)
    # Metrics per section: "main" (untagged questions) and one per tag.
    sections: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate_question(
    retriever: Retriever, question: EvalQuestion, answer_k: int, settings: AnswerSettings
) -> QuestionResult:
    """Retrieve passages and an answer for one question and match them against its gold."""
    gold = gold_spans(question, retriever.index.documents)
    if question.filters is not None:
        settings = replace(settings, retrieval=replace(settings.retrieval, filters=question.filters))
    passages = retriever.search(question.question, RETRIEVAL_DEPTH, settings.retrieval)
    answer = answer_question(retriever, question.question, answer_k, settings)
    first = answer.evidence[0] if answer.evidence else None
    return QuestionResult(
        id=question.id,
        question=question.question,
        tags=question.tags,
        answerable=question.answerable,
        gold_count=len(gold),
        ranking=[matched_answers(p.doc_id, p.start, p.end, gold) for p in passages],
        abstained=answer.abstained,
        first_evidence=first.text if first else None,
        evidence_correct=bool(first and matched_answers(first.doc_id, first.start, first.end, gold)),
        verdict=answer.verdict,
    )


def summarize(results: list[QuestionResult]) -> dict[str, float]:
    """hit@1, hit@3, MRR@10, recall@5, answer accuracy@1 and abstention precision/recall."""
    answerable = [r for r in results if r.answerable]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "hit@1": mean([hit_at_k(r.ranking, 1) for r in answerable]),
        "hit@3": mean([hit_at_k(r.ranking, 3) for r in answerable]),
        "mrr@10": mean([reciprocal_rank_at_k(r.ranking, 10) for r in answerable]),
        "recall@5": mean([recall_at_k(r.ranking, r.gold_count, 5) for r in answerable]),
        "answer_accuracy@1": mean([1.0 if r.evidence_correct else 0.0 for r in answerable]),
        "abstention_precision": abstention_precision([r.abstained for r in results], [r.answerable for r in results]),
        "abstention_recall": abstention_recall([r.abstained for r in results], [r.answerable for r in results]),
        # Verdicts of the answerable questions: how many are refused ("none"), and how many answered outright.
        "answerable_none": float(sum(r.verdict == "none" for r in answerable)),
        "answerable_answer": float(sum(r.verdict == "answer" for r in answerable)),
    }


def evaluate(
    retriever: Retriever,
    questions: list[EvalQuestion],
    answer_k: int = 5,
    settings: AnswerSettings | None = None,
) -> EvalReport:
    """Score every question of an eval set against an opened retriever."""
    settings = settings or AnswerSettings()
    results = [evaluate_question(retriever, question, answer_k, settings) for question in questions]
    return EvalReport(summarize(results), results, sections_of(results))


def sections_of(results: list[QuestionResult]) -> dict[str, dict[str, float]]:
    """Metrics of the untagged questions ("main") and of each tag, when a set has tags."""
    tags = sorted({tag for result in results for tag in result.tags})
    if not tags:
        return {}
    sections = {"main": summarize([r for r in results if not r.tags])}
    sections.update({tag: summarize([r for r in results if tag in r.tags]) for tag in tags})
    return sections
