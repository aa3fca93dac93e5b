"""Rows for the answer ranker from questions about real reports, asked through the service's answer path.

A candidate is gold when its sentence lies within the gold passage or holds it, or when the passage the
service would quote from it (a lead with what follows) holds the gold. Rows carry a report number for
folds, so no fold's ranker has seen questions about the reports it is scored on.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from eval.quality.answer_training import Collected
from eval.quality.reports import ReportQuestion, comparable, document_of, holds
from service.core.answer import AnswerSettings, prepare_candidates
from service.core.confidence import question_features
from service.core.quotes import passage_end
from service.core.retrieval import Retriever
from service.core.sentence_features import FEATURES, feature_matrix

# Report rows get article numbers from here on, four apart so that answer_training.fold_of spreads the reports
# over the folds (SQuAD's articles number in the hundreds).
FIRST_REPORT_ARTICLE = 100_000
# A sentence this short (in comparable characters) is not taken as part of a gold passage.
LEAST_GOLD_PART = 16


def report_article(report: int) -> int:
    """The article number of the report-th report: fold_of gives consecutive reports consecutive folds."""
    return FIRST_REPORT_ARTICLE + 4 * report


def is_gold(retriever: Retriever, sentence_id: int, doc_id: str, gold: str) -> bool:
    """Whether quoting this sentence quotes the gold: it is part of the gold, holds it, or leads into it."""
    index = retriever.index
    sentence = index.sentences[sentence_id]
    if sentence.doc_id != doc_id:
        return False
    own, wanted = comparable(sentence.text), comparable(gold)
    if len(own) >= LEAST_GOLD_PART and (own in wanted or wanted in own):
        return True
    last = index.sentences[passage_end(index, sentence_id)]
    return last.end > sentence.end and holds(index.records.text(index.records.position(doc_id))[sentence.start : last.end], gold)


def collect_report_one(retriever: Retriever, question: ReportQuestion, doc_id: str, article: int, settings: AnswerSettings) -> Collected:
    """Candidates, features and labels of one report question (asked of the whole index, as a reader would)."""
    prepared = prepare_candidates(retriever, question.question, 5, settings, ranked=True)
    candidates = prepared.candidates
    if candidates is None:
        return Collected(article, question.answerable, np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=bool), {})
    matrix = feature_matrix(prepared.text, candidates, retriever.index.sentence_lexical)
    gold = question.gold or ""
    labels = np.array([bool(gold) and is_gold(retriever, sentence_id, doc_id, gold) for sentence_id in candidates.sentence_ids], dtype=bool)
    base = question_features(retriever.index.sentence_lexical, prepared.text, prepared.context, matrix)
    return Collected(article, question.answerable, matrix, labels, base, prepared.text, tuple(candidates.texts))


def report_articles(questions: list[ReportQuestion]) -> dict[str, int]:
    """Each report the questions ask about, by name, to its article number (reports in sorted order)."""
    return {doc: report_article(number) for number, doc in enumerate(sorted({question.doc for question in questions}))}


def collect_reports(retriever: Retriever, questions: list[ReportQuestion], articles: dict[str, int], progress: bool = False) -> list[Collected]:
    """Rows of every question about a report the index holds, each report its own article (report_articles)."""
    doc_ids = list(retriever.index.documents)
    settings, rows = AnswerSettings(), []
    for question in tqdm(questions, desc="report questions", disable=not progress):
        doc_id = document_of(question, doc_ids)
        if doc_id is None:
            raise ValueError(f"the reports index holds no report named {question.doc}")
        rows.append(collect_report_one(retriever, question, doc_id, articles[question.doc], settings))
    return rows
