"""Our ranking metrics agree with ranx, the reference implementation, on the same run."""

from __future__ import annotations

import random

import pytest
from ranx import Qrels, Run, evaluate

from eval.quality.beir import score_run
from eval.quality.metrics import ndcg_at_k


def synthetic_run(seed: int = 7) -> tuple[dict[str, dict[str, int]], dict[str, list[tuple[str, float]]]]:
    """Graded judgements and a scored run over 60 queries, with misses and unjudged documents."""
    rng = random.Random(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[tuple[str, float]]] = {}
    for q in range(60):
        docs = [f"d{q}-{i}" for i in range(150)]
        judged = rng.sample(docs, rng.randint(1, 6))
        qrels[f"q{q}"] = {doc: rng.choice([1, 1, 2, 3]) for doc in judged}
        retrieved = rng.sample(docs, rng.randint(5, 120))
        run[f"q{q}"] = sorted(((doc, rng.random()) for doc in retrieved), key=lambda pair: -pair[1])
    return qrels, run


def test_metrics_match_ranx() -> None:
    qrels, run = synthetic_run()
    ours = score_run(run, qrels)
    reference = evaluate(
        Qrels(qrels),
        Run({qid: dict(pairs) for qid, pairs in run.items()}),
        ["ndcg@10", "mrr@10", "recall@10", "recall@100"],
    )
    for name in ("ndcg@10", "mrr@10", "recall@10", "recall@100"):
        assert ours[name] == pytest.approx(reference[name], abs=1e-9), name


def test_ndcg_by_hand() -> None:
    # Relevant a (grade 2) at rank 1, b (grade 1) missed at rank 3 behind unjudged x, y.
    # DCG@3 = 2/log2(2) + 0 + 0 = 2; IDCG@3 = 2/log2(2) + 1/log2(3) = 2.6309
    assert ndcg_at_k(["a", "x", "y"], {"a": 2, "b": 1}, 3) == pytest.approx(2 / (2 + 1 / 1.5849625007))
    assert ndcg_at_k(["x"], {"a": 1}, 10) == 0.0
    assert ndcg_at_k(["a"], {}, 10) == 0.0
