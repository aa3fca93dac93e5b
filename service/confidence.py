"""Calibrated confidence that the corpus answers a question, from a few answer features."""

from __future__ import annotations

import math
import re
from pathlib import Path

import msgspec

from indexer.lexical import LexicalIndex, text_tokens
from service.stopwords import ENGLISH_STOP_WORDS
from service.types import Passage

DEFAULT_CALIBRATION = Path(__file__).with_name("calibration.json")
FEATURES = ("best_cosine", "coverage", "number_mismatch")
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


def answer_features(lexical: LexicalIndex, question: str, passages: list[Passage], best_cosine: float) -> dict[str, float]:
    """The features the calibration reads, for one question and its retrieved passages."""
    return {
        "best_cosine": best_cosine,
        "coverage": coverage(lexical, question, passages),
        "number_mismatch": number_mismatch(question, passages),
    }
