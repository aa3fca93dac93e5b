"""Extractive answers: rank the sentences of the best chunks with the learned ranker, quote the best, and say
whether it answers the question ("answer"), may not ("uncertain"), or the reports do not cover it ("none")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexer.storage.sentence_table import FLAGS
from service.core.answer_kinds import asked_kind, holds_kind
from service.core.candidates import gather_candidates
from service.core.confidence import Calibration, VerdictModel, answer_features, load_verdict_model
from service.core.fusion import fuse_scores, ranked
from service.core.quotes import FRAGMENT_WORDS, is_fragment, quote_for
from service.core.ranker import REPORTS_RANKER, AnswerRanker, RankerError, load_ranker, ranker_directory
from service.core.retrieval import RetrievalSettings, Retriever, check_k
from service.core.sentence_features import Candidates, feature_matrix
from service.core.types import Answer, Evidence, Passage, Quote

UNQUOTABLE = FLAGS.index("unquotable")
NO_ANSWER = "No answer: the indexed reports do not appear to address this question."
UNCERTAIN = "The reports may not answer this directly; the closest passage is "


# Chunks whose sentences compete to be quoted: more than the k shown, since the answer often sits in
# a lower chunk. SQuAD v1.1 choosing half, 64-token chunks: the gold sentence is a candidate for 0.895
# of questions with 5 chunks, 0.937 with 10 and 0.965 with 20; out-of-fold ranker R@1 0.703 with 10,
# 0.700 with 20.
ANSWER_CHUNKS = 10
# Within the few reports a question names or a filter picks, ten chunks are a small part of a 30-page report:
# on 476 questions written about the 28 FTA reports the gold sentence is a candidate for 0.67 of them from 10
# chunks, 0.80 from 20, 0.96 from 40 (passages counted); the ranker learns to choose among them.
REPORT_ANSWER_CHUNKS = 40
# At most this many documents in scope count as "a few reports".
FEW_REPORTS = 3
# The runners-up a reader sees beside the answer, each with the probability it answers: when the first quote is
# wrong the right one is often second or third (FTA questions, out of fold: right first 0.63, within three 0.78).
MIN_EVIDENCE = 3
# The passages whose words the confidence features read: the depth it was fit at (k=5), whatever k a
# reader asks to be shown, so asking for fewer passages does not change whether a question is answered.
CONFIDENCE_PASSAGES = 5


def shipped_models(model: str, in_reports: bool = False) -> tuple[AnswerRanker | None, VerdictModel]:
    """The answer ranker and verdict models shipped for an encoder (the reports ranker, where one ships, for a
    question asked within a few reports), or the fused-score fallback's."""
    return ranker_models(model, ranker_directory(model), in_reports)


def ranker_models(model: str, directory: Path, in_reports: bool) -> tuple[AnswerRanker | None, VerdictModel]:
    """The ranker in a directory laid out as the shipped one (the general ranker, and in reports/ the one for
    questions within a few reports, used for those where it exists) and its verdict models."""
    general = models_in(model, directory)
    if in_reports and general[0] is not None:
        reports = models_in(model, directory / REPORTS_RANKER)
        if reports[0] is not None:
            return reports
    return general


@lru_cache(maxsize=16)
def models_in(model: str, directory: Path) -> tuple[AnswerRanker | None, VerdictModel]:
    """The ranker of one directory and its verdict models, each loaded once (at start-up for the shipped ones)."""
    ranker = load_ranker(model, directory)
    return ranker, load_verdict_model(ranker.verdict_path if ranker else None)


@lru_cache(maxsize=1)
def fused_verdict_model() -> VerdictModel:
    """The verdict models of fused sentence scores, read once rather than on every answer."""
    return load_verdict_model()


@dataclass(frozen=True)
class AnswerSettings:
    """How passages are found, how evidence is chosen and when to abstain."""

    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    # A coverage model of one's own (`eval calibrate`); None means the one shipped with the encoder's ranker.
    calibration: Calibration | None = None
    # Verdict "none" when coverage is below abstain_below (None: the coverage model's threshold).
    abstain_below: float | None = None
    # Verdict "answer" when the answer probability reaches answer_from (None: the answer model's threshold).
    answer_from: float | None = None
    max_evidence: int = 5
    # False ranks sentences by fused dense and BM25 scores instead of the learned ranker.
    use_ranker: bool = True
    # A ranker directory of one's own, laid out as the shipped one (train-ranker --out); None: the shipped one.
    ranker: Path | None = None


