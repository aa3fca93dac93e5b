"""PDF text as a reader sees it: running headers, footers and page numbers dropped, hyphenated line
breaks rejoined, one paragraph per text block, page offsets and headings kept (pdfminer.six)."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTTextContainer, LTTextLine
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text as decode_pdf_string

from indexer.reading.extract.extracted import Extracted, UnreadableDocument
from indexer.reading.metadata import GENERIC_TITLE, is_generic_title
from indexer.types import Heading

# Blocks this close to the top or bottom edge (share of page height) may be running headers or footers.
MARGIN = 0.12
PAGE_NUMBER = re.compile(r"(page\s*)?#(\s*(of|/)\s*#)?|-\s*#\s*-")
HEADING_SIZE_RATIO = 1.15
# A bold heading-shaped block this much larger than the body is a heading too ("9. Procurement" in bold 13 pt
# over 12 pt text): report templates often set their area headings so.
BOLD_HEADING_SIZE_RATIO = 1.05
BOLD_FACES = ("bold", "black", "heavy", "semibold", "demi")
# A cover title may wrap over several lines, unlike a heading, but is never a paragraph.
COVER_TITLE_CHARS = 200
# How far into a PDF its title page may be: a cover letter of two pages may come first.
TITLE_PAGES = 4
PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?")


@dataclass(frozen=True)
class Block:
    """A text box on a page: its paragraph text, whether it sits in a margin, its mean font size."""

    text: str
    in_margin: bool
    size: float
    lines: int
    # Set mostly in a bold face: a heading may be only a little larger than the body, if bold.
    bold: bool = False


def join_lines(lines: list[str]) -> str:
    """One paragraph from a block's lines; 'inspec-' + 'tion' becomes 'inspection'."""
    out = ""
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def page_blocks(data: bytes) -> list[list[Block]]:
    """The text blocks of every page, in pdfminer's reading order."""
    pages = []
    for layout in extract_pages(io.BytesIO(data), laparams=LAParams()):
        blocks = []
        for element in layout:
            if not isinstance(element, LTTextContainer):
                continue
            for run in size_runs([line for line in element if isinstance(line, LTTextLine)]):
                text = join_lines([line.get_text() for line in run])
                if not text:
                    continue
                y0, y1 = min(line.y0 for line in run), max(line.y1 for line in run)
                in_margin = y0 > (1 - MARGIN) * layout.height or y1 < MARGIN * layout.height
                sizes = [size for line in run for size in char_sizes(line)]
                blocks.append(Block(text, in_margin, statistics.fmean(sizes) if sizes else 0.0, len(run), is_bold(run)))
        pages.append(blocks)
    return pages


def is_bold(lines: list[LTTextLine]) -> bool:
    """Whether most characters of the lines are set in a bold (or black, heavy, semibold) face."""
    faces = [char.fontname.lower() for line in lines for char in line if isinstance(char, LTChar)]
    return bool(faces) and sum(any(weight in face for weight in BOLD_FACES) for face in faces) * 2 > len(faces)


def char_sizes(line: LTTextLine) -> list[float]:
    """The font size of every character of a line."""
    return [char.size for char in line if isinstance(char, LTChar)]


def line_size(line: LTTextLine) -> float:
    """The size most of a line is set in (a superscript or a small-caps word does not move it)."""
    sizes = Counter(round(size, 1) for size in char_sizes(line))
    return sizes.most_common(1)[0][0] if sizes else 0.0


def size_runs(lines: list[LTTextLine]) -> list[list[LTTextLine]]:
    """A text box's lines, with a heading that opens it split off: pdfminer boxes a heading set close
    above its paragraph together with it, and the heading would open the paragraph's first sentence.
    Only one or two leading lines set clearly larger than the next, shaped like a heading, are split."""
    sizes = [line_size(line) for line in lines[:3]]
    for cut in (1, 2):
        # The heading's lines share one size, clearly larger than the paragraph's first line.
        if len(sizes) > cut and sizes[cut] and len(set(sizes[:cut])) == 1 and sizes[0] >= HEADING_SIZE_RATIO * sizes[cut]:
            text = join_lines([line.get_text() for line in lines[:cut]])
            if is_heading_shape(Block(text, False, sizes[0], cut)):
                return [lines[:cut], lines[cut:]]
    return [lines]


