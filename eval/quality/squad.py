"""SQuAD v1.1 / v2.0 as answer-sentence retrieval (ReQA): paragraphs, candidate sentences, gold sentences.

Sentences are cut by the indexer's own splitter, so the pool is the sentences the service can quote.
Articles at even positions (0, 2, ...) form the choosing half, odd positions the report half.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.chunking import Span, sentence_spans
from indexer.types import Document

HALVES = ("choose", "report", "all")


class SquadError(ValueError):
    """A file that is not SQuAD JSON."""


@dataclass(frozen=True)
class Paragraph:
    """One SQuAD context: its article, its place in the file and its sentences."""

    doc_id: str
    article: int
    title: str
    text: str
    sentences: tuple[Span, ...]


@dataclass(frozen=True)
class Question:
    """One SQuAD question; gold holds indexes into its paragraph's sentences (empty if unanswerable)."""

    qid: str
    text: str
    doc_id: str
    article: int
    gold: frozenset[int]
    impossible: bool


@dataclass(frozen=True)
class Squad:
    """A SQuAD file read as paragraphs and questions."""

    name: str
    sha256: str
    paragraphs: dict[str, Paragraph]
    questions: list[Question]
    articles: int


def in_half(article: int, half: str) -> bool:
    """Whether an article belongs to a half: even positions choose, odd ones report."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, got {half!r}")
    return half == "all" or (article % 2 == 0) == (half == "choose")


def sentence_holding(sentences: tuple[Span, ...], offset: int) -> int | None:
    """Index of the sentence containing a character offset; one in the gap between two goes to the next."""
    for number, span in enumerate(sentences):
        if offset < span.end:
            return number
    return None


def paragraph_id(article: int, title: str, number: int) -> str:
    """A readable, unique document id for a paragraph."""
    return f"{article:02d}-{re.sub(r'[^A-Za-z0-9]+', '_', title).strip('_')}/p{number:03d}"


def read_article(article: int, record: dict) -> tuple[list[Paragraph], list[Question]]:
    """One article's paragraphs and questions."""
    paragraphs, questions = [], []
    for number, entry in enumerate(record["paragraphs"]):
        doc_id, text = paragraph_id(article, record["title"], number), entry["context"]
        sentences = tuple(sentence_spans(text))
        paragraphs.append(Paragraph(doc_id, article, record["title"], text, sentences))
        for qa in entry["qas"]:
            starts = [answer["answer_start"] for answer in qa.get("answers", [])]
            gold = frozenset(found for start in starts if (found := sentence_holding(sentences, start)) is not None)
            questions.append(Question(qa["id"], qa["question"].strip(), doc_id, article, gold, bool(qa.get("is_impossible"))))
    return paragraphs, questions


def load_squad(path: Path) -> Squad:
    """Read a SQuAD JSON file (v1.1 or v2.0)."""
    try:
        data = path.read_bytes()
        articles = json.loads(data)["data"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SquadError(f"{path} is not a readable SQuAD file: {error}") from error
    paragraphs: dict[str, Paragraph] = {}
    questions: list[Question] = []
    for article, record in enumerate(articles):
        found, asked = read_article(article, record)
        paragraphs.update((paragraph.doc_id, paragraph) for paragraph in found)
        questions.extend(asked)
    return Squad(path.name, hashlib.sha256(data).hexdigest(), paragraphs, questions, len(articles))


def as_documents(paragraphs: list[Paragraph]) -> list[Document]:
    """Paragraphs as corpus documents, each its own document with its article as title."""
    return [
        Document(
            doc_id=p.doc_id,
            text=p.text,
            title=f"{p.title.replace('_', ' ')} ¶{int(p.doc_id.rsplit('p', 1)[1]) + 1}",
            sha256=hashlib.sha256(p.text.encode("utf-8")).hexdigest(),
        )
        for p in paragraphs
    ]


@dataclass(frozen=True)
class UniqueQuestion:
    """A distinct question string with every gold (doc_id, sentence) any of its copies has."""

    text: str
    article: int
    gold: frozenset[tuple[str, int]]
    impossible: bool


def unique_questions(questions: list[Question], half: str = "all") -> list[UniqueQuestion]:
    """Questions of a half merged by their text, as ReQA scores them."""
    merged: dict[str, UniqueQuestion] = {}
    for q in questions:
        if not in_half(q.article, half):
            continue
        gold = frozenset((q.doc_id, number) for number in q.gold)
        seen = merged.get(q.text)
        if seen is None:
            merged[q.text] = UniqueQuestion(q.text, q.article, gold, q.impossible)
        else:
            merged[q.text] = UniqueQuestion(q.text, seen.article, seen.gold | gold, seen.impossible and q.impossible)
    return list(merged.values())
