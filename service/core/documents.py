"""Documents of the served index, described for readers checking a citation."""

from __future__ import annotations

import msgspec

from indexer.storage.store import Index
from service.core.errors import UnknownDocument
from service.core.types import DocumentInfo, DocumentPage, DocumentSummary


def document_summary(index: Index, doc_id: str) -> DocumentSummary:
    """One document's metadata and counts; UnknownDocument if it is not indexed."""
    document = index.documents.get(doc_id)
    if document is None:
        raise UnknownDocument(doc_id)
    chunks, sentences = index.records.counts(doc_id)
    return DocumentSummary(doc_id, document.title, dict(document.metadata), document.sha256, chunks, sentences)


def document_info(index: Index, doc_id: str) -> DocumentInfo:
    """One document with its metadata, counts and text; UnknownDocument if it is not indexed."""
    summary = document_summary(index, doc_id)
    return DocumentInfo(**msgspec.structs.asdict(summary), text=index.documents[doc_id].text)


def list_documents(index: Index, offset: int, limit: int) -> DocumentPage:
    """Documents from position offset, at most limit of them, in document id order."""
    ids = index.records.doc_ids(offset, limit)
    return DocumentPage(len(index.documents), offset, limit, [document_summary(index, doc_id) for doc_id in ids])
