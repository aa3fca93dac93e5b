"""Pure structure and metadata functions, checked by hand."""

from __future__ import annotations

from indexer.chunking import chunk_spans, sentence_spans
from indexer.reading.metadata import date_range, merge
from indexer.reading.structure import boundary_sentences, numbered_paragraph_starts, page_numbers, section_path
from indexer.types import Heading

HEADINGS = (Heading(0, 1, "Report"), Heading(10, 2, "Vetting"), Heading(30, 3, "Renewals"), Heading(50, 2, "Custody"))


def test_section_path_follows_heading_levels() -> None:
    assert section_path(HEADINGS, 5) == ("Report",)
    assert section_path(HEADINGS, 35) == ("Report", "Vetting", "Renewals")
    assert section_path(HEADINGS, 50) == ("Report", "Custody")  # a level-2 heading closes level 3
    assert section_path((), 10) == ()


def test_page_numbers_of_a_span() -> None:
    pages = (0, 100, 250)
    assert page_numbers(pages, 0, 10) == (1,)
    assert page_numbers(pages, 90, 120) == (1, 2)
    assert page_numbers(pages, 100, 250) == (2,)  # end is exclusive
    assert page_numbers(pages, 260, 300) == (3,)
    assert page_numbers((), 0, 10) == ()


def test_numbered_paragraphs_are_found_only_when_numbered() -> None:
    text = "1.1 The force must act.\n\n12. The unit works.\n\n5 officers left.\n\n3) Another finding."
    starts = [0, 25, 46, 64]
    assert numbered_paragraph_starts(text, starts) == [0, 25, 64]


def test_a_section_start_begins_a_new_chunk_without_overlap() -> None:
    text = "One short point. Two short point.\n\n2.1 Three starts a section. Four ends it."
    sentences = sentence_spans(text)
    boundaries = boundary_sentences([s.start for s in sentences], [text.index("2.1")])
    assert boundaries == frozenset({2})
    plain = chunk_spans(text, sentences, 200, 10)
    structured = chunk_spans(text, sentences, 200, 10, boundaries)
    assert len(plain) == 1
    assert [(c.first_sentence, c.last_sentence) for c in structured] == [(0, 1), (2, 3)]


def test_dates_cover_their_whole_period_and_metadata_layers_override() -> None:
    assert date_range("2017") == ("2017-01-01", "2017-12-31")
    assert date_range("2016-02") == ("2016-02-01", "2016-02-29")
    assert date_range("2021-03-04T09:00:00") == ("2021-03-04", "2021-03-04")
    assert date_range("sometime") is None and date_range("2017-13") is None
    merged = merge({"Title": "PDF title", "Document Type": "x"}, {"report_type": "PEEL", "year": 2017}, {"title": "Sidecar"})
    assert merged == {"title": "Sidecar", "report_type": "PEEL", "year": 2017, "date": "2017"}
