"""Metric functions against values computed by hand."""

from __future__ import annotations

import pytest

from eval.quality.metrics import (
    abstention_precision,
    abstention_recall,
    hit_at_k,
    mean,
    recall_at_k,
    reciprocal_rank_at_k,
)

# Ranked items for one question with two gold answers (0 and 1):
# rank 1 matches nothing, rank 2 matches gold 1, rank 3 nothing, rank 4 matches gold 0.
RANKING = [set(), {1}, set(), {0}]


def test_hit_at_k() -> None:
    assert hit_at_k(RANKING, 1) == 0.0
    assert hit_at_k(RANKING, 2) == 1.0
    assert hit_at_k([], 3) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank_at_k(RANKING, 10) == 0.5
    assert reciprocal_rank_at_k(RANKING, 1) == 0.0
    assert reciprocal_rank_at_k([set(), set(), {0}], 10) == pytest.approx(1 / 3)


def test_recall_at_k() -> None:
    assert recall_at_k(RANKING, 2, 1) == 0.0
    assert recall_at_k(RANKING, 2, 3) == 0.5
    assert recall_at_k(RANKING, 2, 4) == 1.0
    with pytest.raises(ValueError):
        recall_at_k(RANKING, 0, 4)


def test_mean_over_questions() -> None:
    # MRR of rankings with first hits at ranks 1, 2 and none: (1 + 0.5 + 0) / 3.
    rankings = [[{0}], [set(), {0}], [set()]]
    assert mean([reciprocal_rank_at_k(r, 10) for r in rankings]) == pytest.approx(0.5)
    assert mean([]) == 0.0


def test_abstention_precision_and_recall() -> None:
    # Four questions: two unanswerable (the last two). The system abstains on
    # question 2 (wrongly) and question 3 (rightly): precision 1/2, recall 1/2.
    answerable = [True, True, False, False]
    abstained = [False, True, True, False]
    assert abstention_precision(abstained, answerable) == 0.5
    assert abstention_recall(abstained, answerable) == 0.5
    assert abstention_precision([False] * 4, answerable) == 0.0
    assert abstention_recall([True] * 4, answerable) == 1.0


def test_auroc_counts_pairs_and_half_ties() -> None:
    from eval.quality.metrics import auroc

    # Positives 0.9, 0.4; negatives 0.5, 0.4: pairs (0.9>0.5) 1, (0.9>0.4) 1, (0.4<0.5) 0, (0.4=0.4) 0.5 -> 2.5 / 4.
    assert auroc([0.9, 0.4, 0.5, 0.4], [True, True, False, False]) == 0.625
    assert auroc([0.1, 0.9], [False, True]) == 1.0
    with pytest.raises(ValueError):
        auroc([0.1, 0.2], [True, True])


def test_expected_calibration_error_weights_each_bin_gap_by_its_size() -> None:
    from eval.quality.metrics import calibration_bins, expected_calibration_error

    confidence = [0.05, 0.15, 0.95, 0.95]
    correct = [False, True, True, False]
    # Bins: [0,0.1): conf 0.05, acc 0; [0.1,0.2): 0.15, acc 1; [0.9,1]: 0.95, acc 0.5.
    assert calibration_bins(confidence, correct) == [(0.05, 0.0, 1), (0.15, 1.0, 1), (0.95, 0.5, 2)]
    # ECE = 1/4 * 0.05 + 1/4 * 0.85 + 2/4 * 0.45 = 0.45
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.45)
    assert calibration_bins([1.0], [True]) == [(1.0, 1.0, 1)]
