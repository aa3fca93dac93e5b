"""The loader reads .txt and .md with metadata, and skips bad files with a reason."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from indexer.reading.loading import load_corpus
from tests.conftest import CORPUS, ROOT, SEED_DOC


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_bundled_statement_loads_with_its_sidecar_metadata() -> None:
    documents, skipped = load_corpus(CORPUS)
    assert skipped == []
    [document] = documents
    assert document.doc_id == SEED_DOC
    assert document.metadata["inspector"] == "Matt Parr"
    assert document.metadata["publisher"] == "HMIC"
    assert document.metadata["force"] == "Metropolitan Police Service"
    assert document.metadata["year"] == 2017
    assert document.metadata["report_type"] == "PEEL inspection statement"
    assert document.metadata["date"] == "2017" and document.format == "text"
    assert document.title.startswith("HMIC concerned about several aspects")
    raw = (CORPUS / SEED_DOC).read_bytes()
    assert document.text.encode("utf-8") == raw
    assert document.sha256 == hashlib.sha256(raw).hexdigest()


def test_bundled_statement_is_byte_for_byte_the_shared_original() -> None:
    shared = ROOT.parent / "shared" / "corpus" / SEED_DOC
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert (CORPUS / SEED_DOC).read_bytes() == shared.read_bytes()


def test_markdown_front_matter_gives_metadata_and_is_not_body(tmp_path: Path) -> None:
    text = "---\ntitle: Vetting review\nforce: Kent Police\ndate: 2019-05-01\n---\n# Heading\n\nVetting is late.\n"
    write(tmp_path / "reports" / "kent.md", text)
    [document], _ = load_corpus(tmp_path)
    assert document.doc_id == "reports/kent.md"
    assert document.title == "Vetting review"
    assert document.metadata == {"title": "Vetting review", "force": "Kent Police", "date": "2019-05-01"}
    assert document.text == text
    assert document.text[document.body_start :].startswith("# Heading")


def test_markdown_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "Intro line\n\n## Findings on custody\n\nText.\n")
    [document], _ = load_corpus(tmp_path)
    assert document.title == "Findings on custody"


def test_bad_and_odd_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "The force needs to improve its vetting.")
    write(tmp_path / "empty.txt", "  \n")
    write(tmp_path / "binary.txt", b"abc\x00def")
    write(tmp_path / "latin1.txt", "caf\u00e9".encode("latin-1"))
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / "bad-front.md", "---\n: [unclosed\n---\nBody.\n")
    write(tmp_path / ".hidden.txt", "ignored entirely")
    write(tmp_path / "dump.txt", b"word " * (10 * 2**20))  # 50 MiB
    outside = write(tmp_path.parent / f"{tmp_path.name}-outside.txt", "secret")
    os.symlink(outside, tmp_path / "link.txt")
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    documents, skipped = load_corpus(tmp_path)
    assert [d.doc_id for d in documents] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "unsupported file type" in reasons["image.png"]
    assert "front matter" in reasons["bad-front.md"]
    assert "outside the corpus" in reasons["link.txt"]
    assert reasons["dangling.txt"] == "broken symlink"
    assert reasons["dump.txt"].startswith("too large (50.0 MiB; the limit is 20 MiB")
    assert ".hidden.txt" not in reasons


def test_missing_corpus_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus directory not found"):
        load_corpus(tmp_path / "nope")


def test_many_pdfs_are_read_in_worker_processes_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from indexer.reading import loading
    from tests.generated import write_pdf

    for number in range(9):
        write_pdf(tmp_path / f"report-{number}.pdf", title=f"Exampleshire PEEL 20{10 + number}")
    (tmp_path / "damaged.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    reads = []
    monkeypatch.setattr(loading, "worker_pool", lambda workers: reads.append(workers) or original_pool(workers))
    original_pool = __import__("indexer.storage.lifetime", fromlist=["worker_pool"]).worker_pool
    with caplog.at_level(logging.WARNING, logger="indexer.reading.loading"):
        parallel, parallel_skipped = load_corpus(tmp_path)
    assert reads, "ten PDFs are read by worker processes"
    assert any("skipping damaged.pdf" in record.getMessage() for record in caplog.records), "the parent says what was skipped"
    monkeypatch.setattr(loading, "PARALLEL_MIN_FILES", 1000)
    sequential, sequential_skipped = load_corpus(tmp_path)
    assert [(d.doc_id, d.text, d.title, d.pages, d.headings) for d in parallel] == [(d.doc_id, d.text, d.title, d.pages, d.headings) for d in sequential]
    assert [d.doc_id for d in parallel] == sorted(f"report-{number}.pdf" for number in range(9))
    assert parallel_skipped == sequential_skipped and [s.path for s in parallel_skipped] == ["damaged.pdf"]
