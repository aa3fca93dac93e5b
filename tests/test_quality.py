"""Seed-set quality of the default pipeline must not regress.

The floors sit just below the figures measured when they were set (README,
"Evaluation"); a change that lowers retrieval or answer quality fails here.
"""

from __future__ import annotations

from eval.dataset import load_eval_set
from eval.run import evaluate
from service.retrieval import Retriever
from tests.test_eval_set import SEED_SET


def test_default_pipeline_holds_its_seed_set_quality(retriever: Retriever) -> None:
    report = evaluate(retriever, load_eval_set(SEED_SET))
    main, far = report.sections["main"], report.sections["far-wording"]
    assert main["hit@3"] >= 0.88
    assert main["mrr@10"] >= 0.82
    assert main["answer_accuracy@1"] >= 0.70
    assert far["hit@3"] >= 0.40
