"""The indexer and eval command lines, run in-process with the real model."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from eval.cli import cli as eval_cli
from indexer.cli import cli as indexer_cli
from indexer.storage.publish import version_dir
from tests.conftest import CORPUS


def test_indexer_build_reports_documents_chunks_and_skips(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "statement.txt").write_text((CORPUS / "hmic-met-peel-2017.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (corpus / "scan.txt").write_bytes(b"\x00\x01binary")
    result = CliRunner().invoke(indexer_cli, ["build", str(corpus), "--out", str(tmp_path / "index"), "--no-progress", "--chunk-tokens", "96", "--overlap-tokens", "24"])
    assert result.exit_code == 0, result.output
    assert "documents: 1" in result.output
    assert "skipped:   1" in result.output and "scan.txt: binary" in result.output
    assert "chunks/s" in result.output
    manifest = json.loads((version_dir(tmp_path / "index") / "manifest.json").read_text())
    assert manifest["chunk_tokens"] == 96 and manifest["counts"]["skipped"] == 1


def test_indexer_build_errors_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(indexer_cli, ["build", str(empty), "--out", str(tmp_path / "index")])
    assert result.exit_code != 0 and "no indexable documents" in result.output
    result = CliRunner().invoke(indexer_cli, ["build", str(CORPUS), "--out", str(tmp_path / "i"), "--chunk-tokens", "32", "--overlap-tokens", "32"])
    assert result.exit_code != 0 and "--overlap-tokens" in result.output


def test_eval_run_prints_every_metric_as_json(index_dir: Path) -> None:
    result = CliRunner().invoke(eval_cli, ["run", "--index", str(index_dir), "--json", "--verbose"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    metrics = report["metrics"]
    for name in ("hit@1", "hit@3", "mrr@10", "recall@5", "answer_accuracy@1", "abstention_precision", "abstention_recall"):
        assert 0.0 <= metrics[name] <= 1.0
    assert len(report["questions"]) == metrics["questions"]


def test_eval_run_rejects_a_set_whose_quote_is_not_in_the_corpus(index_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x1", "question": "q?", "answers": [{"doc_id": "hmic-met-peel-2017.txt", "quote": "not in the text"}]}) + "\n")
    result = CliRunner().invoke(eval_cli, ["run", "--index", str(index_dir), "--set", str(bad)])
    assert result.exit_code != 0
    assert "x1: quote not found" in result.output


def test_indexer_verify_rehashes_what_opening_trusts(tmp_path: Path) -> None:
    root = tmp_path / "index"
    assert CliRunner().invoke(indexer_cli, ["build", str(CORPUS), "--out", str(root), "--no-progress"]).exit_code == 0
    assert "files match their checksums" in CliRunner().invoke(indexer_cli, ["verify", "--index", str(root)]).output
    # A same-size change with its mtime put back, which only a full re-hash can notice.
    target = version_dir(root) / "sentence_spans.npy"
    status = target.stat()
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    result = CliRunner().invoke(indexer_cli, ["verify", "--index", str(root)])
    assert result.exit_code != 0 and "sentence_spans.npy does not match its checksum" in result.output
