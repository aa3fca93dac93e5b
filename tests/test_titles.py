"""Titles, headings, bylines and repeated title lines are never quoted as evidence, in any format.

A real index of title-led documents in every format, built with the real model: questions worded
like the titles (where a title would win on similarity) must get body sentences back, never furniture.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import docx
import numpy as np
import pytest
from fpdf import FPDF

from indexer.build import build_index
from indexer.chunking import sentence_spans
from indexer.encoding.embedding import Encoder
from indexer.reading.furniture import byline_spans, document_furniture, is_byline, matching_lines, merge_spans, normalise, title_line
from indexer.reading.loading import load_corpus
from indexer.reading.structure import heading_span
from indexer.storage.records import RecordStore, write_records
from indexer.storage.store import Index, open_index
from indexer.types import Document, Heading, Sentence
from service.core.answer import AnswerSettings, answer_question
from service.core.retrieval import RetrievalSettings, Retriever

ROADS_FINDING = "The roads policing unit caught 312 drivers using a mobile phone at the wheel in 2018."
FRAUD_FINDING = "By 2017, the force had trained two hundred officers to investigate online fraud."
TEXTS = {
    "roads.txt": f"Roads policing in Northshire\n\n{ROADS_FINDING} Collisions on the A40 fell by a fifth after average "
    "speed cameras were installed.\n\nThe unit has too few advanced drivers to cover every night shift.\n",
    "fraud.txt": "Fraud investigation in Westshire\nBy Jane Smith, HM Inspector of Constabulary\nPublished 12 May 2017\n\n"
    f"{FRAUD_FINDING}\n\nVictims waited nine days on average before an investigator first called them.\n",
    # Laid out as the bundled statement is: the title twice, and again later as a running line.
    "cyber.txt": "Cybercrime in Eastshire\n\nCybercrime in Eastshire\n\nThe cyber unit examined 640 seized phones last year, "
    "but the backlog of devices awaiting examination grew to five months.\n\nCybercrime in Eastshire\n\n"
    "Officers who take reports of online harassment have not been trained to preserve digital evidence.\n",
    # A title with no blank line after it: short, no sentence ending, and the next line opens a sentence.
    "missing.txt": "Missing children in Southshire\nThe force found most missing children within a day, and every "
    "child who returned was offered an interview with an independent worker.\n\nRepeat episodes were not always "
    "linked to the same child's earlier records.\n",
    "firearms.md": "---\ntitle: Armed policing in Southshire\nforce: Southshire Police\n---\nArmed policing in Southshire\n\n"
    "## Response times\n\nArmed response vehicles reached ninety per cent of urgent calls within twelve minutes, "
    "faster than the national target.\n",
}
HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Stop and search in Midshire</title><meta name="force" content="Midshire Police"></head>
<body><nav><a href="/">Home</a></nav><main><article><h1>Stop and search in Midshire</h1>
<p>Published 3 March 2021</p>
<p>Officers recorded proper grounds for a search in 94 of the 100 records that inspectors examined, and body-worn cameras were switched on in most searches.</p>
<h2>Community scrutiny</h2>
<p>A panel of local residents reviews a sample of the footage every month and writes to the chief constable about any search that concerns it.</p>
</article></main></body></html>"""
PDF_TITLE = ["Neighbourhood policing in Upshire:", "an inspection of the local", "teams and their work"]
PDF_BODY = [
    ["Each ward in Upshire has a named community support officer who holds a street surgery", "every fortnight, and residents said they knew how to contact their local team."],
    ["Response officers were taken away from neighbourhood work on most shifts to cover calls, so", "problem-solving plans for anti-social behaviour were often left unfinished."],
]
# Every line that names or frames a document: none may ever be quoted.
FURNITURE = {
    "roads.txt": ["Roads policing in Northshire"],
    "fraud.txt": ["Fraud investigation in Westshire", "By Jane Smith, HM Inspector of Constabulary", "Published 12 May 2017"],
    "cyber.txt": ["Cybercrime in Eastshire"] * 3,
    "missing.txt": ["Missing children in Southshire"],
    "firearms.md": ["Armed policing in Southshire"],
    "stop-search.html": ["Stop and search in Midshire", "Published 3 March 2021"],
    "calls.docx": ["Call handling in Northshire", "An inspection of the force control room", "By Sam Patel"],
    "neighbourhood.pdf": [" ".join(PDF_TITLE), "By Priya Shah, HM Inspector of Constabulary"],
}
NEVER_QUOTED = {normalise(line) for lines in FURNITURE.values() for line in lines} | {"Response times", "Community scrutiny"}
TITLE_QUESTIONS = [
    "Roads policing in Northshire", "Fraud investigation in Westshire", "Who is Jane Smith, HM Inspector of Constabulary?",
    "What was published on 12 May 2017?", "Cybercrime in Eastshire", "Missing children in Southshire",
    "Armed policing in Southshire", "Stop and search in Midshire", "Call handling in Northshire",
    "An inspection of the force control room", "What about Sam Patel?", "Neighbourhood policing in Upshire: an inspection of the local teams",
    "What did the inspector say about response times?", "Community scrutiny",
]
BODY_QUESTIONS = {
    "How many drivers did the roads policing unit catch using a mobile phone?": ROADS_FINDING,
    "How many officers had the force trained to investigate online fraud by 2017?": FRAUD_FINDING,
    "How many seized phones did the cyber unit examine?": "The cyber unit examined 640 seized phones last year, but the backlog of devices awaiting examination grew to five months.",
    "How quickly did armed response vehicles reach urgent calls?": "Armed response vehicles reached ninety per cent of urgent calls within twelve minutes, faster than the national target.",
    "How quickly are 999 calls answered in the control room?": "The control room answered 92 per cent of emergency calls within ten seconds.",
    "Do residents know how to contact their local neighbourhood team?": " ".join(PDF_BODY[0]),
}


