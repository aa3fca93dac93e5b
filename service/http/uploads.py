"""Adding and removing corpus documents from the service: safe names, checked content, then an
incremental build that publishes a new index version (plain Python; the HTTP handlers call it)."""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from indexer.build import BuildReport, BuildSettings, build_index
from indexer.encoding.embedding import Encoder
from indexer.reading.extract import SUPPORTED_EXTENSIONS, Extracted, UnreadableDocument, detect_format
from indexer.reading.loading import SIDECAR_SUFFIX
from indexer.reading.metadata import FIELDS, MANIFEST_NAMES, date_range
from indexer.storage.publish import rollback
from indexer.storage.store import Index
from service.http.metrics import record_build

UNSAFE = re.compile(r"[^\w.\-]+")


class UploadRejected(ValueError):
    """An upload or removal the service refuses; status is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Changed(msgspec.Struct, frozen=True):
    """What adding or removing a document did."""

    doc_id: str
    action: str
    version: str
    documents: int
    chunks: int
    format: str | None = None
    pages: int | None = None
    extract_seconds: float = 0.0
    index_seconds: float = 0.0


def safe_filename(name: str) -> str:
    """A client's file name reduced to one harmless path component: no directories, no leading dot,
    only letters, digits, '.', '-' and '_'; UploadRejected(400) if nothing usable is left."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    cleaned = UNSAFE.sub("-", base).strip(".-_")[:120]
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or not stem.strip(".-_"):
        raise UploadRejected(400, f"file name {name!r} has no usable name and extension (e.g. report.pdf)")
    if f".{suffix.lower()}" not in SUPPORTED_EXTENSIONS:
        raise UploadRejected(415, f"file type .{suffix} is not supported; upload one of {', '.join(SUPPORTED_EXTENSIONS)}")
    if cleaned in MANIFEST_NAMES or cleaned.endswith(SIDECAR_SUFFIX):
        raise UploadRejected(400, f"{cleaned} is a metadata file name, not a document name")
    return cleaned


def checked_content(filename: str, data: bytes, max_bytes: int) -> tuple[str, Extracted]:
    """The detected format and extracted text, or UploadRejected saying what is wrong with the file."""
    if not data:
        raise UploadRejected(400, "the uploaded file is empty")
    if len(data) > max_bytes:
        raise UploadRejected(413, f"the file is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    found = detect_format(Path(filename).suffix, data)
    if found is None:
        raise UploadRejected(415, f"{filename}: not a PDF, Word, HTML, Markdown or text file")
    try:
        return found.name, found.extract(data)
    except UnreadableDocument as error:
        raise UploadRejected(422, f"{filename}: {error}") from error


def checked_metadata(fields: dict[str, Any]) -> dict[str, Any]:
    """Metadata given with an upload: known fields only, a date that parses."""
    given = {name: str(value).strip() for name, value in fields.items() if value is not None and str(value).strip()}
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise UploadRejected(400, f"unknown metadata field(s) {', '.join(unknown)}; use {', '.join(FIELDS)}")
    if "date" in given and date_range(given["date"]) is None:
        raise UploadRejected(400, f"date must look like 2017, 2017-03 or 2017-03-22, got {given['date']!r}")
    return given


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a build never sees it half-written (hidden temporary, then rename)."""
    temporary = path.with_name(f".upload-{os.getpid()}-{path.name}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def indexed(report: BuildReport, name: str) -> None:
    """UploadRejected(422) when the build left the uploaded file out (the loader refused what the
    extractor accepted: rare, but then the corpus must go back to what is served)."""
    if name not in report.changes.added + report.changes.changed + report.changes.unchanged:
        reason = next((s.reason for s in report.skipped if s.path == name), "the build left it out")
        raise UploadRejected(422, f"{name} was not indexed: {reason}")


@dataclass(frozen=True)
class Library:
    """The corpus directory and index root the service may change, and the encoder that built it."""

    corpus: Path
    index_root: Path
    encoder: Encoder
    max_bytes: int

    def rebuild(self, served: Index) -> BuildReport:
        """An incremental build with the served index's chunking, published as a new version."""
        settings = BuildSettings(served.manifest.chunk_tokens, served.manifest.overlap_tokens)
        report = build_index(self.corpus, self.index_root, self.encoder, settings, max_file_bytes=self.max_bytes)
        record_build(report)
        return report

    def add(self, served: Index, filename: str, data: bytes, metadata: dict[str, Any], replace: bool = False) -> Changed:
        """Check an uploaded file, store it (and its metadata as a sidecar) in the corpus, rebuild."""
        name = safe_filename(filename)
        started = time.perf_counter()
        kind, extracted = checked_content(name, data, self.max_bytes)
        given = checked_metadata(metadata)
        extract_seconds = time.perf_counter() - started
        target = self.corpus / name
        if target.exists() and not replace:
            raise UploadRejected(409, f"{name} is already in the corpus; send replace=true to replace it")
        files = {target: data}
        if given:
            files[target.with_name(target.stem + SIDECAR_SUFFIX)] = yaml.safe_dump(given, allow_unicode=True).encode("utf-8")
        report = self.changed_files(files, served, lambda built: indexed(built, name))
        pages = len(extracted.pages) or None
        return Changed(name, "added", report.version, report.documents, report.chunks, kind, pages, round(extract_seconds, 3), round(report.seconds, 3))

    def remove(self, served: Index, doc_id: str) -> Changed:
        """Delete an indexed document (and its sidecar) from the corpus, then rebuild without it."""
        path = self.corpus / doc_id
        if doc_id not in served.documents or not path.resolve().is_relative_to(self.corpus.resolve()) or not path.is_file():
            raise UploadRejected(404, f"no document with id {doc_id!r} in the served index")
        if len(served.documents) == 1:
            raise UploadRejected(409, f"{doc_id} is the only document; an index needs at least one")
        sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
        report = self.changed_files({path: None, sidecar: None}, served)
        return Changed(doc_id, "removed", report.version, report.documents, report.chunks, index_seconds=round(report.seconds, 3))

    def changed_files(self, files: dict[Path, bytes | None], served: Index, check: Callable[[BuildReport], None] | None = None) -> BuildReport:
        """Write (bytes) or delete (None) corpus files, rebuild and check the build; if anything fails,
        put every file back as it was."""
        before = {path: path.read_bytes() if path.is_file() else None for path in files}
        report = None
        try:
            for path, data in files.items():
                if data is not None:
                    write_atomically(path, data)
                elif path.is_file():
                    path.unlink()
            report = self.rebuild(served)
            if check is not None:
                check(report)
            return report
        except BaseException:
            for path, data in before.items():
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomically(path, data)
            if report is not None:
                # The refused build was published: publish the served version again.
                rollback(self.index_root, served.manifest.version)
            raise
