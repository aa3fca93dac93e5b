"""Furniture: the lines that name or frame a document rather than say anything (its title, a line
repeating the title, a byline, a dateline). They stay in the text and in chunks but are never quoted.

Rules, all on whole lines (a line is text between newlines, outer whitespace stripped):

- Plain-text title: the first non-blank line, when more text follows it, it is title-sized (at most
  MAX_TITLE_CHARS and not two sentences) and either a blank line follows it, or it does not end like
  a sentence (. ! ? ; : , …) and the next line opens one (capital, digit, quote, bracket: a wrapped
  line of the first sentence is not a title). A one-line paragraph of several sentences is body.
- Repeated title: any line whose text equals the title, whitespace normalised (case kept).
- Byline: at most MAX_BYLINE_CHARS, "By", "Written by" or "Author(s):" then one or more names of
  two to five capitalised words, optionally ", " and a title-case role ("By Jane Smith, HM Inspector
  of Constabulary"). "By 2017, the force had…" has no name and is never one.
- Dateline: at most MAX_BYLINE_CHARS, a label (Published, Updated, Date, Dated, Issued, …) and a
  date and nothing else ("Published 12 May 2017", "Date: 2017-05-12").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

Span = tuple[int, int]

MAX_TITLE_CHARS = 150
MAX_BYLINE_CHARS = 100
SENTENCE_END = re.compile(r"[.!?;:,\u2026][\"'\u201d\u2019)\]]*$")
# "found. The" inside a line: two sentences, so a paragraph rather than a title.
INNER_SENTENCE_BREAK = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+[\"'\u201c\u2018(]?[A-Z0-9]")
_NAME_WORD = r"[A-Z][\w'\u2019-]*\.?"
_NAME = rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{1,4}}"
_ROLE = r"[A-Z][\w'\u2019&-]*(?:[ \t]+(?:[A-Z][\w'\u2019&-]*|of|and|for|the|in|&))*"
_NAMES = rf"{_NAME}(?:(?:[ \t]*,[ \t]*|[ \t]+and[ \t]+|[ \t]*&[ \t]*){_NAME})*"
BYLINE = re.compile(rf"(?:By|Written by|Authors?:)[ \t]+{_NAMES}(?:[ \t]*,[ \t]*{_ROLE})?")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = (
    rf"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?[ \t]+)?"
    rf"(?:{_DAY}[ \t]+{_MONTH},?[ \t]+\d{{4}}|{_MONTH}[ \t]+{_DAY},?[ \t]+\d{{4}}|{_MONTH}[ \t]+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{4})"
)
_DATE_LABEL = r"(?:Published|First published|Last updated|Updated|Date|Dated|Issued|Date of publication|Publication date)"
DATELINE = re.compile(rf"{_DATE_LABEL}(?:[ \t]*:|[ \t]+on)?[ \t]*{_DATE}\.?", re.IGNORECASE)


def normalise(text: str) -> str:
    """Text with runs of whitespace as one space and none at the ends."""
    return " ".join(text.split())


def lines(text: str, start: int = 0) -> Iterator[Span]:
    """Every line of text[start:] as a span, outer whitespace stripped (blank lines are empty spans)."""
    cursor = start
    while cursor <= len(text):
        newline = text.find("\n", cursor)
        end = len(text) if newline < 0 else newline
        left, right = cursor, end
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        yield left, right
        if newline < 0:
            return
        cursor = newline + 1


def is_title_sized(line: str) -> bool:
    """Short enough for a title and not two sentences."""
    return 0 < len(line) <= MAX_TITLE_CHARS and not INNER_SENTENCE_BREAK.search(line)


def title_line(text: str, start: int = 0) -> Span | None:
    """The plain-text title line of text[start:] by the module's rule, or None."""
    found = lines(text, start)
    title = next((span for span in found if span[1] > span[0]), None)
    if title is None or not text[title[1] :].strip() or not is_title_sized(text[title[0] : title[1]]):
        return None
    after = next(found)  # a line follows, since text does
    if after[1] == after[0]:
        return title
    # Without a blank line, the next line must open a sentence: else this is a wrapped line of one.
    opens = text[after[0]].isupper() or text[after[0]].isdigit() or text[after[0]] in "\"'\u201c\u2018("
    return title if opens and not SENTENCE_END.search(text[title[0] : title[1]]) else None


def is_byline(line: str) -> bool:
    """Whether a whole line is a byline or a dateline."""
    line = line.strip()
    return len(line) <= MAX_BYLINE_CHARS and bool(BYLINE.fullmatch(line) or DATELINE.fullmatch(line))


def byline_spans(text: str, start: int = 0) -> list[Span]:
    """The byline and dateline lines of text[start:]."""
    return [(left, right) for left, right in lines(text, start) if right > left and is_byline(text[left:right])]


def matching_lines(text: str, start: int, wanted: str | None) -> list[Span]:
    """The lines of text[start:] that read exactly wanted, whitespace normalised."""
    target = normalise(wanted or "")
    if not target:
        return []
    return [(left, right) for left, right in lines(text, start) if right > left and normalise(text[left:right]) == target]


def merge_spans(spans: Iterable[Span], text: str) -> tuple[Span, ...]:
    """Spans sorted, with overlapping ones, or ones only whitespace apart, made one."""
    merged: list[Span] = []
    for left, right in sorted(spans):
        if merged and not text[merged[-1][1] : left].strip():
            merged[-1] = (merged[-1][0], max(merged[-1][1], right))
        else:
            merged.append((left, right))
    return tuple(merged)


def document_furniture(text: str, start: int, title: str | None, found: Iterable[Span] = ()) -> tuple[Span, ...]:
    """What a format module found plus every format's bylines, datelines and lines repeating the title
    (unless the title was read from the document's only line, which must stay quotable)."""
    repeats = matching_lines(text, start, title) if normalise(text[start:]) != normalise(title or "") else []
    return merge_spans([*found, *byline_spans(text, start), *repeats], text)
