"""Incremental builds re-embed only what changed and answer exactly as a full rebuild does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from eval.quality.dataset import load_eval_set
from indexer.build import build_index
from indexer.cli import cli as indexer_cli
from indexer.encoding.embedding import Encoder
from indexer.storage.store import Index, open_index
from service.core.answer import answer_question
from service.core.retrieval import Retriever
from tests.conftest import CORPUS, ROOT

EXTRA = {
    "drones.txt": "The inspector praised the force's new drone unit.\n\nIt finds missing people quickly.\n",
    "horses.txt": "The mounted branch keeps too many horses for the patrols it runs.\n",
}


def chunk_set(index: Index) -> list[tuple]:
    return [(c.doc_id, c.start, c.end, c.text, c.sentence_ids) for c in index.chunks]


def test_changed_corpus_re_embeds_only_what_changed_and_matches_a_full_rebuild(encoder: Encoder, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    for name, text in EXTRA.items():
        (corpus / name).write_text(text, encoding="utf-8")
    root = tmp_path / "index"
    build_index(corpus, root, encoder)
    (corpus / "horses.txt").unlink()
    (corpus / "drones.txt").write_text("The drone unit was disbanded last year.\n", encoding="utf-8")
    (corpus / "tasers.txt").write_text("Too few officers are trained to carry tasers.\n", encoding="utf-8")
    report = build_index(corpus, root, encoder)
    changes = report.changes
    assert (changes.added, changes.changed, changes.removed) == (["tasers.txt"], ["drones.txt"], ["horses.txt"])
    assert changes.unchanged == ["hmic-met-peel-2017.txt"] and report.reused == 1
    assert report.embedded_chunks == 2  # one chunk each for the changed and the added file

    full_root = tmp_path / "full"
    build_index(corpus, full_root, encoder, incremental=False)
    incremental, full = open_index(root), open_index(full_root)
    assert chunk_set(incremental) == chunk_set(full)
    assert np.allclose(incremental.chunk_vectors(list(range(len(full.chunks)))), full.chunk_vectors(list(range(len(full.chunks)))), atol=1e-5)
    assert np.allclose(np.asarray(incremental.sentence_vectors), np.asarray(full.sentence_vectors), atol=1e-5)
    questions = [q.question for q in load_eval_set(ROOT / "eval" / "sets" / "seed.jsonl")]
    for question in questions:
        a = answer_question(Retriever(incremental, encoder), question)
        b = answer_question(Retriever(full, encoder), question)
        assert [(p.chunk_id, p.doc_id) for p in a.passages] == [(p.chunk_id, p.doc_id) for p in b.passages], question
        assert [e.text for e in a.evidence] == [e.text for e in b.evidence] and a.abstained == b.abstained


def test_build_report_says_what_changed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    out = tmp_path / "index"
    first = CliRunner().invoke(indexer_cli, ["build", str(corpus), "--out", str(out), "--no-progress"])
    assert "1 added, 0 changed, 0 removed, 0 unchanged" in first.output, first.output
    (corpus / "tasers.txt").write_text("Too few officers are trained to carry tasers.\n", encoding="utf-8")
    second = CliRunner().invoke(indexer_cli, ["build", str(corpus), "--out", str(out), "--no-progress"])
    assert "1 added, 0 changed, 0 removed, 1 unchanged (1 reused without re-embedding)" in second.output, second.output
