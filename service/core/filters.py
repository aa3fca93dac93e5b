"""Filters that narrow a question to some documents before anything is ranked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
import numpy as np

from indexer.reading.metadata import date_range
from indexer.storage.records import lowered as stored_value
from indexer.storage.store import Index
from service.core.errors import InvalidRequest

DATE_HELP = "a date: 2017, 2017-03 or 2017-03-22"
MAX_VALUES = 500


class Filters(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Only documents matching every given field are searched; a list matches any of its values."""

    force: Annotated[list[str], msgspec.Meta(max_length=MAX_VALUES, description="Force names, e.g. 'Metropolitan Police Service' (case-insensitive).")] | None = None
    report_type: Annotated[list[str], msgspec.Meta(max_length=MAX_VALUES, description="Report types, e.g. 'PEEL inspection statement' (case-insensitive).")] | None = None
    date_from: Annotated[str, msgspec.Meta(description=f"Documents dated on or after {DATE_HELP}.")] | None = None
    date_to: Annotated[str, msgspec.Meta(description=f"Documents dated on or before {DATE_HELP}.")] | None = None
    doc_ids: Annotated[list[str], msgspec.Meta(max_length=MAX_VALUES, description="Document ids (paths relative to the corpus).")] | None = None

    def __post_init__(self) -> None:
        low = self.bounds()
        if low[0] and low[1] and low[0] > low[1]:
            raise InvalidRequest("filters.date_from", f"{self.date_from} is after date_to {self.date_to}")

    def bounds(self) -> tuple[str | None, str | None]:
        """The first day of date_from and the last day of date_to, as ISO dates."""
        return first_day(self.date_from, "filters.date_from"), last_day(self.date_to, "filters.date_to")

    def describe(self) -> str:
        """The filters in words, for messages."""
        parts = [f"{name} = {', '.join(value) if isinstance(value, list) else value}" for name, value in msgspec.structs.asdict(self).items() if value is not None]
        return "; ".join(parts) or "no filters"


def checked_range(value: str | None, field: str) -> tuple[str, str] | None:
    """The days a date filter covers, or InvalidRequest naming the field."""
    if value is None:
        return None
    covered = date_range(value)
    if covered is None or len(value.strip()) > 10:
        raise InvalidRequest(field, f"must be {DATE_HELP}, got {value!r}")
    return covered


def first_day(value: str | None, field: str) -> str | None:
    """The first day a date covers."""
    covered = checked_range(value, field)
    return covered[0] if covered else None


def last_day(value: str | None, field: str) -> str | None:
    """The last day a date covers."""
    covered = checked_range(value, field)
    return covered[1] if covered else None


def lowered(values: list[str] | None) -> list[str | None] | None:
    """Values as the documents table stores them for matching (trimmed, lower case)."""
    return None if values is None else [stored_value(value) for value in values]


@dataclass(frozen=True)
class Restriction:
    """The chunks and sentences a filtered question may use."""

    chunk_ids: np.ndarray
    chunk_mask: np.ndarray
    sentence_mask: np.ndarray
    description: str

    @property
    def empty(self) -> bool:
        """No document matched the filters."""
        return len(self.chunk_ids) == 0

    @property
    def notice(self) -> str:
        """What a reader is told when nothing matched."""
        return f"No indexed document matches the filters ({self.description}), so nothing was searched."


def restriction(index: Index, filters: Filters | None) -> Restriction | None:
    """The chunks and sentences of the documents the filters match; None without filters."""
    if filters is None:
        return None
    date_from, date_to = filters.bounds()
    records = index.records
    positions = records.select_positions(lowered(filters.force), lowered(filters.report_type), date_from, date_to, filters.doc_ids)
    chunk_mask = np.isin(records.chunk_spans[:, 0], positions)
    sentence_mask = np.isin(records.sentence_spans[:, 0], positions)
    return Restriction(np.flatnonzero(chunk_mask), chunk_mask, sentence_mask, filters.describe())
