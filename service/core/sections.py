"""Report structure as ranker features: a sentence under the heading the question names ("8. Maintenance" for
"What maintenance deficiency did the FTA find?") is likelier to answer it than one elsewhere that shares its
words, and a sentence every report repeats (the series' template) is less likely than one particular to its report."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from indexer.storage.lexical import text_tokens
from service.core.candidate_sentences import Candidates

# The ranker's columns for structure, in order (sentence_features.FEATURES ends with them).
STRUCTURE_FEATURES = ("template_share", "section_terms", "section_path_terms", "section_place", "section_depth")


@lru_cache(maxsize=4096)
def heading_terms(path: tuple[str, ...], depth: int) -> frozenset[str]:
    """The BM25 terms (stemmed, no stop words) of a heading path's `depth` innermost headings (0: all of them)."""
    return frozenset(text_tokens(" ".join(path[-depth:] if depth else path)))


def structure_columns(question: str, candidates: Candidates) -> np.ndarray:
    """Per candidate: the share of its words that recur across reports (the build's template_share); the share of
    the question's terms held by its two innermost headings and by its whole heading path; how far through the
    document's headings it sits (0 before the first, 1 under the last) and how deep its heading path is (n x 5)."""
    count = len(candidates.sentence_ids)
    columns = np.zeros((count, len(STRUCTURE_FEATURES)), dtype=np.float32)
    columns[:, 0] = np.asarray(candidates.table.template_share[candidates.ids], dtype=np.float32).reshape(count)
    asked = frozenset(text_tokens(question))
    if not asked:
        return columns
    spans = candidates.records.sentence_spans[candidates.ids].tolist()
    for row, (position, start, _) in enumerate(spans):
        path, place, headings = candidates.records.section_place(position, start)
        if place:
            columns[row, 1] = len(asked & heading_terms(path, 2)) / len(asked)
            columns[row, 2] = len(asked & heading_terms(path, 0)) / len(asked)
            columns[row, 3:] = place / headings, len(path)
    return columns
