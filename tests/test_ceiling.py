"""The fusion ceiling: its replay of ranking must be the service's own, and its search must find the best weights."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from eval.quality import ceiling as bound
from eval.cli import cli as eval_cli
from eval.quality.dataset import load_eval_set
from eval.quality.run import evaluate_question
from eval.quality.tune import FEATURES
from service.core.answer import AnswerSettings
from service.core.retrieval import RetrievalSettings, Retriever, default_weights
from tests.test_eval_set import SEED_SET


def test_replay_at_the_default_weights_agrees_with_the_real_pipeline(retriever: Retriever) -> None:
    # The ceiling replays fusion weights, so it is held to the fused-score answer step, not the learned ranker.
    settings = AnswerSettings(use_ranker=False)
    weights = np.array([default_weights()[name] for name in FEATURES])
    for question in [q for q in load_eval_set(SEED_SET) if q.answerable]:
        real = evaluate_question(retriever, question, 5, settings)
        candidates = bound.question_candidates(retriever, question, RetrievalSettings())
        order = bound.chunk_order(candidates, weights)
        assert bool(candidates.chunk_gold[order[:3]].any()) == any(real.ranking[:3]), question.id
        # An abstained answer still had a first sentence; the replay judges that sentence.
        if not real.abstained:
            assert bound.first_sentence_correct(candidates, order, 5, settings.retrieval.dense_share) == real.evidence_correct, question.id


def hand_made() -> bound.QuestionCandidates:
    """Four chunks of one sentence each; the last is the answer, found only by its words."""
    # Features: chunk_dense, sentence_dense, chunk_lexical, document_lexical.
    return bound.QuestionCandidates(
        chunk_features=np.array([[1.0, 1.0, 0.0, 0.0], [0.9, 0.9, 0.1, 0.1], [0.8, 0.8, 0.2, 0.2], [0.0, 0.0, 1.0, 1.0]]),
        chunk_gold=np.array([False, False, False, True]),
        chunk_sentences=[[0], [1], [2], [3]],
        sentence_dense=np.array([0.9, 0.8, 0.7, 0.1]),
        sentence_lexical=np.array([0.0, 0.5, 1.0, 3.0]),
        sentence_gold=np.array([False, False, False, True]),
        sentence_quotable=np.array([True, True, True, True]),
    )


def test_ceiling_finds_the_weighting_that_puts_the_answer_first() -> None:
    question = hand_made()
    dense_only = np.array([0.5, 0.5, 0.0, 0.0])
    assert not question.chunk_gold[bound.chunk_order(question, dense_only)[:3]].any()
    result = bound.ceiling([question], step=0.5, k=3)
    assert result.hit_at_3 == 1.0
    assert result.hit_weights["chunk_lexical"] + result.hit_weights["document_lexical"] > 0.5
    # Dense sentence scores put sentence 0 first; the answer wins only when BM25 outweighs them.
    assert result.answer_accuracy == 1.0 and result.sentence_dense_share < 0.5
    assert not bound.first_sentence_correct(question, bound.chunk_order(question, np.array([0, 0, 0.5, 0.5])), 3, 1.0)
    with pytest.raises(ValueError):
        bound.ceiling([])


def test_ceiling_command_reports_an_upper_bound(index_dir) -> None:
    result = CliRunner().invoke(eval_cli, ["ceiling", "--index", str(index_dir), "--tag", "far-wording"])
    assert result.exit_code == 0, result.output
    assert "12 answerable questions" in result.output and "upper bound" in result.output
    missing = CliRunner().invoke(eval_cli, ["ceiling", "--index", str(index_dir), "--tag", "no-such-tag"])
    assert missing.exit_code != 0 and "no answerable questions tagged 'no-such-tag'" in missing.output
