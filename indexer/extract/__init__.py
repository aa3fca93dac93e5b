"""Text extraction, one module per file format behind one interface: file bytes in, Extracted out.

The format is chosen by content sniffing first (a PDF named .txt is still a PDF) and by the file
extension for plain-text formats, which have no signature.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from indexer.types import Heading


class UnreadableDocument(ValueError):
    """A corpus file that cannot be turned into a Document."""


class Extracted(msgspec.Struct, frozen=True):
    """What a format module gets out of one file."""

    text: str
    title: str | None = None
    # Text before body_start (YAML front matter) is kept for offsets but never chunked.
    body_start: int = 0
    # Metadata written by whoever filed the document (front matter): outranks a sidecar.
    front_matter: dict[str, Any] = {}
    # Metadata the authoring tool embedded (PDF/DOCX properties, HTML meta tags): ranks last.
    properties: dict[str, Any] = {}
    pages: tuple[int, ...] = ()
    headings: tuple[Heading, ...] = ()
    # Spans only this format can tell are furniture (a plain-text title line, a PDF cover title, a
    # Word subtitle); the loader adds every format's bylines and lines repeating the title.
    furniture: tuple[tuple[int, int], ...] = ()


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
    from indexer.extract import docx, html, pdf, text

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


def decode_text(data: bytes) -> str:
    """Decode a text file as UTF-8, refusing binary, undecodable or empty content."""
    if b"\x00" in data:
        raise UnreadableDocument("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(f"not valid UTF-8 (byte {error.start})") from error
    if not text.strip():
        raise UnreadableDocument("empty file")
    return text
