"""Fit the abstention model on an eval set and measure it by leave-one-out cross-validation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from eval.quality.dataset import EvalQuestion
from eval.quality.metrics import abstention_precision, abstention_recall
from service.core.answer import AnswerSettings, draft_answer
from service.core.confidence import FEATURES, Calibration
from service.core.retrieval import Retriever

THRESHOLD = 0.5
REGULARISATION = 1.0


def collect_features(retriever: Retriever, questions: list[EvalQuestion], k: int, settings: AnswerSettings) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (one row per question) and answerable labels."""
    rows = []
    for question in questions:
        features = draft_answer(retriever, question.question, k, settings).features
        rows.append([features[name] for name in FEATURES])
    return np.array(rows, dtype=np.float64), np.array([q.answerable for q in questions])


def fit(features: np.ndarray, answerable: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    """Standardise, then an L2 logistic regression (answerable = 1)."""
    if answerable.all() or not answerable.any():
        raise ValueError("calibration needs both answerable and unanswerable questions")
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=REGULARISATION).fit(scaler.transform(features), answerable)
    return scaler, model


def leave_one_out(features: np.ndarray, answerable: np.ndarray) -> np.ndarray:
    """P(answerable) for each question from a model fit on all the others."""
    probabilities = np.zeros(len(answerable))
    for held_out in range(len(answerable)):
        keep = np.arange(len(answerable)) != held_out
        scaler, model = fit(features[keep], answerable[keep])
        probabilities[held_out] = model.predict_proba(scaler.transform(features[held_out : held_out + 1]))[0, 1]
    return probabilities


def cross_validated_figures(probabilities: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, object]:
    """Abstention precision and recall of held-out predictions at the threshold."""
    abstained = [bool(p < threshold) for p in probabilities]
    labels = [bool(a) for a in answerable]
    return {
        "method": "leave-one-out",
        "threshold": threshold,
        "abstention_precision": round(abstention_precision(abstained, labels), 4),
        "abstention_recall": round(abstention_recall(abstained, labels), 4),
        "answerable_wrongly_abstained": sum(1 for a, ok in zip(abstained, labels) if a and ok),
        "unanswerable_answered": sum(1 for a, ok in zip(abstained, labels) if not a and not ok),
    }


def calibrate(retriever: Retriever, questions: list[EvalQuestion], set_path: Path, k: int, settings: AnswerSettings) -> Calibration:
    """Fit on every question; record the leave-one-out figures beside the model."""
    features, answerable = collect_features(retriever, questions, k, settings)
    scaler, model = fit(features, answerable)
    return Calibration(
        features=list(FEATURES),
        mean=[round(float(v), 6) for v in scaler.mean_],
        scale=[round(float(v), 6) for v in scaler.scale_],
        coef=[round(float(v), 6) for v in model.coef_[0]],
        intercept=round(float(model.intercept_[0]), 6),
        threshold=THRESHOLD,
        fitted_on={
            "set": set_path.name,
            "sha256": hashlib.sha256(set_path.read_bytes()).hexdigest(),
            "questions": len(questions),
            "unanswerable": int((~answerable).sum()),
            "index_version": retriever.index.manifest.version,
            "k": k,
        },
        cross_validation=cross_validated_figures(leave_one_out(features, answerable), answerable, THRESHOLD),
    )
