"""The int8 ONNX encoder backend: exported locally, recorded in the manifest, never mixed with fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from indexer.encoding.quantize import INT8_FILE
from indexer.storage.store import IndexMismatch, open_index, read_manifest
from service.core.answer import answer_question
from service.core.retrieval import Retriever
from tests.conftest import CORPUS

SENTENCES = ["The force needs to improve its vetting.", "There is a national shortage of trained detectives.", "Cake recipes need eggs."]


@pytest.fixture(scope="module")
def int8_encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    cache = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IQA_MODEL_CACHE", str(cache))
        encoder = Encoder(backend="onnx-int8", threads=1)
    assert list(cache.glob(f"*-int8/{INT8_FILE}")), "the export must land in the configured model cache"
    return encoder


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    """PyTorch fp32, the reference the int8 default is held to (the session encoder is the default, int8)."""
    return Encoder(backend="torch")


def test_int8_vectors_stay_close_to_fp32(int8_encoder: Encoder, encoder: Encoder) -> None:
    fast, exact = int8_encoder.encode(SENTENCES), encoder.encode(SENTENCES)
    assert fast.shape == exact.shape and np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    assert np.all(np.sum(fast * exact, axis=1) > 0.97)
    # Close vectors are not enough: the ranking the service relies on must survive quantization.
    question = "Are there enough detectives?"
    assert np.argmax(fast @ int8_encoder.encode([question])[0]) == np.argmax(exact @ encoder.encode([question])[0]) == 1


def test_int8_index_records_its_encoder_and_refuses_fp32_queries(int8_encoder: Encoder, encoder: Encoder, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    build_index(CORPUS, out, int8_encoder)
    assert read_manifest(out).encoder == "onnx-int8"
    with pytest.raises(IndexMismatch, match="--backend onnx-int8"):
        open_index(out, encoder.model_name, encoder.dimension, encoder.backend)
    retriever = Retriever(open_index(out, int8_encoder.model_name, int8_encoder.dimension, "onnx-int8"), int8_encoder)
    answer = answer_question(retriever, "What did the inspector say about vetting?")
    assert "improve its vetting" in answer.evidence[0].text


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown encoder backend 'gpu'"):
        Encoder(backend="gpu")
