"""Versioned, atomically published indexes: rollback, pruning, and builds killed at every stage."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import build_index
from indexer.cli import cli as indexer_cli
from indexer.embedding import Encoder
from indexer.publish import list_versions, published_version, version_dir
from indexer.store import open_index
from service.answer import answer_question
from service.retrieval import Retriever
from tests.conftest import CORPUS, ROOT

NEW_SENTENCE = "The inspector praised the force's new drone unit for finding missing people quickly."


def snapshot(root: Path, versions: list[str]) -> dict[str, str]:
    """sha256 of the pointer and of every file of the given versions."""
    files = [root / "CURRENT"] + [p for name in versions for p in (root / "versions" / name).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def corpus_with(tmp_path: Path, name: str, extra: str | None) -> Path:
    corpus = tmp_path / name
    shutil.copytree(CORPUS, corpus)
    if extra:
        (corpus / "drones.txt").write_text(extra + "\n", encoding="utf-8")
    return corpus


def test_each_build_is_a_new_version_and_rollback_restores_the_last(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    first = build_index(CORPUS, root, encoder)
    second = build_index(corpus_with(tmp_path, "more", NEW_SENTENCE), root, encoder)
    assert list_versions(root) == [first.version, second.version] and published_version(root) == second.version
    assert any(NEW_SENTENCE in c.text for c in open_index(root).chunks)
    result = CliRunner().invoke(indexer_cli, ["rollback", "--index", str(root)])
    assert result.exit_code == 0 and first.version in result.output
    assert not any(NEW_SENTENCE in c.text for c in open_index(root).chunks)
    listing = CliRunner().invoke(indexer_cli, ["versions", "--index", str(root)]).output
    assert f"* {first.version}" in listing and f"  {second.version}" in listing


def test_old_versions_beyond_keep_are_pruned_but_never_the_published_one(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    reports = [build_index(corpus_with(tmp_path, f"c{i}", f"Report number {i} says the force improved.") , root, encoder, keep=2) for i in range(3)]
    assert list_versions(root) == [reports[1].version, reports[2].version]


@pytest.mark.parametrize("point", ["embedding", "writing", "before-publish"])
def test_a_build_killed_at_any_stage_leaves_the_published_index_untouched(encoder: Encoder, tmp_path: Path, point: str) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    published = list_versions(root)
    before = snapshot(root, published)
    command = [sys.executable, "-m", "indexer", "build", str(corpus_with(tmp_path, "next", NEW_SENTENCE)), "--out", str(root), "--no-progress"]
    killed = subprocess.run(command, cwd=ROOT, env={**os.environ, "IQA_FAILPOINT": point}, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert snapshot(root, published) == before
    # Still servable, and still the old content.
    answer = answer_question(Retriever(open_index(root, encoder.model_name, encoder.dimension), encoder), "What did the inspector say about vetting?")
    assert "improve its vetting" in answer.evidence[0].text
    # The next build clears what the killed one left behind.
    build_index(corpus_with(tmp_path, "again", NEW_SENTENCE), root, encoder)
    assert not [p for p in (root / "versions").iterdir() if ".partial-" in p.name]
    assert any(NEW_SENTENCE in c.text for c in open_index(root).chunks)


def test_a_corrupted_published_version_is_refused_with_a_way_out(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    with (version_dir(root) / "sentences.npy").open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\xff" * 8)
    with pytest.raises(Exception, match="checksum; rebuild it or roll back"):
        open_index(root)
    # The rebuild that mends it must not trip over it.
    report = build_index(CORPUS, root, encoder)
    assert report.reused == 0 and open_index(root).manifest.version == report.version