def signature(text: str) -> str:
    """A block's text with numbers masked, so 'Page 3' and 'Page 4' repeat as one running line."""
    return re.sub(r"\d+", "#", text.lower()).strip()


def running_lines(pages: list[list[Block]]) -> set[str]:
    """Margin blocks that repeat on at least half the pages (and on two or more)."""
    seen: Counter[str] = Counter()
    for blocks in pages:
        seen.update({signature(block.text) for block in blocks if block.in_margin})
    return {line for line, count in seen.items() if count >= max(2, len(pages) / 2)}


def body_blocks(pages: list[list[Block]]) -> list[list[Block]]:
    """Pages without running headers, footers and page numbers."""
    running = running_lines(pages)
    return [
        [b for b in blocks if not (b.in_margin and (signature(b.text) in running or PAGE_NUMBER.fullmatch(signature(b.text))))]
        for blocks in pages
    ]


def body_size(pages: list[list[Block]]) -> float:
    """The median font size of the blocks (0 when none has one)."""
    sizes = [b.size for blocks in pages for b in blocks if b.size]
    return statistics.median(sizes) if sizes else 0.0


def heading_levels(pages: list[list[Block]]) -> dict[float, int]:
    """Font sizes of headings (clearly above the body text's, or a little above it in bold), largest first,
    as heading levels 1, 2, …"""
    body = body_size(pages)
    if not body:
        return {}
    large = sorted({round(b.size, 1) for blocks in pages for b in blocks if is_heading(b, body)}, reverse=True)
    return {size: min(level, 6) for level, size in enumerate(large, start=1)}


def is_heading(block: Block, body: float) -> bool:
    """A heading-shaped block set clearly larger than the body, or a little larger and bold."""
    ratio = BOLD_HEADING_SIZE_RATIO if block.bold else HEADING_SIZE_RATIO
    return is_heading_shape(block) and block.size >= body * ratio


def is_heading_shape(block: Block) -> bool:
    """Short, at most two lines, not ending like a sentence."""
    return block.lines <= 2 and len(block.text) <= 120 and not block.text.endswith((".", ",", ";", ":"))


def continues(text: str, block: Block) -> bool:
    """Whether block carries on the paragraph text ends with (a hyphenated or unfinished line)."""
    return bool(text) and block.text[:1].islower() and not text.endswith((".", "!", "?", ":", "\u201d", '"'))


def append_block(text: str, block: Block) -> str:
    """text followed by block: joined to a continued paragraph, else after a blank line."""
    if not continues(text, block):
        return f"{text}\n\n{block.text}" if text else block.text
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
        return text[:-1] + block.text
    return f"{text} {block.text}"


def cover_blocks(pages: list[list[Block]]) -> int:
    """How many blocks open page 1 in a font clearly larger than the body text's and shaped like a
    title (not ending like a sentence): the cover title and subtitle, however many lines they take."""
    weights: Counter[float] = Counter()
    for block in (block for blocks in pages for block in blocks):
        weights[round(block.size, 1)] += len(block.text)
    if not weights:
        return 0
    body = weights.most_common(1)[0][0]  # the size most of the text is set in
    count = 0
    for block in pages[0]:
        if block.size < body * HEADING_SIZE_RATIO or len(block.text) > COVER_TITLE_CHARS or block.text.endswith((".", "!", "?")):
            break
        count += 1
    return count


