"""SQuAD as ReQA: sentences, gold sentences, halves, metrics, and the reqa, train-ranker and abstention commands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from eval.quality.squad_cli import FUSED_VERDICT_OUT
from eval.quality.reqa import candidate_pool, gold_rank, rank_metrics
from eval.quality.squad import in_half, load_squad, sentence_holding, unique_questions
from indexer.chunking import Span
from service.core.confidence import load_verdict_model
from service.core.ranker import MANIFEST_FILE, MODEL_FILE, AnswerRanker, RankerError
from tests.squad_files import write_squad, write_squad_dir


def test_an_answer_start_picks_its_sentence_and_a_gap_picks_the_next() -> None:
    sentences = (Span(0, 10), Span(11, 20))
    assert sentence_holding(sentences, 3) == 0
    assert sentence_holding(sentences, 10) == 1  # the space between the two
    assert sentence_holding(sentences, 25) is None


def test_halves_split_articles_by_position() -> None:
    assert [in_half(a, "choose") for a in range(4)] == [True, False, True, False]
    assert [in_half(a, "report") for a in range(4)] == [False, True, False, True]
    assert all(in_half(a, "all") for a in range(4))
    with pytest.raises(ValueError):
        in_half(0, "test")


def test_the_file_reads_as_paragraphs_sentences_and_gold(tmp_path: Path) -> None:
    squad = load_squad(write_squad(tmp_path / "dev.json"))
    assert squad.articles == 8 and len(squad.paragraphs) == 8 and len(squad.questions) == 24
    first = squad.questions[1]  # the founding year: the second sentence
    paragraph = squad.paragraphs[first.doc_id]
    assert len(paragraph.sentences) == 3 and first.gold == frozenset({1})
    assert len(unique_questions(squad.questions, "choose")) == 12
    pool, where = candidate_pool(list(squad.paragraphs.values()))
    assert len(pool.texts) == 24 and where[(first.doc_id, 1)] == pool.keys.index((first.doc_id, 1))


def test_rank_metrics_by_hand() -> None:
    assert gold_rank(np.array([0.1, 0.9, 0.5]), [2]) == 2
    assert gold_rank(np.array([0.1, 0.9, 0.5]), [0, 1]) == 1
    # Ranks 1, 2 and not found: MRR (1 + 1/2 + 0) / 3 = 0.5; R@1 1/3; R@5 2/3.
    metrics = rank_metrics([1, 2, None])
    assert metrics["mrr"] == pytest.approx(0.5)
    assert metrics["r@1"] == pytest.approx(1 / 3) and metrics["r@5"] == pytest.approx(2 / 3)


def test_reqa_scores_the_pool_and_the_service(tmp_path: Path) -> None:
    squad_file = write_squad(tmp_path / "dev.json")
    args = ["reqa", str(squad_file), "--half", "all", "--baseline-model", "sentence-transformers/all-MiniLM-L6-v2", "--cache", str(tmp_path / "cache"), "--json"]
    result = CliRunner().invoke(eval_cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["questions"] == 24
    rows = report["rows"]
    assert {"BM25 sentence", "dense all-MiniLM-L6-v2 sentence", "service (default), abstention off"} <= set(rows)
    # Each town's questions name the town and the fact's own words: every method finds them.
    assert rows["BM25 sentence + paragraph"]["r@5"] == 1.0
    assert rows["service (default), abstention off"]["r@1"] >= 0.9
    assert all(0.0 <= metrics["mrr"] <= 1.0 for metrics in rows.values())


def test_train_ranker_writes_a_ranker_the_service_loads(tmp_path: Path) -> None:
    squad_dir, out = write_squad_dir(tmp_path / "squad"), tmp_path / "ranker"
    result = CliRunner().invoke(eval_cli, ["train-ranker", str(squad_dir), "--cache", str(tmp_path / "cache"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ranker = AnswerRanker(out)
    assert ranker.manifest.sha256 == hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()
    assert ranker.manifest.fitted_on["half"] == "choose"
    assert 0.0 < ranker.probability(0.0) < 1.0
    # Both verdict files load, each with a coverage and an answer score and their thresholds.
    for path in (ranker.verdict_path, out / FUSED_VERDICT_OUT):
        models = load_verdict_model(path)
        assert 0.0 < models.coverage.threshold < 1.0 and 0.0 < models.answer.threshold < 1.0
        assert len(models.coverage.knots) == len(models.coverage.features) and "negation_mismatch" in models.answer.features
    # An altered model file is refused, naming the mismatch.
    data = bytearray((out / MODEL_FILE).read_bytes())
    data[-1] ^= 0xFF
    (out / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(RankerError, match="sha256"):
        AnswerRanker(out)


def test_abstention_reports_both_kinds(tmp_path: Path) -> None:
    squad_dir = write_squad_dir(tmp_path / "squad")
    plot = tmp_path / "reliability.png"
    result = CliRunner().invoke(eval_cli, ["abstention", str(squad_dir), "--half", "all", "--cache", str(tmp_path / "cache"), "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    left, near = report["left-out articles (v1.1)"], report["near misses (v2.0 unanswerable)"]
    # Articles 2, 3, 6 and 7 of 8 are left out: half of the 24 questions.
    assert left["questions"] == 24 and left["unanswerable"] == 12
    assert near["unanswerable"] == 8
    for kind in (left, near):
        assert 0.0 <= kind["unanswerable_none"] + kind["unanswerable_uncertain"] + kind["unanswerable_answer"] <= 1.0 + 1e-9
        assert 0.0 <= kind["coverage_ece"] <= 1.0 and 0.0 <= kind["answer_ece"] <= 1.0
    assert report["covered questions (answer score)"]["questions"] == 12 + near["questions"] and 0.0 <= report["covered questions (answer score)"]["answer_auroc"] <= 1.0
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_the_shipped_ranker_matches_its_manifest() -> None:
    from service.core.ranker import ranker_directory

    directory = ranker_directory("sentence-transformers/all-MiniLM-L6-v2")
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    assert manifest["sha256"] == hashlib.sha256((directory / MODEL_FILE).read_bytes()).hexdigest()
    assert manifest["fitted_on"]["half"] == "choose"
    assert AnswerRanker(directory).version == manifest["version"]