def write_title_pdf(path: Path) -> Path:
    """A PDF whose cover title runs over three large lines (too long for a heading), then a byline and body."""
    pdf = FPDF(format="A4")
    pdf.set_title("Upshire neighbourhood policing")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", size=24)
    for row, line in enumerate(PDF_TITLE):
        pdf.set_xy(10, 40 + 11 * row)
        pdf.cell(0, 10, line)
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(10, 85)
    pdf.cell(0, 6, FURNITURE["neighbourhood.pdf"][1])
    for number, lines in enumerate(PDF_BODY):
        for row, line in enumerate(lines):
            pdf.set_xy(10, 100 + 25 * number + 6 * row)
            pdf.cell(0, 6, line)
    pdf.output(str(path))
    return path


def write_title_docx(path: Path) -> Path:
    """A Word report with Title and Subtitle styles, a byline paragraph and body paragraphs."""
    document = docx.Document()
    document.add_heading("Call handling in Northshire", level=0)
    document.add_paragraph("An inspection of the force control room", style="Subtitle")
    document.add_paragraph("By Sam Patel")
    document.add_paragraph("The control room answered 92 per cent of emergency calls within ten seconds.")
    document.add_paragraph("Callers to the non-emergency number waited eleven minutes on average, and one in five gave up.")
    document.save(str(path))
    return path


@pytest.fixture(scope="module")
def title_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Title-led documents in every format the loader reads."""
    root = tmp_path_factory.mktemp("titles")
    for name, text in TEXTS.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "stop-search.html").write_text(HTML_PAGE, encoding="utf-8")
    write_title_docx(root / "calls.docx")
    write_title_pdf(root / "neighbourhood.pdf")
    return root


@pytest.fixture(scope="module")
def title_index(title_corpus: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Index:
    """A real index of the title corpus."""
    out = tmp_path_factory.mktemp("titles-index") / "index"
    build_index(title_corpus, out, encoder)
    return open_index(out, encoder.model_name, encoder.dimension)


@pytest.fixture(scope="module")
def title_retriever(title_index: Index, encoder: Encoder) -> Retriever:
    return Retriever(title_index, encoder)


def within_furniture(document: Document, start: int, end: int) -> bool:
    """Whether a span lies inside one of the document's heading lines or furniture spans."""
    ends = [document.text.find("\n", h.start) for h in document.headings]
    lines = [(h.start, end if end >= 0 else len(document.text)) for h, end in zip(document.headings, ends)]
    return any(left <= start and end <= right for left, right in lines + list(document.furniture))


