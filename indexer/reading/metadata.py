"""Document metadata: field names made uniform, layers merged by precedence, the corpus manifest,
and the date range a filter compares against."""

from __future__ import annotations

import calendar
import csv
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

# The fields filters and citations know; others are kept as given.
FIELDS = ("title", "force", "inspectorate", "inspector", "date", "report_type", "source_url")
SYNONYMS = {"document_type": "report_type", "type": "report_type", "category": "report_type", "url": "source_url", "source": "source_url"}
MANIFEST_NAMES = ("metadata.csv", "metadata.json")
PATH_COLUMNS = ("path", "doc_id", "file")
DATE = re.compile(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")
# Titles authoring tools leave behind that name no document: a template's name, a file name, "Final report".
GENERIC_TITLE = re.compile(
    r"\btemplate\b|^microsoft (word|excel|powerpoint) - |\.(docx?|pdf|rtf|odt|indd)$|"
    r"^((final|draft|interim|full)\s+)?(report|document|untitled|title|doc|slides?)(\s*\d+)?$|^document\s*\d*$|^untitled",
    re.IGNORECASE,
)


class ManifestError(ValueError):
    """A corpus metadata manifest that cannot be read."""


def key_name(key: object) -> str:
    """'Report Type' and 'report-type' become 'report_type'."""
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def field_name(key: object) -> str:
    """key_name, with synonyms mapped: 'document_type' becomes 'report_type'."""
    name = key_name(key)
    return SYNONYMS.get(name, name)


def json_value(value: Any) -> Any:
    """YAML and CSV values as JSON-friendly ones: dates as ISO strings, other objects as text."""
    if isinstance(value, (datetime, date)):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def uniform(metadata: dict[Any, Any]) -> dict[str, Any]:
    """Field names made uniform, empty values dropped; a field's own name beats its synonyms, and a
    'year' stands in for a missing date."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        name, value = field_name(key), json_value(value)
        if value is None or value == "":
            continue
        if key_name(key) == name or name not in out:
            out[name] = value
    if "date" not in out and "year" in out:
        out["date"] = str(out["year"])
    return out


def merge(*layers: dict[Any, Any]) -> dict[str, Any]:
    """Layers from lowest to highest precedence, each made uniform; a higher layer wins per field."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(uniform(layer))
    return merged


def is_generic_title(title: object) -> bool:
    """Whether a title names no document: empty, a template's or a file's name, or a word like "Final report"."""
    text = " ".join(str(title or "").split())
    return len(text) < 3 or bool(GENERIC_TITLE.search(text))


def date_range(value: object) -> tuple[str, str] | None:
    """The days a date covers: '2017' is all of 2017, '2017-03' all of March, '2017-03-22' one day."""
    match = DATE.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    year, month, day = (int(part) if part else None for part in match.groups())
    try:
        if month is None:
            return f"{year:04d}-01-01", f"{year:04d}-12-31"
        last = calendar.monthrange(year, month)[1]
        if day is None:
            return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last:02d}"
        return date(year, month, day).isoformat(), date(year, month, day).isoformat()
    except ValueError:
        return None


def read_manifest_file(path: Path) -> dict[str, dict[str, Any]]:
    """Metadata per document id from metadata.csv (a path column) or metadata.json (an object by id, or a list)."""
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
        else:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            rows = [{"path": key, **value} for key, value in loaded.items()] if isinstance(loaded, dict) else loaded
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError, AttributeError, TypeError) as error:
        raise ManifestError(f"unreadable {path.name}: {error}") from error
    entries: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ManifestError(f"{path.name}: entry {number} is not a mapping")
        key = next((row[column] for column in PATH_COLUMNS if row.get(column)), None)
        if key is None:
            raise ManifestError(f"{path.name}: entry {number} has no {' / '.join(PATH_COLUMNS)} column")
        entries[str(key).strip()] = {k: v for k, v in row.items() if k not in PATH_COLUMNS}
    return entries


def corpus_manifest(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The corpus-level metadata manifest, merged from metadata.csv and metadata.json when present."""
    entries: dict[str, dict[str, Any]] = {}
    for name in MANIFEST_NAMES:
        if (corpus_dir / name).is_file():
            for doc_id, fields in read_manifest_file(corpus_dir / name).items():
                entries.setdefault(doc_id, {}).update(fields)
    return entries
