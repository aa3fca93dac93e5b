"""Rank fusion of dense and lexical candidates, as pure functions over {id: score}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """RRF(d) = sum over rankings r of 1 / (k + rank_r(d)), ranks starting at 1 (Cormack et al. 2009)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def min_max(scores: Mapping[int, float]) -> dict[int, float]:
    """(s - min) / (max - min) per item; every item gets 1.0 when all scores are equal."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {item: 1.0 for item in scores}
    return {item: (score - low) / (high - low) for item, score in scores.items()}


def convex_fusion(dense: Mapping[int, float], lexical: Mapping[int, float], dense_weight: float) -> dict[int, float]:
    """w * minmax(dense) + (1 - w) * minmax(lexical); an item missing from one side scores 0 there."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be in [0, 1], got {dense_weight}")
    dense_norm, lexical_norm = min_max(dense), min_max(lexical)
    return {
        item: dense_weight * dense_norm.get(item, 0.0) + (1 - dense_weight) * lexical_norm.get(item, 0.0)
        for item in dense_norm.keys() | lexical_norm.keys()
    }


def ranked(scores: Mapping[int, float], k: int) -> list[tuple[int, float]]:
    """The k best (id, score) pairs, ties broken by smaller id for stable output."""
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