def test_every_format_records_its_furniture(title_corpus: Path) -> None:
    documents, skipped = load_corpus(title_corpus)
    assert not skipped
    for document in documents:
        marked = [document.text[left:right] for left, right in document.furniture]
        marked += [heading.text for heading in document.headings]
        for line in FURNITURE[document.doc_id]:
            assert any(normalise(line) in normalise(span) for span in marked), (document.doc_id, line, marked)
    fraud = next(d for d in documents if d.doc_id == "fraud.txt")
    assert not within_furniture(fraud, fraud.text.index(FRAUD_FINDING), fraud.text.index(FRAUD_FINDING) + len(FRAUD_FINDING))


def test_the_title_questions_are_the_worst_case(title_index: Index, title_retriever: Retriever) -> None:
    """Without the rule, a title or byline would be the nearest sentence to most of these questions."""
    vectors = np.asarray(title_index.sentence_vectors[list(range(len(title_index.sentences)))])
    nearest_is_furniture = 0
    for question in TITLE_QUESTIONS:
        _, vector = title_retriever.query(question)
        best = title_index.sentences[int(np.argmax(vectors @ vector[0]))]
        nearest_is_furniture += within_furniture(title_index.documents[best.doc_id], best.start, best.end)
    assert nearest_is_furniture >= len(TITLE_QUESTIONS) - 2


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_no_evidence_is_ever_a_title_heading_or_byline(title_index: Index, title_retriever: Retriever, mode: str) -> None:
    # Never abstain, so every evidence item the ranking keeps is checked, not only the first.
    settings = AnswerSettings(retrieval=RetrievalSettings(mode=mode), abstain_below=0.0)
    for question in TITLE_QUESTIONS + list(BODY_QUESTIONS):
        answer = answer_question(title_retriever, question, k=5, settings=settings)
        assert answer.evidence, question
        for item in answer.evidence:
            assert normalise(item.text.strip("# ")) not in NEVER_QUOTED, (question, item.text)
            assert not within_furniture(title_index.documents[item.doc_id], item.start, item.end), (question, item.text)
            assert normalise(item.text) != normalise(item.title), (question, item.text)


def test_the_body_sentence_that_answers_comes_first(title_retriever: Retriever) -> None:
    for question, finding in BODY_QUESTIONS.items():
        answer = answer_question(title_retriever, question, k=5)
        assert answer.evidence and answer.evidence[0].text == finding, (question, answer.evidence[:1])


def test_plain_text_title_rule() -> None:
    assert title_line("Roads policing in Northshire\n\nThe unit is good. It is.") == (0, 28)
    assert title_line("\n  Roads policing 2018  \nThe unit is good.") == (3, 22)
    assert title_line("Was the force effective?\n\nMostly.") == (0, 24)  # a blank line after it makes it a title
    assert title_line("The force has made good progress in\nimproving its vetting.") is None  # a wrapped first line
    assert title_line("The force improved its vetting.\nIt now complies with policy.") is None  # a sentence
    assert title_line("The force improved. Vetting now complies with policy.\n\nMore.") is None  # two sentences: a paragraph
    assert title_line("A title and nothing else") is None  # the whole document is never furniture
    assert title_line("x" * 151 + "\n\nBody.") is None


def test_bylines_and_datelines_are_short_whole_lines() -> None:
    for line in ("By Jane Smith", "By Jane Smith, HM Inspector of Constabulary", "By Matt Parr and Zoe Billingham",
                 "Written by J. R. Smith", "Author: Priya Shah", "Published 12 May 2017", "Date: 2017-05-12",
                 "Updated on 3 March 2018", "Dated May 2017", "First published: Tuesday 12 May 2017"):
        assert is_byline(line), line
    for line in ("By 2017, the force had trained two hundred officers.", "By 2017, the force had",
                 "By March, the force had improved", "By the end of 2017 the force had cut the backlog.",
                 "By Christmas Day, Officers had cleared the backlog", "By HMICFRS", "Published in 2017, the report found gaps.",
                 "Date of the next inspection is not yet set", "By Jane Smith, who led the inspection, the force was praised.",
                 "By " + "Jane Smith, " * 9 + "HM Inspector"):
        assert not is_byline(line), line
    text = "Title\nBy Jane Smith\n\nBy 2017, the force had improved.\nIt said By Jane Smith"
    assert [text[a:b] for a, b in byline_spans(text)] == ["By Jane Smith"]


