"""Document structure as pure functions: section starts, heading paths and page numbers of a span."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from indexer.types import Heading

# "1.2 The force…", "12. The force…", "3) The force…" at the start of a paragraph. A bare "5 officers"
# is not one: a number without a dot or bracket must have sub-numbers.
NUMBERED_PARAGRAPH = re.compile(r"(?:\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}[.)])[ \t]+(?=[A-Z\u201c\"'(])")


def numbered_paragraph_starts(text: str, paragraph_starts: Sequence[int]) -> list[int]:
    """The paragraph starts where a numbered paragraph begins."""
    return [start for start in paragraph_starts if NUMBERED_PARAGRAPH.match(text, start)]


def boundary_sentences(sentence_starts: Sequence[int], section_starts: Sequence[int]) -> frozenset[int]:
    """Indexes of the sentences that begin a section: the first sentence at or after each section start."""
    boundaries = set()
    for start in section_starts:
        index = bisect_left(sentence_starts, start)
        if 0 < index < len(sentence_starts):
            boundaries.add(index)
    return frozenset(boundaries)


def section_path(headings: Sequence[Heading], offset: int) -> tuple[str, ...]:
    """Texts of the headings in force at offset, outermost first (a heading closes deeper ones)."""
    stack: list[Heading] = []
    for heading in headings:
        if heading.start > offset:
            break
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
    return tuple(heading.text for heading in stack)


def heading_span(text: str, heading: Heading) -> tuple[int, int]:
    """Where a heading's whole line sits in text: a Markdown heading starts at its '#' marks, and its
    text (and any closing marks) follows them."""
    newline = text.find("\n", heading.start)
    line_end = len(text) if newline < 0 else newline
    found = text.find(heading.text, heading.start, line_end)
    end = found + len(heading.text) if found >= 0 else heading.start + len(heading.text)
    while end < len(text) and text[end] in " \t#":
        end += 1
    return heading.start, end


def page_numbers(pages: Sequence[int], start: int, end: int) -> tuple[int, ...]:
    """1-based numbers of the pages that [start, end) touches, given each page's start offset."""
    if not pages:
        return ()
    first = max(bisect_right(pages, start), 1)
    last = max(bisect_right(pages, max(end - 1, start)), first)
    return tuple(range(first, last + 1))
