"""Organisations named in a question select their reports, by the names in their metadata: "What did the FTA
find at COLTS?" is asked of the COLTS report, and within it "COLTS" no longer favours the cover letter that
names it most often."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from service.core.stopwords import ENGLISH_STOP_WORDS

# A word of a name: letters, digits and "&" ("DRBA", "Bay", "5310"); "Bangor's" reads as "Bangor".
NAME_WORD = re.compile(r"[A-Za-z0-9&]+(?:['’]s\b)?")
# Metadata fields that describe a document rather than name who it is about.
NOT_NAMES = frozenset({"title", "subject", "keywords", "description", "comments", "summary"})
# Metadata values longer than this are descriptions, not names.
NAME_CHARS = 120
# A report is selected when its named words weigh at least this share of the best-named report's.
CLOSE_TO_BEST = 0.75
# A name must be this rare among the reports to select anything: the name of at most a quarter of them.
MIN_WEIGHT = math.log(4)
LITTLE_WORDS = frozenset({"of", "the", "and", "&", "for", "in", "at", "on", "a", "an", "to"})


@dataclass(frozen=True)
class Named:
    """The reports a question names (positions in the index) and the words of the names it used."""

    positions: tuple[int, ...]
    words: frozenset[str]


def name_words(text: str) -> list[str]:
    """The words of a name or question, lower-cased, possessives dropped."""
    return [re.sub(r"['’]s$", "", word).lower() for word in NAME_WORD.findall(text)]


def significant(words: list[str]) -> frozenset[str]:
    """A name's words less the little words between them ("City of Bangor" is {city, bangor})."""
    return frozenset(word for word in words if word not in LITTLE_WORDS)


class DocumentNames:
    """Each report's names (its short metadata values) and how many reports share each name."""

    def __init__(self, names: dict[int, Iterable[str]]) -> None:
        holders: defaultdict[frozenset[str], list[int]] = defaultdict(list)
        for position, values in names.items():
            for name in {significant(name_words(value)) for value in values} - {frozenset()}:
                holders[name].append(position)
        total = len(names)
        self.weight = {name: math.log(total / len(positions)) for name, positions in holders.items()}
        # Only names some reports lack can tell reports apart; each is found by its words, so a question
        # costs the names that share its words, not a pass over every report.
        self.holders = {name: positions for name, positions in holders.items() if self.weight[name] > 0}
        self.by_word: defaultdict[str, list[frozenset[str]]] = defaultdict(list)
        for name in self.holders:
            for word in name:
                self.by_word[word].append(name)

    @classmethod
    def of_records(cls, rows: Iterable[tuple[int, str]]) -> DocumentNames:
        """From (position, metadata JSON) rows: every short text value of the metadata but the title. A title names
        a topic as often as an organisation ("Anxiety", "Sudden infant death syndrome"), so it selects nothing."""
        names = {}
        for position, metadata in rows:
            values = msgspec.json.decode(metadata) if metadata else {}
            names[position] = [value for key, value in values.items() if key not in NOT_NAMES and isinstance(value, str) and len(value) <= NAME_CHARS]
        return cls(names)

    def named(self, question: str) -> Named | None:
        """The reports one of whose names the question uses whole, when that name is rare among reports; else None.

        score(report) = sum of log(N / reports(name)) over its names all of whose words the question holds;
        selected: the reports scoring at least CLOSE_TO_BEST of the best, if the best reaches MIN_WEIGHT."""
        asked = frozenset(name_words(question))
        used = {name for word in asked for name in self.by_word.get(word, ()) if name <= asked}
        scores: Counter[int] = Counter()
        for name in used:
            for position in self.holders[name]:
                scores[position] += self.weight[name]
        best = max(scores.values(), default=0.0)
        if best < MIN_WEIGHT:
            return None
        positions = tuple(sorted(position for position, score in scores.items() if score >= CLOSE_TO_BEST * best))
        chosen = set(positions)
        words = frozenset(word for name in used if self.weight[name] >= MIN_WEIGHT and chosen.intersection(self.holders[name]) for word in name)
        return Named(positions, words)


def without_words(text: str, words: frozenset[str]) -> str:
    """text less the given name words (and their possessives), for term matching within the named reports."""
    if not words:
        return text
    kept = [token for token in re.split(r"(\s+)", text) if not (token.strip() and "".join(name_words(token)) in words)]
    stripped = "".join(kept).strip()
    # A question that is all name ("Roads policing in Northshire") keeps its words: nothing else would match.
    return stripped if any(word not in ENGLISH_STOP_WORDS for word in name_words(stripped)) else text
