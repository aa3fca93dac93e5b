"""Per-question retrieval and answer metrics as pure functions, plus their mean.

A ranking is a list of match sets: item i of the ranking holds the indices of
the gold answers that the i-th retrieved item overlaps (empty when it matches none).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

Ranking = Sequence[Collection[int]]


def hit_at_k(ranking: Ranking, k: int) -> float:
    """hit@k = 1 if any of the first k items matches a gold answer, else 0."""
    return 1.0 if any(ranking[:k]) else 0.0


def reciprocal_rank_at_k(ranking: Ranking, k: int) -> float:
    """RR@k = 1 / rank of the first matching item within the first k, else 0."""
    for rank, matched in enumerate(ranking[:k], start=1):
        if matched:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranking: Ranking, gold_count: int, k: int) -> float:
    """recall@k = |gold answers matched by the first k items| / |gold answers|."""
    if gold_count <= 0:
        raise ValueError("recall is undefined for a question with no gold answers")
    found = set().union(*ranking[:k]) if ranking[:k] else set()
    return len(found) / gold_count


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0


def abstention_precision(abstained: Sequence[bool], answerable: Sequence[bool]) -> float:
    """precision = |abstained and unanswerable| / |abstained|; 0.0 when nothing was abstained."""
    correct = sum(1 for a, ok in zip(abstained, answerable, strict=True) if a and not ok)
    return correct / sum(abstained) if any(abstained) else 0.0


def abstention_recall(abstained: Sequence[bool], answerable: Sequence[bool]) -> float:
    """recall = |abstained and unanswerable| / |unanswerable|; 0.0 when every question is answerable."""
    correct = sum(1 for a, ok in zip(abstained, answerable, strict=True) if a and not ok)
    unanswerable = sum(1 for ok in answerable if not ok)
    return correct / unanswerable if unanswerable else 0.0


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """nDCG@k = DCG@k / IDCG@k with DCG@k = sum over ranks i <= k of rel_i / log2(i + 1) (trec_eval's gain)."""
    dcg = sum(relevance.get(item, 0) / math.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1))
    ideal = sorted((grade for grade in relevance.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def as_ranking(ranked: Sequence[str], relevance: Mapping[str, int]) -> list[frozenset[int]]:
    """Ranked ids as match sets over the relevant ids (numbered in sorted order), for the metrics above."""
    relevant = {item: number for number, item in enumerate(sorted(i for i, grade in relevance.items() if grade > 0))}
    return [frozenset({relevant[item]}) if item in relevant else frozenset() for item in ranked]


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """AUROC = P(score of a random positive > score of a random negative) + 0.5 P(tie) (Mann-Whitney U / (n_pos n_neg))."""
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    if not pos or not neg:
        raise ValueError("AUROC needs at least one positive and one negative")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def calibration_bins(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of each non-empty equal-width bin [i/bins, (i+1)/bins) (the last bin holds 1.0)."""
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for value, ok in zip(confidence, correct, strict=True):
        grouped.setdefault(min(int(value * bins), bins - 1), []).append((value, ok))
    return [(mean([v for v, _ in group]), mean([float(ok) for _, ok in group]), len(group)) for _, group in sorted(grouped.items())]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE = sum over bins b of (n_b / n) |accuracy_b - mean confidence_b| (equal-width bins, Guo et al. 2017)."""
    total = len(confidence)
    return sum(count / total * abs(accuracy - conf) for conf, accuracy, count in calibration_bins(confidence, correct, bins)) if total else 0.0