def test_repeated_title_lines_and_merged_spans() -> None:
    text = "Cybercrime in Eastshire\n\nCybercrime  in Eastshire \n\nCybercrime in Eastshire is a growing problem.\n"
    assert [text[a:b] for a, b in matching_lines(text, 0, "Cybercrime in Eastshire")] == ["Cybercrime in Eastshire", "Cybercrime  in Eastshire"]
    assert matching_lines(text, 0, "") == [] and matching_lines(text, 0, None) == []
    assert merge_spans([(25, 49), (0, 23), (60, 70)], text) == ((0, 49), (60, 70))
    front = "---\ntitle: Vetting\n---\nVetting\n\nThe force vets its staff.\n"
    assert [front[a:b] for a, b in document_furniture(front, front.index("Vetting\n\n"), "Vetting")] == ["Vetting"]


def test_a_title_line_is_never_glued_to_the_first_sentence() -> None:
    for text in ("Roads policing in Northshire\n\nThe unit caught 312 drivers.", "Roads policing in Northshire\nThe unit caught 312 drivers.",
                 "Fraud in Westshire\nBy Jane Smith\nBy 2017, the force had trained officers."):
        spans = sentence_spans(text)
        assert text[spans[0][0] : spans[0][1]] == text.split("\n")[0]
        furniture = document_furniture(text, 0, None, [title_line(text)])
        assert furniture
        # Every sentence is furniture through and through, or has none of it.
        for a, b in spans:
            assert any(left <= a and b <= right for left, right in furniture) or all(b <= left or a >= right for left, right in furniture)
        assert text[spans[-1][0] : spans[-1][1]].startswith("The unit" if "312" in text else "By 2017")


def test_a_markdown_heading_span_covers_its_marks() -> None:
    text = "Intro.\n\n## Response times ##\n\nBody."
    assert heading_span(text, Heading(8, 2, "Response times")) == (8, 28)
    assert heading_span("Vetting\n\nBody.", Heading(0, 1, "Vetting")) == (0, 7)


def test_an_index_without_the_furniture_column_still_reads(tmp_path: Path) -> None:
    """Indexes written before furniture was recorded open, and still never quote a line that reads as the title."""
    text = "Roads policing in Northshire\n\nThe unit caught 312 drivers."
    document = Document("roads.txt", text, "Roads policing in Northshire", "0" * 64, furniture=((0, 28),))
    sentences = [Sentence(i, "roads.txt", a, b, text[a:b]) for i, (a, b) in enumerate(sentence_spans(text))]
    write_records(tmp_path, [document], [], sentences)
    assert RecordStore(tmp_path).documents["roads.txt"].furniture == ((0, 28),)
    connection = sqlite3.connect(tmp_path / "documents.sqlite")
    connection.execute("ALTER TABLE documents DROP COLUMN furniture")
    connection.commit()
    connection.close()
    store = RecordStore(tmp_path)
    assert store.documents["roads.txt"].furniture == ()
    assert store.is_unquotable("roads.txt", 0, 28)
    assert not store.is_unquotable("roads.txt", 30, len(text))


def test_a_one_sentence_document_is_quotable_though_its_title_is_that_sentence(tmp_path: Path) -> None:
    text = "The mounted branch keeps too many horses for the patrols it runs.\n"
    document = Document("horses.txt", text, text.strip(), "0" * 64, furniture=document_furniture(text, 0, text.strip(), ()))
    write_records(tmp_path, [document], [], [Sentence(0, "horses.txt", 0, len(text) - 1, text.strip())])
    assert not RecordStore(tmp_path).is_unquotable("horses.txt", 0, len(text) - 1)
