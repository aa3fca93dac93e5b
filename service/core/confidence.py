"""Two calibrated scores of an answer: that the corpus covers the question, and that the first evidence answers it."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from pathlib import Path

import msgspec
import numpy as np

from indexer.storage.lexical import LexicalIndex, text_tokens
from service.core.sentence_features import FEATURES as SENTENCE_FEATURES
from service.core.stopwords import ENGLISH_STOP_WORDS
from service.core.types import Passage
from service.core.wording import FEATURES as WORDING_FEATURES
from service.core.wording import wording_features

# The verdict models of the fused-score fallback (no answer ranker for the encoder), fit on SQuAD's choosing half.
FUSED_VERDICT = Path(__file__).with_name("verdict.json")
VERDICTS = ("answer", "uncertain", "none")
# Read off the first evidence sentence's row of the ranker's feature matrix.
FIRST_EVIDENCE = {
    "top_dense": "dense", "top_dense_z": "dense_z", "top_coverage": "coverage", "top_coverage_context": "coverage_context", "top_coverage_document": "coverage_document",
    "top_missing_context": "missing_context", "top_missing_document": "missing_document", "top_lexical_of_query": "lexical_of_query",
    "top_passage_score": "passage_score",
}
FIRST_EVIDENCE_COLUMNS = {name: SENTENCE_FEATURES.index(column) for name, column in FIRST_EVIDENCE.items()}
DENSE_COLUMN, DENSE_Z_COLUMN = SENTENCE_FEATURES.index("dense"), SENTENCE_FEATURES.index("dense_z")
FEATURES = ("best_cosine", "best_dense_z", "coverage", "number_mismatch", "top_score", "score_margin", *FIRST_EVIDENCE, *WORDING_FEATURES)
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
    """A logistic model over features, and the operating threshold. Each feature enters either linearly,
    standardised (mean, scale, coef), or through a piecewise-linear shape (knots, values), held constant
    beyond the outer knots so that a corpus unlike the one it was fit on cannot push it past what was seen."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    fitted_on: dict[str, object] = {}
    cross_validation: dict[str, object] = {}
    knots: list[list[float]] = []
    values: list[list[float]] = []

    def confidence(self, values: dict[str, float]) -> float:
        """sigmoid(intercept + sum_i f_i(x_i)), f_i(x) = coef_i (x - mean_i) / scale_i, or the shape's
        linear interpolation between its knots."""
        if self.knots:
            z = self.intercept + sum(interpolate(values[name], knots, shape) for name, knots, shape in zip(self.features, self.knots, self.values))
        else:
            z = self.intercept + sum(
                c * (values[name] - m) / s for name, c, m, s in zip(self.features, self.coef, self.mean, self.scale)
            )
        return 1.0 / (1.0 + math.exp(-z))


def interpolate(x: float, knots: list[float], values: list[float]) -> float:
    """np.interp for one number (a tenth of its cost on a scalar): linear between knots, flat beyond them."""
    if x < knots[0]:
        return values[0]
    if x >= knots[-1]:
        return values[-1]
    right = bisect_right(knots, x)
    left = right - 1
    return values[left] + (values[right] - values[left]) * (x - knots[left]) / (knots[right] - knots[left])


class VerdictModel(msgspec.Struct, frozen=True):
    """The two scores behind a verdict, each a Calibration with its own threshold: below the coverage
    threshold the corpus does not cover the question ("none"); at or above the answer threshold the first
    evidence answers it ("answer"); between, the closest passages are shown as such ("uncertain")."""

    coverage: Calibration
    answer: Calibration


def decode_checked(path: Path, kind: type) -> Calibration | VerdictModel:
    """A calibration or verdict file, decoded; CalibrationError when it cannot be read."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except (OSError, msgspec.DecodeError) as error:
        raise CalibrationError(f"cannot read calibration {path}: {error}") from error


def check_features(calibration: Calibration, path: Path) -> Calibration:
    """A calibration whose features this version computes, with one term per feature."""
    terms = (calibration.knots, calibration.values) if calibration.knots else (calibration.coef, calibration.mean, calibration.scale)
    if set(calibration.features) - set(FEATURES) or any(len(term) != len(calibration.features) for term in terms):
        raise CalibrationError(f"calibration {path} does not match this version's features {FEATURES}")
    if calibration.knots and any(len(k) != len(v) or list(k) != sorted(k) for k, v in zip(calibration.knots, calibration.values)):
        raise CalibrationError(f"calibration {path} has a shape whose knots are unsorted or unmatched by values")
    return calibration


def load_calibration(path: Path) -> Calibration:
    """One calibrated score (as `eval calibrate` writes: answerable against unanswerable) from a file."""
    return check_features(decode_checked(path, Calibration), path)


def load_verdict_model(path: Path | None = None) -> VerdictModel:
    """The verdict models at path, or the fused-score fallback's shipped with the service."""
    path = path or FUSED_VERDICT
    model = decode_checked(path, VerdictModel)
    check_features(model.coverage, path)
    check_features(model.answer, path)
    return model


def configured_calibration(path: Path | None) -> Calibration | None:
    """The coverage calibration a setting names, or None: the one shipped with the encoder's answer ranker."""
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


def question_features(lexical: LexicalIndex, question: str, passages: list[Passage], matrix: np.ndarray) -> dict[str, float]:
    """The confidence features that do not depend on how the candidates are ranked."""
    return {
        "best_cosine": float(matrix[:, DENSE_COLUMN].max()) if len(matrix) else 0.0,
        "best_dense_z": float(matrix[:, DENSE_Z_COLUMN].max()) if len(matrix) else 0.0,
        "coverage": coverage(lexical, question, passages),
        "number_mismatch": number_mismatch(question, passages),
    }


def ranked_features(matrix: np.ndarray, order: list[tuple[int, float]]) -> dict[str, float]:
    """The confidence features of the first and second ranked candidates ((row, score) pairs, best first)."""
    features = {
        "top_score": order[0][1] if order else 0.0,
        "score_margin": order[0][1] - order[1][1] if len(order) > 1 else 0.0,
    }
    first = matrix[order[0][0]].tolist() if order else [0.0] * len(SENTENCE_FEATURES)
    features.update({name: first[column] for name, column in FIRST_EVIDENCE_COLUMNS.items()})
    return features


def answer_features(
    lexical: LexicalIndex, question: str, passages: list[Passage], matrix: np.ndarray, order: list[tuple[int, float]], first_text: str
) -> dict[str, float]:
    """Every feature the calibration may read, for one question, its passages, its ranked candidates
    (the quotable ones: a heading that repeats the question says nothing about whether it is answered)
    and the text of the first of them."""
    quotable = matrix[[row for row, _ in order]] if order else matrix[:0]
    return question_features(lexical, question, passages, quotable) | ranked_features(matrix, order) | wording_features(question, first_text)
