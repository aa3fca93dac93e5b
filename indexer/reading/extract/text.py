"""Plain text and Markdown (with YAML front matter and # headings)."""

from __future__ import annotations

import re

import yaml

from indexer.reading.extract.extracted import Extracted, UnreadableDocument, decode_text
from indexer.reading.furniture import matching_lines, title_line
from indexer.types import Heading

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def first_line(text: str) -> str | None:
    """The first non-blank line, a plain text file's title."""
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


def title_furniture(text: str, start: int = 0) -> tuple[tuple[int, int], ...]:
    """The plain-text title line of text[start:] (indexer.reading.furniture's rule) and every line repeating it."""
    title = title_line(text, start)
    return (title, *matching_lines(text, title[1], text[title[0] : title[1]])) if title else ()


def extract_plain(data: bytes) -> Extracted:
    """Plain text has no embedded metadata: title from the first line, which is furniture when title-like."""
    text = decode_text(data)
    return Extracted(text, title=first_line(text), furniture=title_furniture(text))


def front_matter(text: str) -> tuple[int, dict]:
    """Where the body starts after YAML front matter, and the front matter as a mapping."""
    match = FRONT_MATTER.match(text)
    if not match:
        return 0, {}
    try:
        loaded = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise UnreadableDocument(f"invalid YAML front matter: {error}") from error
    if loaded is not None and not isinstance(loaded, dict):
        raise UnreadableDocument("YAML front matter is not a mapping")
    return match.end(), loaded or {}


def extract_markdown(data: bytes) -> Extracted:
    """Markdown: front matter as metadata, # headings as structure, title from the first heading."""
    text = decode_text(data)
    body_start, metadata = front_matter(text)
    headings = tuple(
        Heading(match.start(), len(match.group(1)), match.group(2).strip()) for match in MARKDOWN_HEADING.finditer(text, body_start)
    )
    title = headings[0].text if headings else first_line(text[body_start:])
    # Without # headings a Markdown file is laid out as plain text is, title line first.
    furniture = () if headings else title_furniture(text, body_start)
    return Extracted(text, title=title, body_start=body_start, front_matter=metadata, headings=headings, furniture=furniture)