@dataclass(frozen=True)
class Ranking:
    """Candidate sentences best first (quotable ones only), with their scores and the confidence features."""

    sentence_ids: list[int]
    scores: list[float]
    features: dict[str, float]


def fused_ranking(retriever: Retriever, text: str, candidates: Candidates, settings: AnswerSettings) -> list[tuple[int, float]]:
    """Candidates by fused dense and BM25 scores, with the passages' dense:lexical balance."""
    retrieval = settings.retrieval
    features: dict[str, dict[int, float]] = {}
    if retrieval.mode != "lexical":
        features["dense"] = dict(zip(candidates.sentence_ids, candidates.dense.tolist()))
    if retrieval.mode != "dense":
        features["lexical"] = dict(zip(candidates.sentence_ids, candidates.lexical.tolist()))
    weights = {"dense": retrieval.dense_share, "lexical": 1 - retrieval.dense_share}
    fused = fuse_scores(features, weights, retrieval.fusion, retrieval.rrf_k)
    return ranked(fused, len(fused))


def rank_candidates(
    retriever: Retriever, text: str, candidates: Candidates, matrix: np.ndarray, ranker: AnswerRanker | None, settings: AnswerSettings
) -> list[tuple[int, float]]:
    """(row, score) of every candidate, best first: by the learned ranker, or by fused scores without one."""
    if ranker is None:
        row_of = {sentence_id: row for row, sentence_id in enumerate(candidates.sentence_ids)}
        return [(row_of[sentence_id], score) for sentence_id, score in fused_ranking(retriever, text, candidates, settings)]
    scores = ranker.scores(matrix)
    order = np.lexsort((np.asarray(candidates.sentence_ids), -scores))
    return list(zip(order.tolist(), scores[order].tolist()))


