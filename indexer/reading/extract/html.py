"""Web pages: the main text only (navigation, cookie banners and footers dropped by trafilatura),
h1-h6 as structure, metadata from meta tags."""

from __future__ import annotations

from typing import Any

import lxml.html
import trafilatura
from lxml.etree import ParserError

from indexer.reading.extract.extracted import Extracted, UnreadableDocument
from indexer.reading.extract.text import MARKDOWN_HEADING
from indexer.reading.furniture import matching_lines
from indexer.types import Heading

# Meta tag names (lower case) that carry a field we know, beside tags named after the field itself.
META_FIELDS = {
    "dc.title": "title", "og:title": "title",
    "author": "author", "dc.creator": "author",
    "date": "date", "dc.date": "date", "dcterms.date": "date", "dc.date.issued": "date",
    "article:published_time": "date", "citation_publication_date": "date",
    "og:url": "source_url", "dc.identifier": "source_url",
    "dc.publisher": "publisher", "og:site_name": "publisher", "dc.type": "report_type",
}


def meta_tags(html: str) -> dict[str, Any]:
    """<meta name|property=… content=…> pairs, known synonyms mapped to our field names, and the canonical link."""
    try:
        tree = lxml.html.fromstring(html)
    except (ParserError, ValueError):
        return {}
    found: dict[str, Any] = {}
    for tag in tree.iter("meta"):
        name = (tag.get("name") or tag.get("property") or "").strip().lower()
        content = (tag.get("content") or "").strip()
        if name and content:
            found.setdefault(META_FIELDS.get(name, name), content)
    canonical = tree.find(".//link[@rel='canonical']")
    if canonical is not None and canonical.get("href"):
        found.setdefault("source_url", canonical.get("href"))
    if "date" in found:
        found["date"] = found["date"][:10]
    return found


def strip_markdown_headings(markdown: str) -> tuple[str, tuple[Heading, ...]]:
    """Markdown from trafilatura as plain text, its # headings kept as Headings."""
    lines, headings, offset = [], [], 0
    for line in markdown.split("\n"):
        match = MARKDOWN_HEADING.fullmatch(line)
        if match:
            line = match.group(2).strip()
            headings.append(Heading(offset, len(match.group(1)), line))
        lines.append(line)
        offset += len(line) + 1
    return "\n".join(lines), tuple(headings)


def extract(data: bytes) -> Extracted:
    """The page's main text, headings and meta-tag metadata."""
    html = data.decode("utf-8", errors="replace")
    markdown = trafilatura.extract(html, output_format="markdown", include_comments=False, include_tables=True, with_metadata=False)
    if not markdown or not markdown.strip():
        raise UnreadableDocument("web page has no main text")
    text, headings = strip_markdown_headings(markdown.strip())
    metadata = meta_tags(html)
    described = trafilatura.extract_metadata(html)
    named = described.title if described and described.title else None
    title = metadata.get("title") or named or (headings[0].text if headings else None)
    # The page's <title> and meta title name it wherever they appear, whatever title wins in the end.
    furniture = tuple(matching_lines(text, 0, metadata.get("title")) + matching_lines(text, 0, named))
    return Extracted(text, title=title, properties=metadata, headings=headings, furniture=furniture)
