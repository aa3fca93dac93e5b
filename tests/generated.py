"""Real PDF, HTML and DOCX files built at test time, with the features the loaders must handle.

The reports are fictional (Exampleshire is no real force) so no test depends on real findings.
"""

from __future__ import annotations

from datetime import datetime, UTC
from pathlib import Path

import docx
from fpdf import FPDF

HEADER = "Exampleshire Constabulary - PEEL inspection 2019"
# One paragraph per page; page 2 holds the vetting finding, its first line ends in a hyphenated break.
PDF_PAGES = [
    ("Summary", ["The inspection looked at how well the force keeps people safe.", "Officers were positive about their training."]),
    ("Vetting", ["The force has cleared its backlog of vetting renewals, and every officer in a sensitive post now has the inspec-",
                 "tion level of clearance that national policy requires."]),
    ("Custody", ["Detainees in custody were treated with respect, although some waited too long for a solicitor."]),
]


def write_pdf(path: Path, pages: list[tuple[str, list[str]]] = PDF_PAGES, title: str = "Exampleshire PEEL 2019") -> Path:
    """A PDF with a running header, 'Page N' footers, one heading and its lines per page."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author("HM Inspectorate of Exampleshire")
    pdf.set_creation_date(datetime(2019, 5, 2, tzinfo=UTC))
    pdf.set_auto_page_break(False)
    for number, (heading, lines) in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.set_xy(10, 8)
        pdf.cell(0, 5, HEADER)
        pdf.set_font("Helvetica", "B", size=18)
        pdf.set_xy(10, 40)
        pdf.cell(0, 10, heading)
        pdf.set_font("Helvetica", size=11)
        for row, line in enumerate(lines):
            pdf.set_xy(10, 60 + 6 * row)
            pdf.cell(0, 6, line)
        pdf.set_font("Helvetica", size=9)
        pdf.set_xy(10, 285)
        pdf.cell(0, 5, f"Page {number}")
    pdf.output(str(path))
    return path


def write_tight_pdf(path: Path, heading: str, paragraphs: list[list[str]]) -> Path:
    """A PDF whose heading sits close above its first paragraph, so pdfminer boxes them together."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", size=14)
    pdf.set_xy(10, 60)
    pdf.cell(0, 7, heading)
    pdf.set_font("Helvetica", size=11)
    top = 67.0
    for lines in paragraphs:
        for line in lines:
            pdf.set_xy(10, top)
            pdf.cell(0, 5.5, line)
            top += 5.5
        top += 8  # a paragraph gap
    pdf.output(str(path))
    return path


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Exampleshire custody inspection</title>
<meta name="force" content="Exampleshire Constabulary"><meta name="dc.date" content="2021-03-04">
<meta name="report-type" content="Custody inspection"><link rel="canonical" href="https://example.org/custody"></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/reports">All reports</a></li><li><a href="/about">About us</a></li></ul></nav>
<div class="cookie-banner" id="cookie-consent">We use cookies to improve this website. Accept all cookies or manage your preferences.</div>
<main><article><h1>Custody in Exampleshire</h1>
<p>Inspectors found that detainees were kept in clean cells and were offered food and drink at regular intervals throughout their detention.</p>
<h2>Health care</h2>
<p>Health care staff were available around the clock, but medication was not always given at the prescribed times, which put some detainees at risk.</p>
</article></main>
<footer><p>Copyright Exampleshire Inspectorate. Privacy notice. Accessibility statement. Contact us.</p></footer>
</body></html>"""


def write_html(path: Path) -> Path:
    """A web page with navigation, a cookie banner, a footer and meta tags around its report."""
    path.write_text(HTML_PAGE, encoding="utf-8")
    return path


def write_docx(path: Path) -> Path:
    """A Word report with a title, numbered-section headings, paragraphs and core properties."""
    document = docx.Document()
    document.core_properties.title = "Exampleshire leadership review"
    document.core_properties.author = "Exampleshire Inspectorate"
    document.core_properties.category = "Leadership review"
    document.core_properties.created = datetime(2020, 11, 5, tzinfo=UTC)
    document.add_heading("Exampleshire leadership review", level=0)
    document.add_heading("Culture", level=1)
    document.add_paragraph("Staff told us that senior leaders listen to them and act on what they hear.")
    document.add_heading("Wellbeing", level=2)
    document.add_paragraph("The force has trained a network of wellbeing champions in every district.")
    document.add_heading("Finances", level=1)
    document.add_paragraph("The force expects to balance its budget by cutting the number of police staff posts.")
    document.save(str(path))
    return path


TOPICS = ["custody", "firearms", "roads policing", "call handling", "neighbourhood teams", "fraud", "cybercrime",
          "missing people", "domestic abuse", "stop and search", "use of force", "complaints", "training", "fleet"]
MARINE_FINDING = "The marine unit patrols the estuary with two boats, but neither boat has been serviced since 2015."
MARINE_PAGE = 37


def write_long_pdf(path: Path, pages: int = 50) -> Path:
    """A report of many pages, each with its own heading and findings; page 37 holds MARINE_FINDING."""
    content = []
    for number in range(1, pages + 1):
        topic = TOPICS[number % len(TOPICS)]
        lines = [
            f"Inspectors reviewed {number * 7} case files on {topic} in the district numbered {number}.",
            f"Supervisors in district {number} checked most {topic} decisions within a week.",
        ]
        if number == MARINE_PAGE:
            lines = [MARINE_FINDING]
        content.append((f"District {number}", lines))
    return write_pdf(path, content, title="Exampleshire force-wide inspection")
