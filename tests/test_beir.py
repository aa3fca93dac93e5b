"""`python -m eval beir` on a small BEIR-format dataset made from the bundled statement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from eval.quality.beir import BeirError, load_qrels, load_queries
from indexer.chunking import paragraph_spans
from indexer.encoding.embedding import CachedEncoder, Encoder
from indexer.storage.store import read_manifest

QUERIES = {
    "q1": ("The force's vetting does not follow national policy.", "p12"),
    "q2": ("There are too few trained detectives.", "p7"),
    "q3": ("None of the child protection teams did a good enough job.", "p5"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, seed_text: str) -> Path:
    root = tmp_path_factory.mktemp("beir")
    paragraphs = [seed_text[s.start : s.end] for s in paragraph_spans(seed_text)][1:]
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for number, text in enumerate(paragraphs):
            corpus.write(json.dumps({"_id": f"p{number}", "title": f"Paragraph {number}", "text": text}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for query_id, (text, _) in QUERIES.items():
            # metadata holds answers in BEIR; a retriever must never read it.
            queries.write(json.dumps({"_id": query_id, "text": text, "metadata": {"p0": "wrong"}}) + "\n")
    (root / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{doc}\t1" for q, (_, doc) in QUERIES.items()]
    (root / "qrels" / "test.tsv").write_bytes("\r\n".join(lines).encode() + b"\r\n")
    return root


def test_loaders_read_only_ids_and_text(dataset: Path) -> None:
    assert load_queries(dataset)["q1"] == QUERIES["q1"][0]
    assert load_qrels(dataset, "test") == {q: {doc: 1} for q, (_, doc) in QUERIES.items()}
    with pytest.raises(BeirError, match="missing"):
        load_qrels(dataset, "train")


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_beir_command_scores_a_run(dataset: Path, tmp_path: Path, mode: str) -> None:
    args = ["beir", str(dataset), "--mode", mode, "--json", "--cache", str(tmp_path / "cache")]
    result = CliRunner().invoke(eval_cli, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["queries"] == 3
    assert metrics["ndcg@10"] > 0.8 and metrics["recall@100"] == 1.0
    assert set(metrics) >= {"ndcg@10", "mrr@10", "recall@10", "recall@100"}


def test_beir_command_reuses_its_cached_index(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    versions = []
    for _ in range(2):
        result = CliRunner().invoke(eval_cli, ["beir", str(dataset), "--json", "--cache", str(cache)])
        assert result.exit_code == 0, result.output
        [index_dir] = [p for p in cache.iterdir() if p.name != "embeddings"]
        versions.append(read_manifest(index_dir).version)
    assert versions[0] == versions[1]


def test_embedding_cache_serves_known_texts_without_the_model(encoder: Encoder, tmp_path: Path) -> None:
    texts = ["The force needs to improve its vetting.", "Child protection was weak."]
    first = CachedEncoder(encoder, tmp_path).encode(texts)
    assert np.allclose(first, encoder.encode(texts), atol=1e-6)

    class NoModel:
        model_name, dimension, max_seq_length, backend = encoder.model_name, encoder.dimension, encoder.max_seq_length, encoder.backend
        model_sha256, cache_identity = encoder.model_sha256, encoder.cache_identity

        def encode(self, *_: object, **__: object) -> np.ndarray:
            raise AssertionError("the model was called for a cached text")

    again = CachedEncoder(NoModel(), tmp_path).encode(list(reversed(texts)))  # type: ignore[arg-type]
    assert np.array_equal(again, first[::-1])


def test_beir_command_rejects_a_directory_without_a_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_cli, ["beir", str(tmp_path), "--cache", str(tmp_path / "c")])
    assert result.exit_code != 0 and "missing" in result.output


def test_tune_ranks_weightings_through_the_real_retriever(dataset: Path, tmp_path: Path) -> None:
    from eval.quality.tune import weight_grid

    assert weight_grid(0.5).shape == (4, 10)
    assert np.allclose(weight_grid(0.1).sum(axis=0), 1.0)
    result = CliRunner().invoke(eval_cli, ["tune", str(dataset), "--split", "test", "--step", "0.5", "--top", "3", "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.strip().startswith("nDCG@10")]
    assert len(rows) == 3
    assert "10 weightings" in result.output
