"""Wording signals of a question against its first evidence sentence: a negation, number, name or
superlative the question turns on that the sentence does not have.

SQuAD v2.0's unanswerable questions were written by changing an answerable one in exactly these ways
(Rajpurkar et al. 2018: negation, antonym, entity swap, impossible condition), so they are what tells
a close passage from an answer when the cosines cannot.
"""

from __future__ import annotations

import re

from service.core.stopwords import ENGLISH_STOP_WORDS

# not, no, none, nor, never, neither, without, cannot as words, or a word ending in n't. The regex engine
# tries the pattern at every position of a long sentence: the alternatives share their prefixes, and the
# lookahead turns away every position not starting with n, w or c before trying them (half the time).
NEGATION = re.compile(r"(?=[nwc])(?:\b(?:n(?:o(?:t|ne|r)?|e(?:ver|ither))|without|cannot)|n't)\b", re.IGNORECASE)
NUMBER = re.compile(r"\d[\d,.]*")
# A capitalised word that does not open the question.
NAME = re.compile(r"(?<!^)\b[A-Z][a-zA-Z]+")
WORD = re.compile(r"[A-Za-z]+")
ORDERING_WORDS = (
    "first", "last", "most", "least", "largest", "smallest", "biggest", "highest", "lowest", "earliest", "latest", "best", "worst",
    "only", "major", "minor", "main", "primary", "before", "after", "earlier", "later", "more", "less", "fewer",
)
# The same words with their shared prefixes factored out (no word is a prefix of another, so the matches are the same).
ORDERING = re.compile(
    r"\b(after|b(?:e(?:fore|st)|iggest)|earli(?:er|est)|f(?:ewer|irst)|highest|l(?:a(?:rgest|st|t(?:er|est))|e(?:ast|ss)|owest)|"
    r"m(?:a(?:in|jor)|inor|o(?:re|st))|only|primary|smallest|worst)\b",
    re.IGNORECASE,
)
FEATURES = (
    "negated_question", "negated_sentence", "negation_mismatch", "number_missing", "question_has_number",
    "names_missing", "question_has_names", "word_overlap", "ordering_missing", "question_has_ordering",
)


def wording_features(question: str, sentence: str) -> dict[str, float]:
    """The signals, each a 0/1 flag or a share, for a question and the sentence offered as its answer."""
    words = set(WORD.findall(sentence.lower()))
    negated_question, negated_sentence = bool(NEGATION.search(question)), bool(NEGATION.search(sentence))
    numbers = NUMBER.findall(question)
    names = [name.lower() for name in NAME.findall(question)]
    content = [word for word in WORD.findall(question.lower()) if word not in ENGLISH_STOP_WORDS]
    asked_ordering = {word.lower() for word in ORDERING.findall(question)}
    ordering = asked_ordering - ordering_found(asked_ordering, sentence)
    values = (
        negated_question, negated_sentence, negated_question and not negated_sentence,
        any(number not in sentence for number in numbers), bool(numbers),
        sum(name not in words for name in names) / max(len(names), 1), bool(names),
        sum(word in words for word in content) / max(len(content), 1),
        bool(ordering), bool(asked_ordering),
    )
    return {name: float(value) for name, value in zip(FEATURES, values)}


def ordering_found(asked: set[str], sentence: str) -> set[str]:
    """Which of the question's ordering words the sentence has, lower-cased as ORDERING's matches are."""
    if not asked:
        return set()
    # A pattern of the asked words alone finds the same ones some ten times quicker, unless a word lower-cased
    # to something else than ASCII ("FİRST" gives "fi̇rst"), which only the whole pattern finds as it did.
    pattern = re.compile(r"\b(" + "|".join(sorted(asked)) + r")\b", re.IGNORECASE) if all(word.isascii() for word in asked) else ORDERING
    return {word.lower() for word in pattern.findall(sentence)}