def cover_title(pages: list[list[Block]]) -> str | None:
    """The title on a report's title page: from the first block set in the largest heading size (within
    the first pages; a cover letter may come first), the title-shaped blocks that follow it up to a label
    such as "Prepared for:", less generic words such as "FINAL REPORT"; capitals made title case."""
    levels = heading_levels(pages[:TITLE_PAGES])
    top = next((size for size, level in levels.items() if level == 1), None)
    for blocks in pages[:TITLE_PAGES]:
        first = next((number for number, block in enumerate(blocks) if is_heading_shape(block) and round(block.size, 1) == top), None)
        if first is None:
            continue
        parts: list[str] = []
        for block in blocks[first:]:
            if block.text.endswith((":", ".")) or sum(map(len, parts)) + len(block.text) > COVER_TITLE_CHARS:
                break
            parts += [] if GENERIC_TITLE.search(block.text) else [block.text]
        return " ".join(title_case(part) for part in parts) or None
    return None


def title_case(text: str) -> str:
    """'FISCAL YEAR 2023 TRIENNIAL REVIEW' as 'Fiscal Year 2023 Triennial Review'; acronyms (ADA, FTA) and mixed case kept."""
    if not text.isupper() or len(text.split()) < 3:
        return text
    return " ".join(word.capitalize() if len(word) > 3 and word.isalpha() else word for word in text.split())


def assemble(pages: list[list[Block]]) -> tuple[str, tuple[int, ...], tuple[Heading, ...], tuple[tuple[int, int], ...]]:
    """The document text (paragraphs separated by blank lines, continued ones rejoined across text
    boxes and pages), the offset where each page's text starts, the headings and the cover title's spans."""
    levels, cover, body = heading_levels(pages), cover_blocks(pages), body_size(pages)
    text, starts, headings, furniture = "", [], [], []
    for page, blocks in enumerate(pages):
        starts.append(len(text))
        for number, block in enumerate(blocks):
            level = levels.get(round(block.size, 1)) if is_heading(block, body) else None
            text = append_block(text, block)
            start = len(text) - len(block.text)
            if number == 0 and not text[starts[-1] : start].strip():
                starts[-1] = start  # the page starts at its first text, not at the separator before it
            if level is not None:
                headings.append(Heading(start, level, block.text))
            if page == 0 and number < cover:
                furniture.append((start, len(text)))
    return text, tuple(starts), tuple(headings), tuple(furniture)


def pdf_date(value: str) -> str | None:
    """'D:20170322101500Z' as '2017-03-22' (as much of it as is given)."""
    match = PDF_DATE.match(value)
    return "-".join(part for part in match.groups() if part) if match else None


def properties(data: bytes) -> dict[str, Any]:
    """The document information dictionary: Title, Author, Subject, Keywords, dates, custom keys."""
    document = PDFDocument(PDFParser(io.BytesIO(data)))
    found: dict[str, Any] = {}
    for info in document.info:
        for key, raw in info.items():
            value = resolve1(raw)
            value = decode_pdf_string(value) if isinstance(value, bytes) else value.name if isinstance(value, PSLiteral) else value
            if not isinstance(value, str) or not value.strip() or key in ("Producer", "Creator", "ModDate", "Trapped"):
                continue
            found["date" if key == "CreationDate" else key.lower()] = pdf_date(value) if key == "CreationDate" else value.strip()
    return {key: value for key, value in found.items() if value}


def extract(data: bytes) -> Extracted:
    """A PDF's cleaned text, pages, headings and properties; UnreadableDocument if it has no text."""
    try:
        pages = body_blocks(page_blocks(data))
        metadata = properties(data)
    # pdfminer raises many unrelated types on damaged files; any of them means "skip this file".
    except Exception as error:
        raise UnreadableDocument(f"unreadable PDF: {type(error).__name__}: {error}") from error
    text, starts, headings, furniture = assemble(pages)
    if not text.strip():
        raise UnreadableDocument("PDF has no extractable text (a scan? OCR is not supported)")
    # The file's own title property outranks this when it names the document (indexer.reading.loading).
    title = cover_title(pages) or next((heading.text for heading in headings if not is_generic_title(heading.text)), None)
    return Extracted(text, title=title, properties=metadata, pages=starts, headings=headings, furniture=furniture)
