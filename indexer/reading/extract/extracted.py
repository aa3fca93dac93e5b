"""What a format module gets out of a file, and the error for a file it cannot read: the types every format shares."""

from __future__ import annotations

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
