"""The on-disk index: FAISS vectors, chunk and sentence store, manifest."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import msgspec
import numpy as np

from indexer.failpoints import failpoint
from indexer.storage.lexical import LexicalIndex
from indexer.storage.publish import DEFAULT_KEEP, PublishError, check_writable, publish, staging_dir, version_dir
from indexer.storage.records import RecordStore, write_records
from indexer.storage.sentence_table import SentenceTable, compute_sentence_table
from indexer.storage.vectors import RowReader, build_vector_index, open_vector_index, search_one_query_per_thread, search_parameters
from indexer.types import Chunk, Document, NodeWork, Sentence

FORMAT_VERSION = 4
MANIFEST = "manifest.json"
# Size, mtime and inode of every file when its checksum was last computed (as git's index keeps them):
# a file whose stat is unchanged is not hashed again when the version is opened.
VERIFIED = ".verified.json"
CHUNK_VECTORS = "chunks.faiss"
SENTENCE_VECTORS = "sentences.npy"
CHUNK_LEXICAL = "chunks.bm25"
SENTENCE_LEXICAL = "sentences.bm25"
DOCUMENT_LEXICAL = "documents.bm25"


class IndexStoreError(Exception):
    """Base class for problems with an index directory."""


class IndexNotFound(IndexStoreError):
    """No index at the given path."""


class IndexCorrupt(IndexStoreError):
    """The index files are missing, unreadable or inconsistent."""


class IndexMismatch(IndexStoreError):
    """The index was built with a different model or dimension than configured."""


class Manifest(msgspec.Struct, frozen=True):
    """What an index is and how it was built."""

    format_version: int
    version: str
    created_at: str
    model: str
    dimension: int
    metric: str
    faiss_index: str
    tokenizer: str
    tokenizer_sha256: str
    chunk_tokens: int
    overlap_tokens: int
    lexical: dict[str, Any]
    documents: dict[str, str]
    counts: dict[str, int]
    build_seconds: float
    files: dict[str, str] = {}
    # The encoder backend that embedded the index; queries must use the same one.
    encoder: str = "torch"
    # HNSW construction and search settings when faiss_index is not flat.
    faiss_params: dict[str, int] = {}
    # sha256 of the model's weights file ("" in indexes built before it was recorded, or when unknown).
    model_sha256: str = ""
    # What ran the split-and-embed stage: "local" (this process) or "ray" (a Ray cluster), and how many
    # encoder workers it had. Indexes from before this was recorded were all built locally.
    engine: str = "local"
    workers: int = 1
    # On a Ray cluster: each node's address and what its encoder workers embedded in this build (not the
    # documents an incremental build reused); empty for local builds.
    nodes: dict[str, NodeWork] = {}


@dataclass(frozen=True)
class IndexContents:
    """Everything a build produces, ready to be written."""

    documents: list[Document]
    sentences: list[Sentence]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    chunk_lexical: LexicalIndex
    sentence_lexical: LexicalIndex
    document_lexical: LexicalIndex


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_index(root: Path, contents: IndexContents, manifest: Manifest, keep: int = DEFAULT_KEEP) -> Manifest:
    """Write a new version under root, verify it, then publish it with an atomic pointer swap."""
    try:
        check_writable(root)
    except PublishError as error:
        raise IndexCorrupt(str(error)) from error
    try:
        with staging_dir(root, manifest.version) as staging:
            staging.chmod(0o755)
            manifest = write_files(staging, contents, manifest)
            verify_version(staging)
            publish(root, staging, manifest.version, keep)
    except PublishError as error:
        raise IndexStoreError(str(error)) from error
    return manifest


def write_files(directory: Path, contents: IndexContents, manifest: Manifest) -> Manifest:
    """Write every index file into directory; the manifest last, with checksums."""
    if [chunk.chunk_id for chunk in contents.chunks] != list(range(len(contents.chunks))):
        raise ValueError("chunk ids must be 0..n-1 in order")
    vectors = build_vector_index(contents.chunk_vectors, manifest.faiss_index, manifest.faiss_params)
    faiss.write_index(vectors, str(directory / CHUNK_VECTORS))
    failpoint("writing")
    np.save(directory / SENTENCE_VECTORS, np.ascontiguousarray(contents.sentence_vectors, dtype=np.float32))
    write_records(directory, contents.documents, contents.chunks, contents.sentences)
    write_sentence_table(directory, contents.sentence_lexical)
    lexical_indexes = (
        (CHUNK_LEXICAL, contents.chunk_lexical),
        (SENTENCE_LEXICAL, contents.sentence_lexical),
        (DOCUMENT_LEXICAL, contents.document_lexical),
    )
    for name, lexical in lexical_indexes:
        (directory / name).mkdir()
        lexical.save(directory / name)
    checksums = {
        path.relative_to(directory).as_posix(): file_sha256(path) for path in sorted(directory.rglob("*")) if path.is_file()
    }
    manifest = msgspec.structs.replace(manifest, files=checksums)
    (directory / MANIFEST).write_bytes(msgspec.json.format(msgspec.json.encode(manifest)))
    record_verified(directory, manifest)
    return manifest


def write_sentence_table(directory: Path, sentence_lexical: LexicalIndex) -> None:
    """The question-independent facts of every sentence, from the records just written."""
    records = RecordStore(directory)
    try:
        compute_sentence_table(records, sentence_lexical).save(directory)
    finally:
        records.close()


def header_field(field: msgspec.structs.FieldInfo) -> tuple[Any, ...]:
    """A Manifest field as a defstruct field spec, with its default."""
    if field.required:
        return (field.name, field.type)
    return (field.name, field.type, field.default_factory() if field.default is msgspec.NODEFAULT else field.default)


# The manifest without its per-document hashes (48 MB at half a million documents), which only builds need.
ManifestHeader = msgspec.defstruct(
    "ManifestHeader", [header_field(f) for f in msgspec.structs.fields(Manifest) if f.name != "documents"], frozen=True
)


def read_manifest(index_dir: Path, documents: bool = True) -> Manifest:
    """The manifest of the published version under an index root (or of a version directory);
    with documents=False its per-document hashes are skipped (left empty), which is faster to read."""
    try:
        path = version_dir(index_dir) / MANIFEST
    except PublishError as error:
        raise IndexCorrupt(str(error)) from error
    if not path.is_file():
        raise IndexNotFound(
            f"no index at {index_dir} (missing {MANIFEST}); build one with "
            f"`python -m indexer build CORPUS_DIR --out {index_dir}`"
        )
    try:
        if documents:
            manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
        else:
            header = msgspec.json.decode(path.read_bytes(), type=ManifestHeader)
            manifest = Manifest(**msgspec.structs.asdict(header), documents={})
    except (OSError, msgspec.DecodeError) as error:
        raise IndexCorrupt(f"unreadable manifest {path}: {error}") from error
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(
            f"index format {manifest.format_version} at {index_dir} is not supported "
            f"(this version reads format {FORMAT_VERSION}); rebuild the index"
        )
    return manifest


def check_compatible(
    manifest: Manifest, model: str, dimension: int, index_dir: Path, backend: str | None = None, model_sha256: str | None = None
) -> None:
    """Refuse an index whose vectors came from another model, size, encoder backend or weights."""
    if manifest.model != model or manifest.dimension != dimension:
        raise IndexMismatch(
            f"index {index_dir} was built with model {manifest.model!r} "
            f"(dimension {manifest.dimension}) but the configured model is {model!r} "
            f"(dimension {dimension}). Rebuild it with `python -m indexer build CORPUS_DIR "
            f"--out {index_dir} --model {model}`, or configure model {manifest.model!r}."
        )
    if backend is not None and manifest.encoder != backend:
        raise IndexMismatch(
            f"index {index_dir} was embedded with the {manifest.encoder!r} encoder but the configured "
            f"encoder is {backend!r}; their vectors differ slightly. Start with --backend {manifest.encoder}, "
            f"or rebuild with `python -m indexer build CORPUS_DIR --out {index_dir} --backend {backend}`."
        )
    check_same_weights(manifest, model, index_dir, model_sha256)


def check_same_weights(manifest: Manifest, model: str, index_dir: Path, model_sha256: str | None) -> None:
    """Refuse an index embedded with other weights under the same model name (None: look them up by name)."""
    if not manifest.model_sha256:  # built before the weights were recorded
        return
    if model_sha256 is None:
        from indexer.encoding.embedding import model_weights_sha256

        model_sha256 = model_weights_sha256(model)
    if model_sha256 and model_sha256 != manifest.model_sha256:
        raise IndexMismatch(
            f"index {index_dir} was built with model {manifest.model!r} whose weights have sha256 "
            f"{manifest.model_sha256[:12]}…, but the configured {model!r} has weights {model_sha256[:12]}…; "
            f"its vectors would not match. Rebuild it with `python -m indexer build CORPUS_DIR --out {index_dir} "
            f"--model {model}`, or install the model it was built with."
        )


class Index:
    """A built index opened read-only."""

    def __init__(self, index_dir: Path, verify: bool = True, manifest: Manifest | None = None) -> None:
        # Resolve the published version once: a later publish must not mix two versions' files.
        index_dir = version_dir(index_dir)
        self.path = index_dir
        # Serving needs no per-document hashes (builds read them with read_manifest).
        # A manifest read before resolving counts only if it is this version's (no publish in between).
        fits = manifest is not None and manifest.version == index_dir.name
        self.manifest = manifest if fits else read_manifest(index_dir, documents=False)
        if verify:
            verify_checksums(index_dir, self.manifest)
        try:
            self.vectors = open_vector_index(index_dir / CHUNK_VECTORS, self.manifest.faiss_params)
            # A plain ndarray view of the mapping: np.memmap runs Python code on every indexing.
            self.sentence_vectors = np.asarray(np.load(index_dir / SENTENCE_VECTORS, mmap_mode="r"))
            self.sentence_rows = RowReader(index_dir / SENTENCE_VECTORS)
            self.records = RecordStore(index_dir)
            self.chunk_lexical = LexicalIndex.load(index_dir / CHUNK_LEXICAL)
            # Only probed at chosen ids (scores_for) or not read at all, so read ahead nothing.
            self.sentence_lexical = LexicalIndex.load(index_dir / SENTENCE_LEXICAL, random_access=True)
            self.document_lexical = LexicalIndex.load(index_dir / DOCUMENT_LEXICAL, random_access=True)
            # An index written before sentence tables existed gets one worked out at open.
            self.sentence_table = SentenceTable.load(index_dir) or compute_sentence_table(self.records, self.sentence_lexical)
        except (OSError, RuntimeError, ValueError, IndexError, KeyError, sqlite3.Error) as error:
            raise IndexCorrupt(f"index {index_dir} is incomplete or corrupt: {error}") from error
        self.documents = self.records.documents
        self.chunks = self.records.chunks
        self.sentences = self.records.sentences
        self.check_consistent()

    def check_consistent(self) -> None:
        """Counts in the files must agree with each other and with the manifest."""
        expected = self.manifest.counts
        actual = {"documents": len(self.documents), "chunks": len(self.chunks), "sentences": len(self.sentences)}
        problems = [f"{name}: manifest {expected.get(name)} vs files {count}" for name, count in actual.items() if expected.get(name) != count]
        if self.vectors.ntotal != len(self.chunks) or len(self.sentence_vectors) != len(self.sentences):
            problems.append("vector counts differ from the chunk or sentence store")
        if len(self.records.sentence_chunk_offsets) != len(self.sentences) + 1:
            problems.append("the sentence-to-chunk index differs from the sentence store")
        sizes = (self.chunk_lexical.size, self.sentence_lexical.size, self.document_lexical.size)
        if sizes != (len(self.chunks), len(self.sentences), len(self.documents)):
            problems.append("lexical index sizes differ from the chunk or sentence store")
        if problems:
            raise IndexCorrupt(f"index {self.path} is inconsistent: " + "; ".join(problems))

    def search(self, query_vectors: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product scores and chunk ids of the k nearest chunks per query, among allowed_ids if given."""
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        search_one_query_per_thread()
        if allowed_ids is None:
            return self.vectors.search(queries, k)
        return self.vectors.search(queries, k, params=search_parameters(self.manifest.faiss_params, allowed_ids))

    def chunk_vectors(self, chunk_ids: list[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of the given chunks, one row each."""
        return self.vectors.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64)).reshape(-1, self.manifest.dimension)


def file_stat(path: Path) -> list[int]:
    """What changes when a file is rewritten, truncated, replaced or copied: size, mtime, inode."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def record_verified(directory: Path, manifest: Manifest) -> None:
    """Remember the stat of every checksummed file, so opening it unchanged need not hash it again."""
    stats = {name: file_stat(directory / name) for name in manifest.files}
    (directory / VERIFIED).write_text(json.dumps(stats))


def unchanged_since_verified(directory: Path, manifest: Manifest) -> set[str]:
    """Files whose stat still matches the one recorded when their checksums were verified."""
    try:
        stats = json.loads((directory / VERIFIED).read_text())
    except (OSError, ValueError):
        return set()
    unchanged = set()
    for name in manifest.files:
        try:
            if stats.get(name) == file_stat(directory / name):
                unchanged.add(name)
        except OSError:
            continue
    return unchanged


def verify_checksums(directory: Path, manifest: Manifest, full: bool = False) -> None:
    """Every file the manifest lists must be present with the same sha256; files whose size, mtime and
    inode are unchanged since the build verified them are trusted unless full is set."""
    trusted = set() if full else unchanged_since_verified(directory, manifest)
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise IndexCorrupt(f"index {directory} is missing {name}; rebuild it or roll back with `python -m indexer rollback`")
        if name not in trusted and file_sha256(path) != expected:
            raise IndexCorrupt(f"index {directory}: {name} does not match its checksum; rebuild it or roll back")


def verify_version(directory: Path) -> None:
    """A freshly written version must open cleanly and find its own first chunk."""
    index = Index(directory)
    if index.chunks:
        scores, ids = index.search(index.chunk_vectors([0]), 1)
        if ids[0][0] < 0 or scores[0][0] < 0.99:
            raise IndexCorrupt(f"test query on {directory} failed: chunk 0 did not find itself")


def open_index(
    index_dir: Path, model: str | None = None, dimension: int | None = None, backend: str | None = None, model_sha256: str | None = None
) -> Index:
    """Open an index, checking it matches the configured model, weights and encoder when given."""
    manifest = read_manifest(index_dir, documents=False)
    if model is not None and dimension is not None:
        check_compatible(manifest, model, dimension, index_dir, backend, model_sha256)
    return Index(index_dir, manifest=manifest)
