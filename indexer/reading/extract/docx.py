"""Word documents: paragraphs and tables in order, Heading styles as structure, core properties (python-docx)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from indexer.reading.extract.extracted import Extracted, UnreadableDocument
from indexer.reading.metadata import is_generic_title
from indexer.types import Heading

HEADING_STYLE = re.compile(r"Heading (\d)")


def style_name(paragraph: Paragraph) -> str:
    """The name of a paragraph's style, or '' when it has none."""
    return (paragraph.style.name if paragraph.style is not None else "") or ""


def heading_level(paragraph: Paragraph) -> int | None:
    """1 for the Title style, N + 1 for Heading N (a title sits above the first heading level), else None."""
    name = style_name(paragraph)
    if name == "Title":
        return 1
    match = HEADING_STYLE.fullmatch(name)
    return int(match.group(1)) + 1 if match else None


def table_text(table: Table) -> list[str]:
    """One line per row, cells separated by ' | ', empty rows dropped."""
    rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
    return [row for row in rows if row.strip(" |")]


def core_properties(document: Any) -> dict[str, Any]:
    """Title, author, subject, keywords, category and created date, where set."""
    core = document.core_properties
    found = {
        "title": core.title,
        "author": core.author,
        "subject": core.subject,
        "keywords": core.keywords,
        "category": core.category,
        "date": core.created.date().isoformat() if core.created else None,
    }
    return {key: value.strip() if isinstance(value, str) else value for key, value in found.items() if value}


def extract(data: bytes) -> Extracted:
    """The document's paragraphs (blank-line separated), headings and properties."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UnreadableDocument(f"unreadable Word document: {error}") from error
    text, headings, furniture = "", [], []
    for block in document.iter_inner_content():
        lines = [block.text.strip()] if isinstance(block, Paragraph) else table_text(block)
        for line in (line for line in lines if line):
            if text:
                text += "\n\n"
            level = heading_level(block) if isinstance(block, Paragraph) else None
            if level is not None:
                headings.append(Heading(len(text), level, line))
            elif isinstance(block, Paragraph) and style_name(block) == "Subtitle":
                furniture.append((len(text), len(text) + len(line)))
            text += line
    if not text.strip():
        raise UnreadableDocument("Word document has no text")
    metadata = core_properties(document)
    # The file's own title property outranks this when it names the document (indexer.reading.loading).
    title = next((heading.text for heading in headings if not is_generic_title(heading.text)), None)
    return Extracted(text, title=title, properties=metadata, headings=tuple(headings), furniture=tuple(furniture))
