"""PDF, HTML and DOCX loaders on real files generated at test time: text, pages, headings, metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from indexer.reading.extract.pdf import extract
from indexer.reading.loading import load_corpus
from indexer.storage.store import open_index
from service.chat.replies import chat_reply
from service.core.answer import answer_question
from service.core.retrieval import Retriever
from tests.generated import HEADER, write_docx, write_html, write_pdf, write_tight_pdf


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report per format, plus a PDF hiding behind a .txt name and a damaged PDF."""
    root = tmp_path_factory.mktemp("formats")
    write_pdf(root / "peel-2019.pdf")
    write_html(root / "custody.html")
    write_docx(root / "leadership.docx")
    shutil.copy(root / "peel-2019.pdf", root / "misnamed.txt")
    (root / "damaged.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    return root


@pytest.fixture(scope="module")
def documents(corpus: Path) -> dict:
    loaded, skipped = load_corpus(corpus)
    return {"documents": {d.doc_id: d for d in loaded}, "skipped": {s.path: s.reason for s in skipped}}


def test_pdf_text_drops_running_lines_and_rejoins_hyphenated_words(documents: dict) -> None:
    pdf = documents["documents"]["peel-2019.pdf"]
    assert pdf.format == "pdf"
    assert HEADER not in pdf.text and "Page 2" not in pdf.text
    assert "now has the inspection level of clearance" in pdf.text and "inspec-" not in pdf.text
    assert "\n\n" in pdf.text  # paragraphs kept apart
    assert [pdf.text[start : start + 7] for start in pdf.pages] == ["Summary", "Vetting", "Custody"]
    assert [h.text for h in pdf.headings] == ["Summary", "Vetting", "Custody"]
    assert pdf.title == "Exampleshire PEEL 2019" and pdf.metadata["date"] == "2019-05-02"


def test_pdf_heading_set_close_above_its_paragraph_stays_a_heading(tmp_path: Path) -> None:
    first = ["The force does not comply with national vetting policy and has a backlog", "of renewals that puts the public at risk."]
    second = ["Its counter-corruption unit cannot investigate all the intelligence", "it receives."]
    pdf = extract(write_tight_pdf(tmp_path / "tight.pdf", "Vetting and counter-corruption", [first, second]).read_bytes())
    assert pdf.text == "Vetting and counter-corruption\n\n" + " ".join(first) + "\n\n" + " ".join(second)
    assert [(h.start, h.text) for h in pdf.headings] == [(0, "Vetting and counter-corruption")]


def test_html_keeps_the_report_and_drops_navigation_banner_and_footer(documents: dict) -> None:
    page = documents["documents"]["custody.html"]
    assert page.format == "html"
    assert "detainees were kept in clean cells" in page.text
    for boilerplate in ("All reports", "cookies", "Privacy notice", "Accessibility"):
        assert boilerplate not in page.text
    assert [(h.level, h.text) for h in page.headings] == [(1, "Custody in Exampleshire"), (2, "Health care")]
    for heading in page.headings:
        assert page.text[heading.start : heading.start + len(heading.text)] == heading.text
    assert page.metadata["force"] == "Exampleshire Constabulary"
    assert page.metadata["report_type"] == "Custody inspection"
    assert page.metadata["date"] == "2021-03-04" and page.metadata["source_url"] == "https://example.org/custody"


def test_docx_headings_and_properties(documents: dict) -> None:
    report = documents["documents"]["leadership.docx"]
    assert report.format == "docx"
    assert [(h.level, h.text) for h in report.headings] == [
        (1, "Exampleshire leadership review"), (2, "Culture"), (3, "Wellbeing"), (2, "Finances"),
    ]
    assert "wellbeing champions in every district" in report.text
    assert report.title == "Exampleshire leadership review"
    assert report.metadata["report_type"] == "Leadership review" and report.metadata["date"] == "2020-11-05"


def test_format_is_sniffed_from_content_and_damaged_files_are_skipped(documents: dict) -> None:
    assert documents["documents"]["misnamed.txt"].format == "pdf"
    assert "unreadable PDF" in documents["skipped"]["damaged.pdf"]


def test_metadata_precedence_front_matter_sidecar_manifest_properties(tmp_path: Path) -> None:
    write_pdf(tmp_path / "a.pdf")
    write_pdf(tmp_path / "b.pdf")
    (tmp_path / "c.md").write_text("---\nforce: From front matter\n---\n# C\n\nThe force kept good records.\n", encoding="utf-8")
    (tmp_path / "metadata.csv").write_text(
        "path,force,report_type,date\na.pdf,From manifest,PEEL,2019\nb.pdf,From manifest,PEEL,2019\nc.md,From manifest,Other,2018\n", encoding="utf-8"
    )
    (tmp_path / "b.meta.yaml").write_text("force: From sidecar\n", encoding="utf-8")
    (tmp_path / "c.meta.yaml").write_text("force: From sidecar\n", encoding="utf-8")
    loaded, skipped = load_corpus(tmp_path)
    metadata = {d.doc_id: d.metadata for d in loaded}
    assert not skipped and set(metadata) == {"a.pdf", "b.pdf", "c.md"}
    assert metadata["a.pdf"]["force"] == "From manifest" and metadata["a.pdf"]["title"] == "Exampleshire PEEL 2019"
    assert metadata["a.pdf"]["date"] == "2019"  # the manifest outranks the PDF's own creation date
    assert metadata["b.pdf"]["force"] == "From sidecar" and metadata["b.pdf"]["report_type"] == "PEEL"
    assert metadata["c.md"]["force"] == "From front matter" and metadata["c.md"]["report_type"] == "Other"


def test_pdf_citations_carry_page_numbers_and_sections(corpus: Path, tmp_path: Path, encoder: Encoder) -> None:
    root = tmp_path / "index"
    build_index(corpus, root, encoder)
    retriever = Retriever(open_index(root, encoder.model_name, encoder.dimension), encoder)
    answer = answer_question(retriever, "Do officers in sensitive posts have the clearance national policy requires?", 3)
    best = answer.evidence[0]
    assert "inspection level of clearance" in best.text and best.doc_id in {"peel-2019.pdf", "misnamed.txt"}
    assert best.pages == [2] and best.section == ["Vetting"]
    text = retriever.index.documents[best.doc_id].text
    assert text[best.start : best.end] == best.text
    assert "p. 2" in chat_reply(answer).content
    docx_answer = answer_question(retriever, "Who has the force trained as wellbeing champions?", 3)
    assert docx_answer.evidence[0].section == ["Exampleshire leadership review", "Culture", "Wellbeing"]
    for chunk in retriever.index.chunks:
        document = retriever.index.documents[chunk.doc_id]
        assert document.text[chunk.start : chunk.end] == chunk.text
        # Structure-aware chunking: no chunk runs on from one heading's section into the next.
        inside = [h for h in document.headings if chunk.start < h.start < chunk.end]
        assert not inside, json.dumps([chunk.text, [h.text for h in inside]])


def test_pdf_bold_headings_a_point_above_the_body_are_headings(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    sections = [("8. Maintenance", "The agency does not require its lessee to keep a maintenance plan."),
                ("9. Procurement", "Two procurement files lacked the required clauses."), ("Plain words", "Set in the body's own face.")]
    y = 20
    for number, (heading, body) in enumerate(sections):
        # The last one is the body's size and face: a short line, but no heading.
        pdf.set_font("Helvetica", "B" if number < 2 else "", size=13 if number < 2 else 12)
        pdf.set_xy(10, y)
        pdf.cell(0, 8, heading)
        pdf.set_font("Helvetica", size=12)
        pdf.set_xy(10, y + 14)
        pdf.cell(0, 6, body)
        y += 40
    path = tmp_path / "bold.pdf"
    pdf.output(str(path))
    extracted = extract(path.read_bytes())
    assert [heading.text for heading in extracted.headings] == ["8. Maintenance", "9. Procurement"]
