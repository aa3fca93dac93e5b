"""Verdict features and the two calibrated scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from service.core.confidence import Calibration, CalibrationError, load_calibration, load_verdict_model, number_mismatch
from service.core.wording import wording_features
from service.core.retrieval import Retriever
from service.core.types import Passage


def passage(text: str) -> Passage:
    return Passage(0, "d.txt", "t", text, 0, len(text), 1.0)


def test_confidence_is_the_logistic_of_standardised_features() -> None:
    calibration = Calibration(["best_cosine", "coverage"], [0.5, 0.5], [0.1, 0.2], [2.0, 1.0], -0.5, 0.5)
    # z = -0.5 + 2 * (0.7 - 0.5) / 0.1 + 1 * (0.3 - 0.5) / 0.2 = -0.5 + 4 - 1 = 2.5
    assert calibration.confidence({"best_cosine": 0.7, "coverage": 0.3}) == pytest.approx(1 / (1 + math.exp(-2.5)))


def test_a_shaped_score_interpolates_between_knots_and_holds_beyond_them() -> None:
    calibration = Calibration(["best_cosine", "coverage"], [], [], [], 0.5, 0.5, knots=[[0.2, 0.4, 0.8], [0.0, 1.0]], values=[[-2.0, 0.0, 1.0], [-1.0, 1.0]])
    # best_cosine 0.6 lies halfway between 0.4 (0) and 0.8 (1): 0.5; coverage 0.25: -1 + 0.25 * 2 = -0.5; z = 0.5 + 0.5 - 0.5 = 0.5
    assert calibration.confidence({"best_cosine": 0.6, "coverage": 0.25}) == pytest.approx(1 / (1 + math.exp(-0.5)))
    # Beyond the outer knots each shape keeps its end value: z = 0.5 + 1 + 1 = 2.5, and 0.5 - 2 - 1 = -2.5.
    assert calibration.confidence({"best_cosine": 5.0, "coverage": 3.0}) == pytest.approx(1 / (1 + math.exp(-2.5)))
    assert calibration.confidence({"best_cosine": -5.0, "coverage": -3.0}) == pytest.approx(1 / (1 + math.exp(2.5)))


def test_the_fused_fallbacks_verdict_models_are_fit_on_squads_choosing_half_not_the_seed_set() -> None:
    models = load_verdict_model()
    for calibration in (models.coverage, models.answer):
        assert calibration.fitted_on["half"] == "choose" and "dev-v1.1.json" in calibration.fitted_on["squad"]
        assert "set" not in calibration.fitted_on and 0.0 < calibration.threshold < 1.0


def test_wording_features_name_what_the_sentence_lacks() -> None:
    features = wording_features("What did the Met not do in 2016 about Tasers?", "The Met improved its vetting in 2017.")
    # Negated question, plain sentence; 2016 missing; of the names Met and Tasers one is missing; of the
    # content words (not stop words) did, met and tasers only met is in the sentence: 1/3; no ordering words.
    assert features == {
        "negated_question": 1.0, "negated_sentence": 0.0, "negation_mismatch": 1.0, "number_missing": 1.0, "question_has_number": 1.0,
        "names_missing": 0.5, "question_has_names": 1.0, "word_overlap": pytest.approx(1 / 3), "ordering_missing": 0.0, "question_has_ordering": 0.0,
    }
    assert wording_features("Who was the first inspector?", "The first inspector was Matt Parr.")["ordering_missing"] == 0.0
    assert wording_features("Who was the last inspector?", "The first inspector was Matt Parr.")["ordering_missing"] == 1.0


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
    from service.core.confidence import coverage

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

    from service.core.stopwords import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == reference
