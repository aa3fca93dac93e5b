"""Text extraction, one module per file format behind one interface: file bytes in, Extracted out.

The format is chosen by content sniffing first (a PDF named .txt is still a PDF) and by the file
extension for plain-text formats, which have no signature.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from indexer.reading.extract.extracted import Extracted, UnreadableDocument, decode_text


@dataclass(frozen=True)
class Format:
    """A file format: its name, extensions, content signature and extractor."""

    name: str
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    extract: Callable[[bytes], Extracted]


def looks_like_pdf(head: bytes) -> bool:
    """PDF files start with %PDF- (some tools put a little junk before it)."""
    return b"%PDF-" in head[:1024]


def looks_like_docx(data: bytes) -> bool:
    """A DOCX is a ZIP holding word/document.xml."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def looks_like_html(head: bytes) -> bool:
    """An HTML document declares itself in its first kilobyte."""
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<html" in start or b"<body" in start


def formats() -> list[Format]:
    """Every supported format, binary signatures first; imported lazily so unused parsers cost nothing."""
    from indexer.reading.extract import docx, html, pdf, text

    return [
        Format("pdf", (".pdf",), looks_like_pdf, pdf.extract),
        Format("docx", (".docx",), looks_like_docx, docx.extract),
        Format("html", (".html", ".htm", ".xhtml"), looks_like_html, html.extract),
        Format("markdown", (".md", ".markdown"), lambda _: False, text.extract_markdown),
        Format("text", (".txt", ".text"), lambda _: False, text.extract_plain),
    ]


SUPPORTED_EXTENSIONS = (".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt", ".text")


def detect_format(suffix: str, data: bytes) -> Format | None:
    """The format of a file from its content, else its extension; None when unsupported."""
    known = formats()
    for candidate in known:
        if candidate.sniff(data):
            return candidate
    return next((candidate for candidate in known if suffix.lower() in candidate.extensions), None)


__all__ = ["SUPPORTED_EXTENSIONS", "Extracted", "Format", "UnreadableDocument", "decode_text", "detect_format", "formats"]
