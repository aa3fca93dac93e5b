"""Fusion functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.fusion import convex_fusion, convex_fusion_arrays, fuse_scores, min_max, ranked, reciprocal_rank_fusion


def test_reciprocal_rank_fusion() -> None:
    # a: 1/(60+1) + 1/(60+2); b: 1/(60+2) + 1/(60+1); c: 1/(60+3)
    fused = reciprocal_rank_fusion([[1, 2, 3], [2, 1]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(fused[1])
    assert fused[3] == pytest.approx(1 / 63)


def test_min_max() -> None:
    assert min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert min_max({1: 5.0, 2: 5.0}) == {1: 1.0, 2: 1.0}
    assert min_max({}) == {}


def test_convex_fusion_rescales_weights_of_the_features_present() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.7}  # normalised: 1.0, 0.0, 0.5
    lexical = {1: 0.0, 2: 8.0}  # normalised: 0.0, 1.0; item 3 missing counts 0
    weights = {"dense": 3.0, "lexical": 1.0, "unused": 6.0}
    fused = convex_fusion({"dense": dense, "lexical": lexical}, weights)
    assert fused == pytest.approx({1: 0.75, 2: 0.25, 3: 0.375})
    with pytest.raises(ValueError):
        convex_fusion({"dense": dense}, {"dense": 0.0})


def test_rrf_leaves_out_items_without_a_lexical_match() -> None:
    fused = fuse_scores({"dense": {1: 0.2, 2: 0.1}, "lexical": {1: 0.0, 2: 3.0}}, {}, "rrf", rrf_k=0)
    assert fused == pytest.approx({1: 1.0, 2: 0.5 + 1.0})


def test_ranked_breaks_ties_by_id() -> None:
    assert ranked({3: 1.0, 1: 1.0, 2: 2.0}, 2) == [(2, 2.0), (1, 1.0)]


def test_array_fusion_gives_exactly_the_dict_fusion() -> None:
    generator = np.random.default_rng(7)
    for size in (1, 2, 7, 60):
        ids = list(range(100, 100 + size))
        arrays = {name: generator.random(size).astype(np.float32) for name in ("chunk_dense", "sentence_dense", "chunk_lexical")}
        arrays["chunk_lexical"][: size // 2] = 0.0  # no BM25 match for some
        weights = {"chunk_dense": 0.3, "sentence_dense": 0.3, "chunk_lexical": 0.4}
        expected = convex_fusion({name: dict(zip(ids, values.tolist())) for name, values in arrays.items()}, weights)
        assert convex_fusion_arrays(arrays, weights).tolist() == [expected[i] for i in ids]
