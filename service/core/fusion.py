"""Rank fusion of several retrievers' scores, as pure functions over {id: score}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from service.core.answer_kernel import convex_fusion_columns


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


def convex_fusion(features: Mapping[str, Mapping[int, float]], weights: Mapping[str, float]) -> dict[int, float]:
    """sum over features f of w_f * minmax(s_f)(d), the weights rescaled to sum to 1; a missing score counts 0."""
    total = sum(weights[name] for name in features)
    if total <= 0:
        raise ValueError("fusion weights of the features used must not all be zero")
    fused: dict[int, float] = {}
    for name, scores in features.items():
        weight = weights[name] / total
        for item, normalised in min_max(scores).items():
            fused[item] = fused.get(item, 0.0) + weight * normalised
    return fused


def convex_fusion_arrays(features: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """convex_fusion over arrays that all score the same items in the same order: the same float64
    operations in the same order, so the same fused scores (compiled when the install built it)."""
    total = sum(weights[name] for name in features)
    if total <= 0:
        raise ValueError("fusion weights of the features used must not all be zero")
    compiled = convex_fusion_columns([np.asarray(scores) for scores in features.values()], [weights[name] / total for name in features])
    if compiled is not None:
        return compiled
    fused = np.zeros(len(next(iter(features.values()), [])))
    for name, scores in features.items():
        values = np.asarray(scores, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        normalised = np.ones_like(values) if high == low else (values - low) / (high - low)
        fused = fused + weights[name] / total * normalised
    return fused


def fuse_scores(
    features: Mapping[str, Mapping[int, float]], weights: Mapping[str, float], method: str = "convex", rrf_k: int = 60
) -> dict[int, float]:
    """Convex fusion with the weights, or RRF over each feature's ranking (a score of exactly 0, no BM25 match, is unranked)."""
    if method == "rrf":
        rankings = [[item for item, score in ranked(scores, len(scores)) if score != 0] for scores in features.values()]
        return reciprocal_rank_fusion(rankings, rrf_k)
    return convex_fusion(features, weights)


def ranked(scores: Mapping[int, float], k: int) -> list[tuple[int, float]]:
    """The k best (id, score) pairs, ties broken by smaller id for stable output."""
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
