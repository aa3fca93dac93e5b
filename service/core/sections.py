"""Report structure as a signal: a sentence under the heading the question names ("8. Maintenance" for
"What maintenance deficiency did the FTA find?") is likelier to answer it than one elsewhere that shares
its words."""

from __future__ import annotations

from functools import lru_cache

from indexer.storage.lexical import text_tokens
from indexer.storage.records import RecordStore
from service.core.candidate_sentences import Candidates

# Ranker points added to a candidate, times the share of the question's terms its two innermost headings hold.
# Chosen on the FTA dev questions: 0.514 first quotes right with none, 0.543 with 2, 0.557 with 3 and 4 (sure and
# wrong 0.214, 0.200, 0.214, 0.243); on questions written here about the other reports it changed no first quote.
SECTION_WEIGHT = 3.0
# Only the best candidates are looked up: a heading never lifts one from further down.
SECTION_DEPTH = 30


@lru_cache(maxsize=4096)
def heading_terms(path: tuple[str, ...]) -> frozenset[str]:
    """The BM25 terms (stemmed, no stop words) of a heading path's two innermost headings."""
    return frozenset(text_tokens(" ".join(path[-2:])))


def with_sections(records: RecordStore, candidates: Candidates, order: list[tuple[int, float]], question: str) -> list[tuple[int, float]]:
    """order with each of its first SECTION_DEPTH candidates lifted by the share of the question's terms its section holds."""
    asked = frozenset(text_tokens(question))
    if not asked or not order:
        return order
    spans = records.sentence_spans
    lifted = []
    for place, (row, score) in enumerate(order):
        if place < SECTION_DEPTH:
            position, start, _ = spans[candidates.sentence_ids[row]].tolist()
            path = records.section(position, start)
            score += SECTION_WEIGHT * len(asked & heading_terms(path)) / len(asked)
        lifted.append((row, score))
    return sorted(lifted, key=lambda pair: -pair[1])