def quotable_rows(retriever: Retriever, candidates: Candidates, order: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The ranked rows a reader may be shown: no title, heading or byline, no repeated line."""
    table, kept, seen = retriever.index.sentence_table, [], {}
    # Lists, not arrays: reading one element of a list is a tenth of the cost of an array's.
    unquotable, hashes = table.flags[candidates.ids, UNQUOTABLE].tolist(), table.text_hash[candidates.ids].tolist()
    # Only a sentence of few terms can be a fragment, so only those are read.
    short = (table.distinct_terms[candidates.ids] < FRAGMENT_WORDS).tolist()
    for row, score in order:
        # A heading or title names a topic but says nothing about it, so it is never quoted as an answer; nor
        # is a fragment: a table cell, a heading the PDF did not mark, an address line.
        if unquotable[row] or (short[row] and is_fragment(candidates.read_text(candidates.sentence_ids[row]))):
            continue
        if repeats(candidates, row, seen.get(hashes[row])):
            continue
        seen[hashes[row]] = row
        kept.append((row, score))
    return kept


def repeats(candidates: Candidates, row: int, earlier: int | None) -> bool:
    """Whether a row's sentence repeats the text of an earlier kept row with the same hash."""
    return earlier is not None and candidates.read_text(candidates.sentence_ids[row]) == candidates.read_text(candidates.sentence_ids[earlier])


def rank_sentences(
    retriever: Retriever, text: str, passages: list[Passage], candidates: Candidates, ranker: AnswerRanker | None, settings: AnswerSettings
) -> Ranking:
    """The quotable candidates best first, and the features the confidence model reads."""
    matrix = feature_matrix(text, candidates, retriever.index.sentence_lexical)
    order = rank_candidates(retriever, text, candidates, matrix, ranker, settings)
    order = quotable_rows(retriever, candidates, order)
    first_text = candidates.read_text(candidates.sentence_ids[order[0][0]]) if order else ""
    features = answer_features(retriever.index.sentence_lexical, text, passages, matrix, order, first_text)
    return Ranking([candidates.sentence_ids[row] for row, _ in order], [score for _, score in order], features)


def choose_evidence(retriever: Retriever, ranking: Ranking, ranker: AnswerRanker | None, settings: AnswerSettings) -> list[Evidence]:
    """The best MIN_EVIDENCE sentences, then each next one only while the ranker also judges it an answer."""
    evidence: list[Evidence] = []
    for sentence_id, score in zip(ranking.sentence_ids, ranking.scores):
        if len(evidence) == settings.max_evidence:
            break
        if ranker is None:
            evidence.append(evidence_for(retriever, sentence_id, score))
            continue
        probability = ranker.probability(score)
        if len(evidence) >= MIN_EVIDENCE and probability < ranker.manifest.extra_evidence_probability:
            break
        evidence.append(evidence_for(retriever, sentence_id, probability))
    return evidence


def evidence_for(retriever: Retriever, sentence_id: int, score: float) -> Evidence:
    """A stored sentence as Evidence with its document title."""
    sentence = retriever.index.sentences[sentence_id]
    records = retriever.index.records
    pages, section = records.context(sentence.doc_id, sentence.start, sentence.end)
    return Evidence(sentence.text, sentence.doc_id, records.title(sentence.doc_id), sentence.start, sentence.end, round(score, 6), pages, section)


def compose_answer(best: Evidence) -> str:
    """The quoted passage verbatim, with its source title."""
    return f"“{best.text}” ({best.title})"


@dataclass(frozen=True)
class Draft:
    """Everything found for a question before deciding whether to answer."""

    passages: list[Passage]
    evidence: list[Evidence]
    features: dict[str, float]
    notice: str | None = None
    # Every quotable candidate sentence, best first (eval reads ranks past the quoted evidence).
    ranking: list[int] = field(default_factory=list)
    models: VerdictModel | None = None
    quote: Quote | None = None
    # False when the question asks for an amount, a count or a date and the quote holds none.
    holds_asked: bool = True


@dataclass(frozen=True)
class Prepared:
    """A question's retrieval text, shown passages and candidate sentences (None when filters match nothing)."""

    text: str
    passages: list[Passage]
    candidates: Candidates | None
    notice: str | None = None
    # The passages the confidence features read (CONFIDENCE_PASSAGES of them when ranked).
    context: list[Passage] = field(default_factory=list)
    # Whether the question is asked within a few reports (the candidates come from REPORT_ANSWER_CHUNKS chunks).
    in_reports: bool = False


def prepare_candidates(retriever: Retriever, question: str, k: int, settings: AnswerSettings, ranked: bool) -> Prepared:
    """Retrieve the k passages to show and the candidate sentences to rank (from more chunks when ranked)."""
    text, query_vector, retrieval = retriever.scoped_query(question, settings.retrieval)
    scores = retriever.query_scores(text, query_vector, retrieval)
    if scores.allowed is not None and scores.allowed.empty:
        return Prepared(text, [], None, scores.allowed.notice)
    in_reports = bool(retrieval.filters and retrieval.filters.doc_ids and len(retrieval.filters.doc_ids) <= FEW_REPORTS)
    depth = REPORT_ANSWER_CHUNKS if in_reports else ANSWER_CHUNKS
    chunks, chunk_features = retriever.ranked_chunks(text, query_vector, max(k, depth), retrieval, scores)
    shown = [retriever.passage(chunk_id, score) for chunk_id, score in chunks[: max(k, CONFIDENCE_PASSAGES if ranked else 0)]]
    passages = shown[:k]
    if not chunks:
        return Prepared(text, passages, None)
    # Without the ranker, the fused scores pick among the shown passages' sentences, as they always did.
    # The ranked candidates come from the same chunks however many passages are shown, so k never changes the answer.
    chosen = chunks[:depth] if ranked else chunks[:k]
    context = shown[:CONFIDENCE_PASSAGES] if ranked else passages
    candidates = gather_candidates(retriever, text, query_vector, chosen, chunk_features, scores)
    return Prepared(text, passages, candidates, context=context, in_reports=in_reports)


def draft_answer(retriever: Retriever, question: str, k: int, settings: AnswerSettings) -> Draft:
    """Retrieve passages, rank the sentences of the best chunks and measure the confidence features."""
    k = check_k(k)
    # The ranker's verdict models read its scores; fused scores have their own (service/verdict.json).
    model = retriever.encoder.model_name
    directory = settings.ranker or ranker_directory(model)
    ranker, models = ranker_models(model, directory, False) if settings.use_ranker else (None, fused_verdict_model())
    if settings.ranker is not None and ranker is None:
        raise RankerError(f"{directory} holds no answer ranker ({directory / 'ranker.json'} is missing)")
    prepared = prepare_candidates(retriever, question, k, settings, ranker is not None)
    if prepared.candidates is None:
        return Draft(prepared.passages, [], {}, prepared.notice)
    if ranker is not None and prepared.in_reports:
        ranker, models = ranker_models(model, directory, True)
    ranking = rank_sentences(retriever, prepared.text, prepared.context, prepared.candidates, ranker, settings)
    evidence = choose_evidence(retriever, ranking, ranker, settings)
    quote = quote_for(retriever.index, evidence[0], ranking.sentence_ids[0]) if evidence else None
    holds_asked = quote is None or holds_kind(quote.text, asked_kind(question))
    return Draft(prepared.passages, evidence, ranking.features, ranking=ranking.sentence_ids, models=models, quote=quote, holds_asked=holds_asked)


@dataclass(frozen=True)
class Verdict:
    """Whether the first evidence answers a draft's question, and the two probabilities behind that."""

    verdict: str
    # P(the first evidence answers the question | the corpus covers it).
    confidence: float
    # P(the corpus covers the question at all).
    coverage: float

    @property
    def abstained(self) -> bool:
        """True when no quote is presented as an answer."""
        return self.verdict == "none"


def judge(draft: Draft, settings: AnswerSettings) -> Verdict:
    """The verdict on a draft: "none" below the coverage threshold, else "answer" or "uncertain" by the
    answer probability."""
    if not draft.evidence:
        return Verdict("none", 0.0, 0.0)
    models = draft.models or fused_verdict_model()
    coverage_model = settings.calibration or models.coverage
    coverage = coverage_model.confidence(draft.features)
    confidence = models.answer.confidence(draft.features)
    if coverage < (coverage_model.threshold if settings.abstain_below is None else settings.abstain_below):
        verdict = "none"
    else:
        sure = confidence >= (models.answer.threshold if settings.answer_from is None else settings.answer_from)
        # A quote without the amount, count or date asked for may be on topic, but it does not answer.
        verdict = "answer" if sure and draft.holds_asked else "uncertain"
    return Verdict(verdict, round(confidence, 4), round(coverage, 4))


def answer_text(draft: Draft, verdict: Verdict) -> str:
    """The reply a reader sees: the best sentence quoted (as the closest passage when uncertain), or a plain no-answer."""
    if verdict.abstained:
        return draft.notice or NO_ANSWER
    quote = compose_answer(draft.quote or draft.evidence[0])
    return quote if verdict.verdict == "answer" else UNCERTAIN + quote


def finish_answer(draft: Draft, verdict: Verdict, took_ms: float) -> Answer:
    """The Answer record for a judged draft."""
    return Answer(
        answer=answer_text(draft, verdict),
        abstained=verdict.abstained,
        verdict=verdict.verdict,
        confidence=verdict.confidence,
        coverage=verdict.coverage,
        evidence=[] if verdict.abstained else draft.evidence,
        passages=draft.passages,
        took_ms=round(took_ms, 3),
        notice=draft.notice,
        quote=None if verdict.abstained else draft.quote,
    )


def answer_question(retriever: Retriever, question: str, k: int = 5, settings: AnswerSettings = AnswerSettings()) -> Answer:
    """Retrieve k passages for the question, answer from their sentences and give the verdict."""
    started = time.perf_counter()
    draft = draft_answer(retriever, question, k, settings)
    return finish_answer(draft, judge(draft, settings), (time.perf_counter() - started) * 1000)
