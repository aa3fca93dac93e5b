"""Abstention features and the calibrated confidence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from service.confidence import Calibration, CalibrationError, load_calibration, number_mismatch
from service.retrieval import Retriever
from service.types import Passage


def passage(text: str) -> Passage:
    return Passage(0, "d.txt", "t", text, 0, len(text), 1.0)


def test_confidence_is_the_logistic_of_standardised_features() -> None:
    calibration = Calibration(["best_cosine", "coverage"], [0.5, 0.5], [0.1, 0.2], [2.0, 1.0], -0.5, 0.5)
    # z = -0.5 + 2 * (0.7 - 0.5) / 0.1 + 1 * (0.3 - 0.5) / 0.2 = -0.5 + 4 - 1 = 2.5
    assert calibration.confidence({"best_cosine": 0.7, "coverage": 0.3}) == pytest.approx(1 / (1 + math.exp(-2.5)))


def test_shipped_calibration_loads_with_its_cross_validated_figures() -> None:
    calibration = load_calibration()
    assert calibration.features == ["best_cosine", "coverage", "number_mismatch"]
    assert calibration.cross_validation["method"] == "leave-one-out"
    assert calibration.fitted_on["set"] == "seed.jsonl"


def test_unreadable_calibration_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"features": ["shoe_size"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0, "threshold": 0.5}')
    with pytest.raises(CalibrationError, match="does not match"):
        load_calibration(bad)
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "missing.json")


def test_number_questions_need_numbers_in_the_passages() -> None:
    assert number_mismatch("How many officers does the force have?", [passage("The force has sound processes.")]) == 1.0
    assert number_mismatch("How many officers does the force have?", [passage("It has 31,000 officers.")]) == 0.0
    assert number_mismatch("What did the inspector say about vetting?", [passage("Vetting.")]) == 0.0


def test_coverage_is_high_when_the_passages_hold_the_question_terms(retriever: Retriever) -> None:
    from service.confidence import coverage

    lexical = retriever.index.sentence_lexical
    text = "the force needs to improve its vetting"
    assert coverage(lexical, "vetting", [passage(text)]) == 1.0
    assert coverage(lexical, "tasers", [passage(text)]) == 0.0
    assert 0.0 < coverage(lexical, "vetting tasers", [passage(text)]) < 1.0


def test_eval_calibrate_writes_a_model_and_its_cross_validation(index_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = CliRunner().invoke(eval_cli, ["calibrate", "--index", str(index_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["cross_validation"]["method"] == "leave-one-out"
    assert 0.0 <= written["cross_validation"]["abstention_recall"] <= 1.0
    assert "abstention_precision" in result.output
    assert load_calibration(out).threshold == 0.5


def test_the_copied_stop_words_are_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as reference

    from service.stopwords import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == reference
