"""Fit the two verdict models on SQuAD's choosing half: coverage (left-out articles against answerable
questions) and answer (first evidence right, among questions the index covers, near misses included).

Coverage is an additive logistic model: each feature through a piecewise-linear shape with knots at its
quantiles (sklearn's degree-1 SplineTransformer), so the serving code evaluates it with np.interp. The
answer model is linear, written as two-knot shapes, so it too is held constant beyond what SQuAD showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np

from service.core.confidence import FIRST_EVIDENCE, Calibration, VerdictModel, ranked_features
from service.core.wording import FEATURES as WORDING_FEATURES, wording_features

# The coverage threshold keeps this share of the questions answered right on the choosing half's
# left-out-articles index out of verdict "none" (issue 21: at most 1% of right answers refused).
KEEP_RIGHT = 0.99
# The answer threshold gives verdict "answer" to this share of those questions (the rest are "uncertain").
ANSWER_RIGHT = 0.80
# What the coverage model reads: the ranking and retrieval features, each through a piecewise-linear
# shape with this many knots at quantiles (chosen on the choosing half's folds, README).
COVERAGE_INPUTS = ("best_cosine", "best_dense_z", "coverage", "number_mismatch", "top_score", "score_margin", *FIRST_EVIDENCE)
COVERAGE_KNOTS = 5
# What the answer model reads: those and the wording signals of the first sentence, linearly.
ANSWER_INPUTS = (*COVERAGE_INPUTS, *WORDING_FEATURES)
# Regularisation, chosen on the choosing half (README, "Verdicts").
COVERAGE_C = 0.1
ANSWER_C = 1.0


@dataclass(frozen=True)
class VerdictTable:
    """One row of verdict features per question, whether its first sentence is gold, whether it is answerable."""

    features: list[dict[str, float]]
    correct: np.ndarray
    answerable: np.ndarray

    def matrix(self, names: tuple[str, ...]) -> np.ndarray:
        """The named features as columns."""
        return np.array([[row[name] for name in names] for row in self.features], dtype=np.float64).reshape(len(self.features), len(names))

    def subset(self, keep: np.ndarray) -> VerdictTable:
        """The rows where keep is true."""
        return VerdictTable([row for row, kept in zip(self.features, keep) if kept], self.correct[keep], self.answerable[keep])


def ranked_table(rows: list, scores: list[np.ndarray]) -> VerdictTable:
    """The ranker path's verdict features of collected rows (eval.quality.answer_training.Collected), ranked by scores."""
    features, correct, answerable = [], [], []
    for row, row_scores in zip(rows, scores):
        if not len(row.matrix):
            continue  # filters or an empty index: the service says "none" without asking the models
        order = np.lexsort((np.arange(len(row_scores)), -row_scores))
        ranked = ranked_features(row.matrix, [(int(i), float(row_scores[i])) for i in order])
        features.append(row.base | ranked | wording_features(row.question, row.texts[order[0]]))
        correct.append(bool(row.labels[order[0]]))
        answerable.append(row.answerable)
    return VerdictTable(features, np.array(correct, dtype=bool), np.array(answerable, dtype=bool))


def fused_table(rows: list) -> VerdictTable:
    """The fused-score path's verdict features, as collected through the service's own ranking."""
    kept = [row for row in rows if row.fused_features is not None]
    return VerdictTable([row.fused_features for row in kept], np.array([row.fused_correct for row in kept], dtype=bool), np.array([row.answerable for row in kept], dtype=bool))


