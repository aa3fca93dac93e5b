"""Read corpus files into Documents; skip what cannot be read, with a reason."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from indexer.types import Document, Skipped

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.yaml"
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
MARKDOWN_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class UnreadableDocument(ValueError):
    """A corpus file that cannot be turned into a Document."""


def parse_plain_text(text: str) -> tuple[int, dict[str, Any], str | None]:
    """Plain text has no embedded metadata: body starts at 0, title from the first line."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return 0, {}, first_line


def parse_markdown(text: str) -> tuple[int, dict[str, Any], str | None]:
    """Split YAML front matter from a Markdown body; title from the first heading."""
    body_start, metadata = 0, {}
    match = FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            raise UnreadableDocument(f"invalid YAML front matter: {error}") from error
        if loaded is not None and not isinstance(loaded, dict):
            raise UnreadableDocument("YAML front matter is not a mapping")
        body_start, metadata = match.end(), loaded or {}
    heading = MARKDOWN_HEADING.search(text, body_start)
    title = heading.group(1) if heading else parse_plain_text(text[body_start:])[2]
    return body_start, metadata, title


# One parser per format; a new format adds an entry here.
PARSERS: dict[str, Callable[[str], tuple[int, dict[str, Any], str | None]]] = {
    ".txt": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
}


# A larger text file is most likely a dump or a mistake, and would take hours to embed on a laptop.
MAX_FILE_BYTES = 20 * 2**20


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Decode a file as UTF-8, refusing binary, undecodable or oversized content."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableDocument(f"too large ({size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB, set by --max-file-mb)")
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableDocument(f"cannot read file: {error.strerror or error}") from error
    if b"\x00" in raw:
        raise UnreadableDocument("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(f"not valid UTF-8 (byte {error.start})") from error
    if not text.strip():
        raise UnreadableDocument("empty file")
    return text


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


def load_document(path: Path, corpus_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Load one supported file; raises UnreadableDocument with the reason."""
    text = read_text(path, max_bytes)
    body_start, metadata, derived_title = PARSERS[path.suffix.lower()](text)
    if not text[body_start:].strip():
        raise UnreadableDocument("no text after the front matter")
    # Front matter wins over the sidecar, as it travels with the file.
    metadata = {**read_sidecar(path), **metadata}
    metadata = {str(key): value for key, value in metadata.items()}
    title = str(metadata.get("title") or derived_title or path.stem)
    return Document(
        doc_id=path.relative_to(corpus_dir).as_posix(),
        text=text,
        title=title,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        body_start=body_start,
        metadata=msgspec_safe(metadata),
    )


def msgspec_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """Make YAML values (dates, nested types) JSON-representable."""
    safe: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            safe[key] = value
        else:
            safe[key] = str(value)
    return safe


def iter_candidate_files(corpus_dir: Path) -> Iterator[Path]:
    """Every non-hidden file under the corpus, in a stable order."""
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def skip_reason(path: Path, corpus_dir: Path) -> str | None:
    """Why a candidate file is not a document, or None when it is one."""
    if path.name.endswith(SIDECAR_SUFFIX):
        return "metadata"
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(corpus_dir.resolve()):
            return "symlink pointing outside the corpus"
        if not target.is_file():
            return "broken symlink"
    if path.suffix.lower() not in PARSERS:
        return f"unsupported file type {path.suffix or '(none)'!r}"
    return None


def load_corpus(corpus_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file under corpus_dir; report the ones skipped and why."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus directory not found: {corpus_dir}")
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path in iter_candidate_files(corpus_dir):
        relative = path.relative_to(corpus_dir).as_posix()
        reason = skip_reason(path, corpus_dir)
        if reason == "metadata":
            continue
        try:
            if reason is not None:
                raise UnreadableDocument(reason)
            documents.append(load_document(path, corpus_dir, max_bytes))
        except UnreadableDocument as error:
            log.warning("skipping %s: %s", relative, error)
            skipped.append(Skipped(path=relative, reason=str(error)))
    return documents, skipped
