"""What each sentence is regardless of the question, worked out once when the index is written: its BM25 terms
(ids in the sentence lexical index's vocabulary, in order), its capitalised names, whether it holds numbers,
years, months or amounts, whether it starts or ends a paragraph, whether it may be quoted, and a hash of its
text, and how much of its wording recurs across reports. The answer step reads these by sentence id instead of re-deriving them for every question."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.storage.lexical import LexicalIndex, tokenize
from indexer.storage.records import RecordStore, advise_random
from indexer.storage.templates import template_shares

NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|half|quarter)\b",
    re.IGNORECASE,
)
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
AMOUNT = re.compile(r"%|\bper\s*cent\b|\bpercent\b|[£$€]\s?\d", re.IGNORECASE)
CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
# Arrays of the table, one file each, memory-mapped when the index opens.
ARRAYS = ("term_offsets", "term_ids", "name_offsets", "name_ids", "distinct_terms", "flags", "text_hash", "template_share")
# Arrays added after indexes were first written with a table: read as zeros when missing.
LATER_ARRAYS = ("template_share",)
FOLDER = "sentence_table"
NAMES_FILE = "names.json"


@dataclass(frozen=True)
class SentenceTable:
    """Per sentence id: terms and names as CSR arrays (ids[offsets[s]:offsets[s + 1]]), its count of distinct
    terms, flags (number, year, month, amount, starts paragraph, ends paragraph, unquotable) and text hash."""

    term_offsets: np.ndarray
    term_ids: np.ndarray
    name_offsets: np.ndarray
    name_ids: np.ndarray
    distinct_terms: np.ndarray
    flags: np.ndarray
    text_hash: np.ndarray
    names: dict[str, int]
    # The share of each sentence's wording that recurs across reports (indexer.storage.templates).
    template_share: np.ndarray

    def save(self, directory: Path) -> None:
        """Write the table into directory/FOLDER."""
        folder = directory / FOLDER
        folder.mkdir()
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / NAMES_FILE).write_text(json.dumps(list(self.names)), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> SentenceTable | None:
        """The table saved in directory, memory-mapped; None for an index written before tables existed."""
        folder = directory / FOLDER
        if not folder.is_dir():
            return None
        present = [name for name in ARRAYS if name not in LATER_ARRAYS or (folder / f"{name}.npy").is_file()]
        arrays = {name: advise_random(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in present}
        arrays.setdefault("template_share", np.zeros(len(arrays["flags"]), dtype=np.float32))
        names = json.loads((folder / NAMES_FILE).read_text(encoding="utf-8"))
        return cls(**arrays, names={name: number for number, name in enumerate(names)})


# Columns of SentenceTable.flags.
FLAGS = ("number", "year", "month", "amount", "starts_paragraph", "ends_paragraph", "unquotable")


def text_flags(text: str) -> tuple[bool, bool, bool, bool]:
    """Whether a sentence holds a number, a year, a month and an amount."""
    return bool(NUMBER.search(text)), bool(YEAR.search(text)), bool(MONTH.search(text)), bool(AMOUNT.search(text))


def sentence_names(text: str) -> frozenset[str]:
    """A sentence's capitalised words (not opening it or following a full stop), lower-cased."""
    return frozenset(word.lower() for word in CAPITALISED.findall(text))


def text_hash(text: str) -> int:
    """A 63-bit hash of a sentence's text, to tell repeated lines apart without reading them."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def paragraph_edge(text: str, between: tuple[int, int] | None) -> bool:
    """Whether a blank line separates a sentence from its neighbour (the text between them), or it has none."""
    return between is None or "\n\n" in text[between[0] : between[1]].replace("\r", "")


def csr(rows: list[list[int]], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and flat values of ragged rows."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(row) for row in rows])
    return offsets, np.fromiter((value for row in rows for value in row), dtype=dtype, count=int(offsets[-1]))


def sentence_flags(records: RecordStore, sentence_id: int, spans: np.ndarray, text: str) -> list[bool]:
    """FLAGS of one sentence from its text, its neighbours' spans and its document's layout."""
    position, start, end = (int(v) for v in spans[sentence_id])
    document = records.text(position)
    before = sentence_id > 0 and int(spans[sentence_id - 1, 0]) == position
    after = sentence_id < len(spans) - 1 and int(spans[sentence_id + 1, 0]) == position
    return [
        *text_flags(text),
        paragraph_edge(document, (int(spans[sentence_id - 1, 2]), start) if before else None),
        paragraph_edge(document, (end, int(spans[sentence_id + 1, 1])) if after else None),
        records.is_unquotable(records.doc_id(position), start, end),
    ]


def compute_sentence_table(records: RecordStore, lexical: LexicalIndex) -> SentenceTable:
    """The table of every sentence of an index's records, its terms numbered as lexical numbers them."""
    spans = np.asarray(records.sentence_spans)
    texts = [records.text(int(position))[int(start) : int(end)] for position, start, end in spans]
    vocabulary = lexical.bm25.vocab_dict
    # Every sentence was indexed by lexical, so each of its tokens has an id.
    sequences = [[vocabulary[token] for token in tokens] for tokens in tokenize(texts)] if texts else []
    names: dict[str, int] = {}
    name_rows = [[names.setdefault(name, len(names)) for name in sorted(sentence_names(text))] for text in texts]
    term_offsets, term_ids = csr(sequences, np.int32)
    name_offsets, name_ids = csr(name_rows, np.int32)
    flags = np.array([sentence_flags(records, number, spans, text) for number, text in enumerate(texts)], dtype=np.uint8).reshape(-1, len(FLAGS))
    return SentenceTable(
        term_offsets, term_ids, name_offsets, name_ids,
        np.array([len(set(sequence)) for sequence in sequences], dtype=np.int32), flags,
        np.array([text_hash(text) for text in texts], dtype=np.int64), names, template_shares(texts, spans[:, 0].tolist()),
    )
