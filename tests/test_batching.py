"""Micro-batching of question encodes with the real encoder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexer.encoding.embedding import Encoder
from service.core.batching import QueryBatcher

QUESTIONS = [f"What did the inspector say about topic number {i}?" for i in range(24)]


def test_each_caller_gets_its_own_vector(encoder: Encoder) -> None:
    batcher = QueryBatcher(encoder, max_batch=8, max_wait_ms=20)
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            vectors = list(pool.map(batcher.encode, QUESTIONS))
    finally:
        batcher.close()
    direct = encoder.encode(QUESTIONS)
    similarity = np.vstack(vectors) @ direct.T
    for row, question_vector in enumerate(vectors):
        assert question_vector.shape == (1, encoder.dimension)
        # Its own question's vector, not a neighbour's: int8 quantizes each batch with one scale, so
        # a vector moves a little with the company it is encoded in (cosine > 0.98), never further.
        assert int(np.argmax(similarity[row])) == row
        assert similarity[row, row] > 0.98
    # Twelve callers at once with a 20 ms window must share calls, and no call exceeds max_batch.
    assert batcher.questions == len(QUESTIONS) and batcher.batches < len(QUESTIONS)
    assert batcher.batches >= len(QUESTIONS) / 8


def test_a_lone_question_is_not_held_back(encoder: Encoder) -> None:
    batcher = QueryBatcher(encoder)
    try:
        vector = batcher.encode("vetting")
    finally:
        batcher.close()
    assert np.allclose(vector, encoder.encode(["vetting"]), atol=1e-5)


def test_encoder_errors_reach_every_caller(encoder: Encoder) -> None:
    batcher = QueryBatcher(encoder)
    try:
        with pytest.raises((TypeError, ValueError)):
            batcher.encode(None)  # type: ignore[arg-type]
        assert batcher.encode("still working").shape == (1, encoder.dimension)
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="stopped"):
        batcher.encode("after close")


def test_bad_settings_are_refused(encoder: Encoder) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        QueryBatcher(encoder, max_batch=0)
