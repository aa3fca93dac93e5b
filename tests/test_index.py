"""A real build of the bundled corpus: offsets, manifest, vectors and clear errors."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import version_dir
from indexer.storage.store import MANIFEST, Index, IndexCorrupt, IndexMismatch, IndexNotFound, open_index
from indexer.storage.vectors import BUILD_THREADS, build_vector_index, choose_index
from tests.conftest import CORPUS, SEED_DOC


def test_every_chunk_and_sentence_is_an_exact_slice_of_its_source(index: Index) -> None:
    assert index.chunks and index.sentences
    for chunk in index.chunks:
        source = (CORPUS / chunk.doc_id).read_text(encoding="utf-8")
        assert source[chunk.start : chunk.end] == chunk.text
    for sentence in index.sentences:
        source = index.documents[sentence.doc_id].text
        assert source[sentence.start : sentence.end] == sentence.text


def test_chunks_respect_the_configured_token_size(index: Index) -> None:
    limit = index.manifest.chunk_tokens
    assert all(0 < chunk.token_count <= limit for chunk in index.chunks)
    assert [chunk.chunk_id for chunk in index.chunks] == list(range(len(index.chunks)))


def test_manifest_describes_the_build(index: Index, index_dir: Path) -> None:
    manifest = json.loads((version_dir(index_dir) / MANIFEST).read_text())
    assert manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert manifest["tokenizer"] == "cl100k_base"
    assert manifest["tokenizer_sha256"].startswith("223921b7")
    assert manifest["chunk_tokens"] == 64 and manifest["overlap_tokens"] == 16
    assert manifest["counts"]["chunks"] == len(index.chunks)
    assert manifest["documents"][SEED_DOC] == index.documents[SEED_DOC].sha256
    assert manifest["lexical"]["library"] == "bm25s"
    assert {"chunks.faiss", "documents.sqlite", "chunk_spans.npy", "sentences.npy"} <= set(manifest["files"])


def test_stored_vectors_are_the_normalised_embeddings(index: Index, encoder: Encoder) -> None:
    assert index.vectors.ntotal == len(index.chunks)
    first = index.chunk_vectors([0])[0]
    assert np.allclose(first, encoder.encode([index.chunks[0].text])[0], atol=1e-5)
    norms = np.linalg.norm(np.asarray(index.sentence_vectors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


def test_opening_with_another_model_says_what_to_do(index_dir: Path) -> None:
    with pytest.raises(IndexMismatch, match="Rebuild it with `python -m indexer build") as error:
        open_index(index_dir, "sentence-transformers/all-mpnet-base-v2", 768)
    assert "all-MiniLM-L6-v2" in str(error.value)
    with pytest.raises(IndexMismatch, match="dimension 384"):
        open_index(index_dir, "sentence-transformers/all-MiniLM-L6-v2", 512)


def test_missing_and_corrupt_indexes_are_clear_errors(index_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="python -m indexer build"):
        open_index(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(index_dir, broken)
    files = version_dir(broken)
    (files / "chunk_spans.npy").write_text("[not an array")
    with pytest.raises(IndexCorrupt, match="chunk_spans.npy does not match its checksum"):
        open_index(broken)
    with pytest.raises(IndexCorrupt, match="incomplete or corrupt"):
        Index(broken, verify=False)
    shutil.copy(version_dir(index_dir) / "chunk_spans.npy", files / "chunk_spans.npy")
    (files / "sentences.npy").unlink()
    with pytest.raises(IndexCorrupt, match="missing sentences.npy"):
        open_index(broken)
    (files / MANIFEST).write_text("{")
    with pytest.raises(IndexCorrupt, match="unreadable manifest"):
        open_index(broken)


def test_rebuild_replaces_an_index_but_never_other_files(encoder: Encoder, tmp_path: Path) -> None:
    out = tmp_path / "index"
    first = build_index(CORPUS, out, encoder)
    second = build_index(CORPUS, out, encoder)
    assert open_index(out).manifest.version == second.version
    assert first.chunks == second.chunks
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    assert not list((out / "versions").glob(".*"))  # no staging leftovers
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(IndexCorrupt, match="refusing to write into it"):
        build_index(CORPUS, precious, encoder)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_file_changed_in_place_is_caught_although_opening_skips_rehashing_unchanged_files(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    store = version_dir(root) / "documents.sqlite"
    data = bytearray(store.read_bytes())
    data[-100] ^= 0xFF  # same size, one byte flipped, as bit rot or a stray write would leave it
    store.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="documents.sqlite does not match its checksum"):
        open_index(root)


def test_records_are_read_by_id_from_the_store(index: Index) -> None:
    records = index.records
    chunk = index.chunks[3]
    assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
    assert list(records.chunk_sentences(3)) == list(chunk.sentence_ids)
    for sentence_id in chunk.sentence_ids:
        assert 3 in records.sentence_chunks(sentence_id)
    assert records.counts(SEED_DOC) == (len(index.chunks), len(index.sentences))
    assert list(index.documents) == records.doc_ids() and SEED_DOC in index.documents
    assert "missing.txt" not in index.documents and records.counts("missing.txt") == (0, 0)
    with pytest.raises(IndexError):
        index.chunks[len(index.chunks)]


def test_sentence_rows_read_by_id_equal_the_stored_matrix(index: Index) -> None:
    ids = [5, 3, 4, 4, 0, len(index.sentences) - 1]
    assert np.array_equal(index.sentence_rows[ids], np.asarray(index.sentence_vectors)[ids])
    with pytest.raises(IndexError):
        index.sentence_rows[[len(index.sentences)]]


def test_searches_from_any_thread_run_single_threaded(index: Index) -> None:
    """OpenMP keeps its thread count per thread: a request thread must not fork a team per search."""
    seen: list[int] = []

    def search_then_report() -> None:
        index.search(index.chunk_vectors([0]), 1)
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=search_then_report)
    worker.start()
    worker.join()
    assert seen == [1]


@pytest.mark.skipif(BUILD_THREADS < 2, reason="needs two OpenMP threads to tell one from all")
def test_hnsw_build_uses_every_core_after_a_search_in_the_same_thread(index: Index) -> None:
    """A rebuild in a thread that has served searches (the service after an upload) is not left single-threaded."""
    seen: list[int] = []

    def search_then_build() -> None:
        index.search(index.chunk_vectors([0]), 1)
        factory, params = choose_index(64, flat_max=0)
        vectors = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
        built = build_vector_index(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), factory, params)
        seen.extend([built.ntotal, faiss.omp_get_max_threads()])

    worker = threading.Thread(target=search_then_build)
    worker.start()
    worker.join()
    assert seen == [64, BUILD_THREADS]
