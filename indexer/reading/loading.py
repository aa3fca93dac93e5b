"""Read corpus files into Documents; skip what cannot be read, with a reason.

Metadata comes from, highest precedence first: YAML front matter, a sidecar `<stem>.meta.yaml`,
the corpus manifest (`metadata.csv` / `metadata.json`), then what the file embeds (PDF and DOCX
properties, HTML meta tags).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from indexer.failpoints import failpoint
from indexer.reading.extract import SUPPORTED_EXTENSIONS, Extracted, UnreadableDocument, detect_format
from indexer.reading.furniture import document_furniture
from indexer.reading.metadata import MANIFEST_NAMES, ManifestError, corpus_manifest, is_generic_title, merge
from indexer.storage.lifetime import worker_pool
from indexer.types import Document, Skipped

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.yaml"
# A larger file is most likely a dump or a mistake, and would take hours to embed on a laptop.
MAX_FILE_BYTES = 20 * 2**20
# Reading a PDF or Word file is the slow part of a build (pdfminer: about 2 s for a 30-page report): from this
# many, worker processes read them while the first results come back in order.
SLOW_FORMATS = (".pdf", ".docx")
PARALLEL_MIN_FILES = 8

__all__ = ["MAX_FILE_BYTES", "SUPPORTED_EXTENSIONS", "UnreadableDocument", "load_corpus", "load_document"]


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, refusing oversized or unreadable files."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableDocument(f"too large ({size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB, set by --max-file-mb)")
        return path.read_bytes()
    except OSError as error:
        raise UnreadableDocument(f"cannot read file: {error.strerror or error}") from error


def read_sidecar(path: Path) -> dict[str, Any]:
    """Metadata from `<stem>.meta.yaml` beside the file, or an empty mapping."""
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return {}
    try:
        loaded = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UnreadableDocument(f"unreadable metadata file {sidecar.name}: {error}") from error
    if not isinstance(loaded, dict):
        raise UnreadableDocument(f"metadata file {sidecar.name} is not a mapping")
    return loaded


def load_document(path: Path, corpus_dir: Path, max_bytes: int = MAX_FILE_BYTES, listed: dict[str, Any] | None = None) -> Document:
    """Load one file of a supported format; raises UnreadableDocument with the reason.

    listed is the file's entry in the corpus manifest, if any.
    """
    data = read_bytes(path, max_bytes)
    found = detect_format(path.suffix, data)
    if found is None:
        raise UnreadableDocument(f"unsupported file type {path.suffix or '(none)'!r}")
    extracted = found.extract(data)
    if not extracted.text[extracted.body_start :].strip():
        raise UnreadableDocument("no text after the front matter")
    metadata = merge(extracted.properties, listed or {}, read_sidecar(path), extracted.front_matter)
    title = document_title(metadata, extracted, path)
    return Document(
        doc_id=path.relative_to(corpus_dir).as_posix(),
        text=extracted.text,
        title=title,
        sha256=hashlib.sha256(data).hexdigest(),
        body_start=extracted.body_start,
        metadata=metadata,
        pages=extracted.pages,
        headings=extracted.headings,
        format=found.name,
        furniture=document_furniture(extracted.text, extracted.body_start, title, extracted.furniture),
    )


def document_title(metadata: dict[str, Any], extracted: Extracted, path: Path) -> str:
    """The title a person gave (front matter, sidecar, manifest), else the file's own property unless it is a
    template's or file's name, else the document's own cover or first heading, else the file name."""
    given = metadata.get("title")
    if given and (given != extracted.properties.get("title") or not is_generic_title(given)):
        return str(given)
    return extracted.title or path.stem


def iter_candidate_files(corpus_dir: Path) -> Iterator[Path]:
    """Every non-hidden file under the corpus, in a stable order."""
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def skip_reason(path: Path, corpus_dir: Path) -> str | None:
    """Why a candidate file is not a document, or None when it may be one."""
    if path.name.endswith(SIDECAR_SUFFIX) or (path.parent == corpus_dir and path.name in MANIFEST_NAMES):
        return "metadata"
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(corpus_dir.resolve()):
            return "symlink pointing outside the corpus"
        if not target.is_file():
            return "broken symlink"
    return None


