"""Documents of the served index, described for readers checking a citation."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from indexer.store import Index
from service.errors import UnknownDocument
from service.types import DocumentInfo


@lru_cache(maxsize=4)
def record_counts(index: Index) -> tuple[Counter[str], Counter[str]]:
    """Chunks and sentences per document, counted once per opened index."""
    return Counter(c.doc_id for c in index.chunks), Counter(s.doc_id for s in index.sentences)


def document_info(index: Index, doc_id: str) -> DocumentInfo:
    """One document with its metadata, counts and text; UnknownDocument if it is not indexed."""
    document = index.documents.get(doc_id)
    if document is None:
        raise UnknownDocument(doc_id)
    chunks, sentences = record_counts(index)
    return DocumentInfo(
        doc_id=doc_id,
        title=document.title,
        metadata=dict(document.metadata),
        sha256=document.sha256,
        chunks=chunks[doc_id],
        sentences=sentences[doc_id],
        text=document.text,
    )
