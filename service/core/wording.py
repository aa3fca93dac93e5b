"""Wording signals of a question against its first evidence sentence: a negation, number, name or
superlative the question turns on that the sentence does not have.

SQuAD v2.0's unanswerable questions were written by changing an answerable one in exactly these ways
(Rajpurkar et al. 2018: negation, antonym, entity swap, impossible condition), so they are what tells
a close passage from an answer when the cosines cannot.
"""

from __future__ import annotations

import re

from service.core.stopwords import ENGLISH_STOP_WORDS

# not, no, none, nor, never, neither, without, cannot as words, or a word ending in n't; the alternatives
# share their prefixes because the regex engine tries each one at every position of a long sentence.
NEGATION = re.compile(r"(?:\b(?:n(?:o(?:t|ne|r)?|e(?:ver|ither))|without|cannot)|n't)\b", re.IGNORECASE)
NUMBER = re.compile(r"\d[\d,.]*")
# A capitalised word that does not open the question.
NAME = re.compile(r"(?<!^)\b[A-Z][a-zA-Z]+")
WORD = re.compile(r"[A-Za-z]+")
ORDERING = re.compile(
    r"\b(first|last|most|least|largest|smallest|biggest|highest|lowest|earliest|latest|best|worst|only|major|minor|main|"
    r"primary|before|after|earlier|later|more|less|fewer)\b",
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
    # Only the question's ordering words matter, so a question without one needs no look at the sentence.
    ordering = asked_ordering - {word.lower() for word in ORDERING.findall(sentence)} if asked_ordering else asked_ordering
    values = (
        negated_question, negated_sentence, negated_question and not negated_sentence,
        any(number not in sentence for number in numbers), bool(numbers),
        sum(name not in words for name in names) / max(len(names), 1), bool(names),
        sum(word in words for word in content) / max(len(content), 1),
        bool(ordering), bool(asked_ordering),
    )
    return {name: float(value) for name, value in zip(FEATURES, values)}