@dataclass(frozen=True)
class CorpusPlan:
    """The files a build will try to load, in order, with what the corpus manifest says of each."""

    candidates: list[Path]
    listed: dict[str, dict[str, Any]]
    skipped: list[Skipped]


def plan_corpus(corpus_dir: Path) -> CorpusPlan:
    """Every candidate file and its manifest entry; a broken corpus manifest is skipped with its reason."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus directory not found: {corpus_dir}")
    skipped: list[Skipped] = []
    try:
        listed = corpus_manifest(corpus_dir)
    except ManifestError as error:
        log.warning("ignoring the corpus manifest: %s", error)
        skipped.append(Skipped(path=str(error).split(":")[0].removeprefix("unreadable "), reason=str(error)))
        listed = {}
    candidates = [path for path in iter_candidate_files(corpus_dir) if skip_reason(path, corpus_dir) != "metadata"]
    return CorpusPlan(candidates, listed, skipped)


def read_candidate(path: Path, corpus_dir: Path, max_bytes: int, listed: dict[str, Any] | None) -> Document | Skipped:
    """One candidate file as a Document, or why it was skipped (said by the caller: this may run in a worker)."""
    relative = path.relative_to(corpus_dir).as_posix()
    try:
        reason = skip_reason(path, corpus_dir)
        if reason is not None:
            raise UnreadableDocument(reason)
        return load_document(path, corpus_dir, max_bytes, listed)
    except UnreadableDocument as error:
        return Skipped(path=relative, reason=str(error))


def load_candidate(path: Path, corpus_dir: Path, max_bytes: int, listed: dict[str, Any] | None) -> Document | Skipped:
    """One candidate file as a Document, or why it was skipped, with a warning."""
    return said(read_candidate(path, corpus_dir, max_bytes, listed))


def said(loaded: Document | Skipped) -> Document | Skipped:
    """loaded, with a warning when it is a skipped file."""
    if isinstance(loaded, Skipped):
        log.warning("skipping %s: %s", loaded.path, loaded.reason)
    return loaded


def read_candidates(plan: CorpusPlan, corpus_dir: Path, max_bytes: int) -> Iterator[Document | Skipped]:
    """read_candidate of every planned file, in order: in worker processes when there are many slow files."""
    entries = [(path, plan.listed.get(path.relative_to(corpus_dir).as_posix())) for path in plan.candidates]
    slow = sum(path.suffix.lower() in SLOW_FORMATS for path, _ in entries)
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or slow < PARALLEL_MIN_FILES:
        for path, listed in entries:
            failpoint("extraction")
            yield read_candidate(path, corpus_dir, max_bytes, listed)
        return
    with worker_pool(workers) as pool:
        futures = []
        for path, listed in entries:
            failpoint("extraction")
            futures.append(pool.submit(read_candidate, path, corpus_dir, max_bytes, listed))
        for future in futures:
            yield future.result()


def warn_unlisted(plan: CorpusPlan, documents: list[Document], skipped: list[Skipped]) -> None:
    """Log manifest entries that name no file of the corpus."""
    unknown = sorted(set(plan.listed) - {document.doc_id for document in documents} - {s.path for s in skipped})
    for doc_id in unknown:
        log.warning("the corpus manifest lists %s, which is not in the corpus", doc_id)


def load_corpus(corpus_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file under corpus_dir; report the ones skipped and why."""
    plan = plan_corpus(corpus_dir)
    documents: list[Document] = []
    skipped = list(plan.skipped)
    for loaded in read_candidates(plan, corpus_dir, max_bytes):
        (documents if isinstance(said(loaded), Document) else skipped).append(loaded)
    warn_unlisted(plan, documents, skipped)
    return documents, skipped
