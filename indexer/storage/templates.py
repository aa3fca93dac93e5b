"""Templated sentences: the wording a series of reports repeats in each ("During this Triennial Review of X,
one (1) deficiency was found with the FTA requirements for Maintenance."), told apart from what is particular
to one report by how many reports share each run of three words."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

WORD = re.compile(r"[a-z]+|\d+")
NUMBER_WORD = re.compile(r"^(one|two|three|four|five|six|seven|eight|nine|ten|a|an|no)$")
# A run of three words is shared wording when at least this many reports use it, and this share of them.
MIN_REPORTS = 3
MIN_REPORT_SHARE = 0.2


def shingles(text: str) -> set[str]:
    """The sentence's runs of three words, lower-cased, with counting words ("one", "a", "no") as one token."""
    words = [NUMBER_WORD.sub("#", word) for word in WORD.findall(text.lower())]
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def template_shares(texts: Sequence[str], documents: Sequence[int]) -> np.ndarray:
    """Per sentence, the share of its three-word runs that recur across reports (0 for sentences of fewer
    than three words, and everywhere in an index of fewer than MIN_REPORTS reports).

    share(s) = |{g in shingles(s) : reports(g) >= max(MIN_REPORTS, MIN_REPORT_SHARE * N)}| / |shingles(s)|,
    where reports(g) counts the distinct documents with a sentence holding g and N the documents."""
    shares = np.zeros(len(texts), dtype=np.float32)
    total = len(set(documents))
    if total < MIN_REPORTS:
        return shares
    grams = [shingles(text) for text in texts]
    reports: dict[str, set[int]] = defaultdict(set)
    for gram_set, document in zip(grams, documents):
        for gram in gram_set:
            reports[gram].add(document)
    needed = max(MIN_REPORTS, MIN_REPORT_SHARE * total)
    for number, gram_set in enumerate(grams):
        if gram_set:
            shares[number] = sum(len(reports[gram]) >= needed for gram in gram_set) / len(gram_set)
    return shares
