"""Calibrated confidence that the corpus answers a question, from a few answer features."""

from __future__ import annotations

import math
import re
from pathlib import Path

import msgspec
import numpy as np

from indexer.lexical import LexicalIndex, text_tokens
from service.sentence_features import FEATURES as SENTENCE_FEATURES
from service.stopwords import ENGLISH_STOP_WORDS
from service.types import Passage

# The confidence model of the fused-score fallback (no answer ranker for the encoder), fit on the seed set.
DEFAULT_CALIBRATION = Path(__file__).with_name("calibration.json")
# Read off the first evidence sentence's row of the ranker's feature matrix.
FIRST_EVIDENCE = {
    "top_dense": "dense", "top_dense_z": "dense_z", "top_coverage": "coverage", "top_coverage_context": "coverage_context", "top_coverage_document": "coverage_document",
    "top_missing_context": "missing_context", "top_missing_document": "missing_document", "top_lexical_of_query": "lexical_of_query",
    "top_passage_score": "passage_score",
}
FEATURES = ("best_cosine", "best_dense_z", "coverage", "number_mismatch", "top_score", "score_margin", *FIRST_EVIDENCE)
# Questions whose answer is a count, amount, rate or date.
EXPECTS_NUMBER = re.compile(
    r"^\s*(how\s+(many|much|often|long|quickly|fast|soon)|when)\b|\bwhat\s+(percentage|proportion|number|rate|year|date)\b|\b(rate|budget|statistics?)\b",
    re.IGNORECASE,
)
HAS_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|per\s*cent|percent|half|quarter)\b",
    re.IGNORECASE,
)


QUESTION_STOPWORDS = tuple(sorted(ENGLISH_STOP_WORDS | {"did", "does", "say", "said", "tell"}))


class CalibrationError(ValueError):
    """A calibration file that cannot be used."""


class Calibration(msgspec.Struct, frozen=True):
    """A logistic model over standardised features, and the operating threshold."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    fitted_on: dict[str, object] = {}
    cross_validation: dict[str, object] = {}

    def confidence(self, values: dict[str, float]) -> float:
        """P(answerable) = sigmoid(intercept + sum coef_i * (x_i - mean_i) / scale_i)."""
        z = self.intercept + sum(
            c * (values[name] - m) / s for name, c, m, s in zip(self.features, self.coef, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-z))


def load_calibration(path: Path | None = None) -> Calibration:
    """The calibration at path, or the one shipped with the service."""
    path = path or DEFAULT_CALIBRATION
    try:
        calibration = msgspec.json.decode(path.read_bytes(), type=Calibration)
    except (OSError, msgspec.DecodeError) as error:
        raise CalibrationError(f"cannot read calibration {path}: {error}") from error
    if set(calibration.features) - set(FEATURES) or not len(calibration.features) == len(calibration.coef) == len(calibration.mean) == len(calibration.scale):
        raise CalibrationError(f"calibration {path} does not match this version's features {FEATURES}")
    return calibration


def configured_calibration(path: Path | None) -> Calibration | None:
    """The calibration a setting names, or None: the one shipped with the encoder's answer ranker."""
    return load_calibration(path) if path is not None else None


def coverage(lexical: LexicalIndex, question: str, passages: list[Passage]) -> float:
    """IDF-weighted share of the question's content terms that occur in the retrieved passages."""
    # Question words ("how", "many", "does") are rare in reports, so they would count as missing.
    terms = set(text_tokens(question, QUESTION_STOPWORDS))
    if not terms:
        return 0.0
    found: set[str] = set().union(*(terms & set(text_tokens(p.text)) for p in passages))
    total = sum(lexical.idf(term) for term in terms)
    return sum(lexical.idf(term) for term in found) / total if total else 0.0


def number_mismatch(question: str, passages: list[Passage]) -> float:
    """1.0 when the question asks for a number and no retrieved passage holds one."""
    if not EXPECTS_NUMBER.search(question):
        return 0.0
    return 0.0 if any(HAS_NUMBER.search(p.text) for p in passages) else 1.0


def unseen_terms(lexical: LexicalIndex, question: str) -> float:
    """Share of the question's content terms that occur in no indexed sentence: a name the corpus never mentions."""
    terms = set(text_tokens(question, QUESTION_STOPWORDS))
    return sum(1 for term in terms if term not in lexical.bm25.vocab_dict) / len(terms) if terms else 0.0


def question_features(lexical: LexicalIndex, question: str, passages: list[Passage], matrix: np.ndarray) -> dict[str, float]:
    """The confidence features that do not depend on how the candidates are ranked."""
    return {
        "best_cosine": float(matrix[:, SENTENCE_FEATURES.index("dense")].max()) if len(matrix) else 0.0,
        "best_dense_z": float(matrix[:, SENTENCE_FEATURES.index("dense_z")].max()) if len(matrix) else 0.0,
        "coverage": coverage(lexical, question, passages),
        "number_mismatch": number_mismatch(question, passages),
    }


def ranked_features(matrix: np.ndarray, order: list[tuple[int, float]]) -> dict[str, float]:
    """The confidence features of the first and second ranked candidates ((row, score) pairs, best first)."""
    features = {
        "top_score": order[0][1] if order else 0.0,
        "score_margin": order[0][1] - order[1][1] if len(order) > 1 else 0.0,
    }
    first = matrix[order[0][0]] if order else np.zeros(len(SENTENCE_FEATURES))
    features.update({name: float(first[SENTENCE_FEATURES.index(column)]) for name, column in FIRST_EVIDENCE.items()})
    return features


def answer_features(lexical: LexicalIndex, question: str, passages: list[Passage], matrix: np.ndarray, order: list[tuple[int, float]]) -> dict[str, float]:
    """Every feature the calibration may read, for one question, its passages and its ranked candidates
    (the quotable ones: a heading that repeats the question says nothing about whether it is answered)."""
    quotable = matrix[[row for row, _ in order]] if order else matrix[:0]
    return question_features(lexical, question, passages, quotable) | ranked_features(matrix, order)
