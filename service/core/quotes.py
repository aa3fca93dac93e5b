"""Answer passages: the key sentence with the sentences that complete it. A sentence that only leads into
what a report found ("Finding: ... a deficiency was found with the FTA requirements for Maintenance.",
"Deficiency Description: ... (M5-1)", a line ending in a colon) is quoted with what follows it."""

from __future__ import annotations

import re

from indexer.storage.sentence_table import FLAGS
from indexer.storage.store import Index
from service.core.types import Evidence, Quote

UNQUOTABLE = FLAGS.index("unquotable")
# "Finding:", "Deficiency Description #1:", "Corrective Action(s) and Schedule:" opening a sentence.
LABEL = re.compile(r"^\W*[A-Z][\w()#’' -]{0,40}:\s")
# A sentence whose wording mostly recurs across reports is the series' template, not the report's finding.
TEMPLATED = 0.5
# A bullet or a numbered item opening a line.
LIST_ITEM = re.compile(r"^\s*(?:[•●◦▪‣∙·*-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
# A line that stops on a joining word or sign has more to come.
BROKEN_OFF = re.compile(r"(?:[&,–-]|\b(?:and|or|of|the|to|for|with|in|on|by|a|an|from))$", re.IGNORECASE)
# Fewer words than this and a sentence is a label or a heading run into the text, not a statement.
STATEMENT_WORDS = 8
# A passage grows by at most this many statements after its key sentence, and to at most this many characters.
FOLLOWING_STATEMENTS = 2
MAX_PASSAGE_CHARS = 700
# A line this short without a sentence ending is not a sentence.
FRAGMENT_WORDS = 12
SENTENCE_ENDS = (".", "!", "?", ":", ";", ")", "\"", "”", "’", "'")


def is_fragment(text: str) -> bool:
    """No letters (a list number such as "2.", a page number), or fewer than FRAGMENT_WORDS words and no sentence
    ending: a table cell, an unmarked heading, an address line."""
    stripped = text.rstrip()
    if not any(character.isalpha() for character in stripped):
        return True
    return not stripped.endswith(SENTENCE_ENDS) and len(stripped.split()) < FRAGMENT_WORDS


def wraps_into(text: str, following: str) -> bool:
    """Whether following is the rest of a line the PDF wrapped ("… with FTA &" then "PennDOT funding", "… Valley
    Transit" then "Authority."): text has no sentence ending, following is a short piece that opens no list item,
    and either text breaks off mid-phrase or following ends the sentence (a heading does neither)."""
    text, following = text.rstrip(), following.strip()
    if text.endswith(SENTENCE_ENDS) or len(following.split()) >= FRAGMENT_WORDS or LIST_ITEM.match(following):
        return False
    return bool(BROKEN_OFF.search(text)) or following.endswith((".", "!", "?"))


def leads(text: str, template_share: float) -> bool:
    """Whether a sentence announces what follows rather than stating it."""
    stripped = text.rstrip()
    labelled = bool(LABEL.match(stripped)) and len(stripped) < 160
    return stripped.endswith(":") or template_share >= TEMPLATED or len(stripped.split()) < STATEMENT_WORDS or labelled


def joinable(index: Index, key: int, other: int) -> bool:
    """Whether sentence other may join key's passage: it exists, shares key's document and is no heading or title."""
    sentences = index.sentences
    return 0 <= other < len(sentences) and sentences[other].doc_id == sentences[key].doc_id and not index.sentence_table.flags[other, UNQUOTABLE]


def passage_end(index: Index, key: int) -> int:
    """The last sentence id of the passage that key opens: key alone, or key and the statements it leads into."""
    table, sentences = index.sentence_table, index.sentences
    first = sentences[key]
    if not leads(first.text, float(table.template_share[key])):
        return wrapped_end(index, key)
    last, statements = key, 0
    while statements < FOLLOWING_STATEMENTS and joinable(index, key, last + 1):
        following = sentences[last + 1]
        if following.end - first.start > MAX_PASSAGE_CHARS:
            break
        # A page header, a table cell or a list number ends the passage: what follows it is not its continuation.
        if is_fragment(following.text):
            break
        last += 1
        statements += not leads(following.text, float(table.template_share[last]))
    return last


def wrapped_end(index: Index, key: int) -> int:
    """The last sentence id of the line key opens: key, or the piece of it a PDF wrapped onto the next line."""
    sentences = index.sentences
    wrapped = joinable(index, key, key + 1) and wraps_into(sentences[key].text, sentences[key + 1].text)
    return key + 1 if wrapped else key


def passage_start(index: Index, key: int) -> int:
    """The first sentence id of the passage: a list item's lead-in ("… the following projects:") when key is the
    first item under it, else key."""
    sentences = index.sentences
    if not LIST_ITEM.match(sentences[key].text) or not joinable(index, key, key - 1):
        return key
    previous = sentences[key - 1]
    introduces = previous.text.rstrip().endswith(":") and sentences[key].end - previous.start <= MAX_PASSAGE_CHARS
    return key - 1 if introduces else key


def quote_for(index: Index, key: Evidence, key_id: int) -> Quote:
    """The passage quoted for a key sentence: its exact text in the document, with the key sentence's offsets."""
    first, last = index.sentences[passage_start(index, key_id)], index.sentences[passage_end(index, key_id)]
    records = index.records
    text = records.text(records.position(key.doc_id))[first.start : last.end]
    pages, section = records.context(key.doc_id, first.start, last.end)
    return Quote(text, key.doc_id, key.title, first.start, last.end, key.score, pages, section, key_start=key.start, key_end=key.end)