def fit_shapes(matrix: np.ndarray, labels: np.ndarray, knots: int, regularisation: float) -> tuple[list[list[float]], list[list[float]], float]:
    """An additive logistic model with piecewise-linear shapes: (knots, values) per column, and the intercept."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import SplineTransformer

    if labels.all() or not labels.any():
        raise ValueError("a verdict model needs both outcomes among its questions")
    splines = SplineTransformer(n_knots=knots, degree=1, knots="quantile").fit(matrix)
    model = LogisticRegression(C=regularisation, max_iter=5000).fit(splines.transform(matrix), labels)
    positions = [spline.t[1:-1] for spline in splines.bsplines_]
    grid = np.column_stack([np.resize(p, max(len(p) for p in positions)) for p in positions])
    basis, width = splines.transform(grid), splines.n_features_out_ // matrix.shape[1]
    coef = model.coef_[0]
    values = [basis[: len(p), i * width : (i + 1) * width] @ coef[i * width : (i + 1) * width] for i, p in enumerate(positions)]
    return [[round(float(k), 6) for k in p] for p in positions], [[round(float(v), 6) for v in column] for column in values], round(float(model.intercept_[0]), 6)


def fit_linear(matrix: np.ndarray, labels: np.ndarray, regularisation: float) -> tuple[list[list[float]], list[list[float]], float]:
    """A linear logistic model over standardised columns, as two-knot shapes at each column's seen range."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(matrix)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=regularisation, max_iter=5000).fit((matrix - scaler.mean_) / scale, labels)
    low, high = matrix.min(axis=0), matrix.max(axis=0)
    knots = [[round(float(a), 6), round(float(max(b, a + 1e-6)), 6)] for a, b in zip(low, high)]
    values = [[round(float(c * (k - m) / s), 6) for k in pair] for c, m, s, pair in zip(model.coef_[0], scaler.mean_, scale, knots)]
    return knots, values, round(float(model.intercept_[0]), 6)


def shaped(names: tuple[str, ...], fitted: tuple, threshold: float, fitted_on: dict) -> Calibration:
    """A Calibration of shapes."""
    knots, values, intercept = fitted
    return Calibration(list(names), [], [], [], intercept, round(threshold, 4), fitted_on, knots=knots, values=values)


def probabilities(calibration: Calibration, table: VerdictTable) -> np.ndarray:
    """The calibration's probability for every row."""
    return np.array([calibration.confidence(row) for row in table.features])


def threshold_keeping(scores: np.ndarray, share: float) -> float:
    """The highest threshold that still lets `share` of these scores through (score >= threshold)."""
    if not len(scores):
        raise ValueError("no question was answered right: cannot place the threshold")
    return float(np.quantile(scores, 1 - share, method="lower"))


def joined(first: VerdictTable, second: VerdictTable) -> VerdictTable:
    """Both tables' rows."""
    return VerdictTable(first.features + second.features, np.concatenate([first.correct, second.correct]), np.concatenate([first.answerable, second.answerable]))


def fit_verdict_models(left_out: VerdictTable, near_miss: VerdictTable, fitted_on: dict) -> VerdictModel:
    """Coverage from the left-out-articles index's questions; answer from its answerable ones and the
    v2.0 questions; both thresholds placed on the left-out index's questions answered right."""
    coverage = shaped(COVERAGE_INPUTS, fit_shapes(left_out.matrix(COVERAGE_INPUTS), left_out.answerable, COVERAGE_KNOTS, COVERAGE_C), 0.5, fitted_on)
    covered = joined(left_out.subset(left_out.answerable), near_miss)
    answer = shaped(ANSWER_INPUTS, fit_linear(covered.matrix(ANSWER_INPUTS), covered.correct, ANSWER_C), 0.5, fitted_on)
    coverage_scores, answer_scores, right = probabilities(coverage, left_out), probabilities(answer, left_out), left_out.correct
    coverage_threshold = threshold_keeping(coverage_scores[right], KEEP_RIGHT)
    answer_threshold = threshold_keeping(answer_scores[right & (coverage_scores >= coverage_threshold)], ANSWER_RIGHT)
    return VerdictModel(
        msgspec.structs.replace(coverage, threshold=round(coverage_threshold, 4)), msgspec.structs.replace(answer, threshold=round(answer_threshold, 4))
    )
