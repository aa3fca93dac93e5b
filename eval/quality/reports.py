"""Questions about real inspection reports, each with its report and gold passage: is the first quote right?"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from eval.quality.metrics import mean
from service.core.answer import AnswerSettings, answer_question
from service.core.filters import Filters
from service.core.retrieval import Retriever

# How far past the first quote a reader's eye goes: the figure "counting the characters after the quote".
READ_ON_CHARACTERS = 350
NON_WORD = re.compile(r"[\W_]+")


class ReportQuestionsError(ValueError):
    """A questions file that cannot be read."""


@dataclass(frozen=True)
class ReportQuestion:
    """A question about one report: its kind and the report's own words that answer it (None: unanswerable)."""

    doc: str
    question: str
    kind: str
    gold: str | None

    @property
    def answerable(self) -> bool:
        """Whether the report answers it."""
        return self.gold is not None


@dataclass(frozen=True)
class ReportResult:
    """How one question fared, open (whole index) or closed (its report only)."""

    question: ReportQuestion
    doc_id: str | None
    verdict: str
    first_quote: str | None
    first_right: bool
    top3_right: bool
    read_on_right: bool


def load_report_questions(path: Path, reports: Path | None = None) -> list[ReportQuestion]:
    """The questions of a JSONL file of {"doc", "question", "kind", "gold"} lines; a gold given as
    {"start", "end", "sha256"} (offsets, so that no report text is copied) is read from the report's PDF in reports."""
    questions, texts = [], ReportTexts(reports)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            gold = row.get("gold")
            if isinstance(gold, dict):
                gold = texts.passage(str(row["doc"]), int(gold["start"]), int(gold["end"]), str(gold["sha256"]))
            questions.append(ReportQuestion(str(row["doc"]), str(row["question"]), str(row.get("kind", "")), gold))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ReportQuestionsError(f"{path}:{number}: not a question line ({error})") from error
    if not questions:
        raise ReportQuestionsError(f"{path}: no questions")
    return questions


class ReportTexts:
    """Reports' text as pdfminer.six extracts it, whitespace runs made one space: what offset golds count in."""

    def __init__(self, folder: Path | None) -> None:
        self.folder, self.texts = folder, {}

    def passage(self, doc: str, start: int, end: int, sha256: str) -> str:
        """The gold passage at [start, end) of a report, checked against its hash."""
        if self.folder is None:
            raise ReportQuestionsError(f"{doc}: the gold is given by offsets; say where the reports are (--reports)")
        if doc not in self.texts:
            from pdfminer.high_level import extract_text

            pdf = self.folder / f"{doc}.pdf"
            if not pdf.is_file():
                raise ReportQuestionsError(f"{pdf}: no such report")
            self.texts[doc] = " ".join(extract_text(pdf).split())
        passage = self.texts[doc][start:end]
        if hashlib.sha256(passage.encode()).hexdigest()[: len(sha256)] != sha256:
            raise ReportQuestionsError(f"{doc}: the text at {start}-{end} is not the gold passage (another version of the report or of pdfminer.six?)")
        return passage


def comparable(text: str) -> str:
    """Text for comparing quotes: case, whitespace, punctuation, quote marks and dashes ignored (pdfminer's gold)."""
    return NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def holds(quote: str, gold: str) -> bool:
    """Whether a quote holds the whole gold passage."""
    return bool(comparable(gold)) and comparable(gold) in comparable(quote)


def document_of(question: ReportQuestion, doc_ids: list[str]) -> str | None:
    """The index's id of the question's report: its file name with or without the extension."""
    return next((doc_id for doc_id in doc_ids if doc_id == question.doc or Path(doc_id).stem == question.doc), None)


def ask_one(retriever: Retriever, question: ReportQuestion, doc_id: str | None, closed: bool, settings: AnswerSettings) -> ReportResult:
    """Answer one question as the service would and score its quotes against the gold."""
    if closed and doc_id is not None:
        settings = replace(settings, retrieval=replace(settings.retrieval, filters=Filters(doc_ids=[doc_id])))
    answer = answer_question(retriever, question.question, 5, settings)
    # The first quote is the answer's passage; the next ones are the evidence sentences after the first.
    quotes = [answer.quote, *answer.evidence[1:]] if answer.quote else answer.evidence
    gold = question.gold or ""
    right = [bool(gold) and quote.doc_id == doc_id and holds(quote.text, gold) for quote in quotes]
    first_right = bool(right[:1] and right[0])
    read_on = first_right
    if quotes and quotes[0].doc_id == doc_id and gold and not first_right:
        document = retriever.index.documents[doc_id].text
        read_on = holds(document[quotes[0].start : quotes[0].end + READ_ON_CHARACTERS], gold)
    return ReportResult(question, doc_id, answer.verdict, quotes[0].text if quotes else None, first_right, any(right[:3]), read_on)


def figures(results: list[ReportResult]) -> dict[str, float]:
    """The table's figures: first quote right, gold in the first three, the quote read on, and the verdicts.

    first_right = |answerable with a right first quote| / |answerable|; sure_right, sure_wrong: verdict "answer"
    with a right or a wrong first quote over |answerable|; unanswerable_answered: verdict "answer" over |unanswerable|.
    """
    answerable = [result for result in results if result.question.answerable]
    unanswerable = [result for result in results if not result.question.answerable]
    return {
        "questions": float(len(results)),
        "answerable": float(len(answerable)),
        "first_right": mean([float(r.first_right) for r in answerable]),
        "top3_right": mean([float(r.top3_right) for r in answerable]),
        "read_on_right": mean([float(r.read_on_right) for r in answerable]),
        "sure_right": mean([float(r.verdict == "answer" and r.first_right) for r in answerable]),
        "sure_wrong": mean([float(r.verdict == "answer" and not r.first_right) for r in answerable]),
        "unanswerable_answered": mean([float(r.verdict == "answer") for r in unanswerable]),
    }


def by_kind(results: list[ReportResult]) -> dict[str, dict[str, float]]:
    """figures() over all questions and over each kind of question."""
    kinds = sorted({result.question.kind for result in results})
    return {"all": figures(results), **{kind: figures([r for r in results if r.question.kind == kind]) for kind in kinds}}
