"""Admin endpoints: reload the published index version, add and remove documents (API key required
for reloads; for document changes whenever one is set)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import msgspec
from litestar import delete, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import Body, PathParameter

from indexer.storage.publish import PublishError, version_dir
from indexer.storage.store import IndexStoreError
from service.core.retrieval import reopened
from service.http import metrics
from service.http.uploads import Changed, UploadRejected

log = logging.getLogger(__name__)


class Reloaded(msgspec.Struct, frozen=True):
    """What a reload did."""

    previous: str
    version: str
    reloaded: bool


async def swap_to_published(state: State) -> Reloaded:
    """Serve the version now published under the index root; requests already running finish on theirs."""
    async with state.reload_lock:
        current = state.retriever
        previous = current.index.manifest.version
        try:
            fresh = await anyio.to_thread.run_sync(reopened, current, state.index_root)
        except (IndexStoreError, PublishError) as error:
            metrics.record_reload("failed")
            raise ClientException(f"kept serving {previous}: the published index cannot be loaded ({error})", status_code=409) from error
        if fresh is None:
            metrics.record_reload("unchanged")
            return Reloaded(previous, previous, False)
        state.retriever = fresh
        metrics.record_reload("reloaded")
        return Reloaded(previous, fresh.index.manifest.version, True)


async def follow_published(state: State, every_seconds: float) -> None:
    """Load each version another process publishes (a build, an upload to another worker, a rollback)."""
    failed: Path | None = None
    while True:
        await anyio.sleep(every_seconds)
        try:
            published = await anyio.to_thread.run_sync(version_dir, state.index_root)
        except PublishError:
            continue
        if published in (state.retriever.index.path, failed):
            continue
        try:
            await swap_to_published(state)
        except ClientException as error:
            # Keep serving; try this version again only if the pointer moves on.
            failed = published
            log.warning("%s", error.detail)


@post("/admin/reload", status_code=200)
async def reload_index(state: State) -> Reloaded:
    """Swap to the version now published under the index root, between requests."""
    if not state.admin_enabled:
        raise NotFoundException("admin endpoints are disabled: start the service with an API key (IQA_API_KEY) to enable them")
    return await swap_to_published(state)


@dataclass
class UploadForm:
    """A document to add, with optional metadata (written beside it as a sidecar)."""

    file: UploadFile
    title: str | None = None
    force: str | None = None
    inspectorate: str | None = None
    inspector: str | None = None
    date: str | None = None
    report_type: str | None = None
    source_url: str | None = None
    replace: bool = False


async def change_corpus(state: State, action: str, *arguments: Any) -> Changed:
    """Run Library.<action> and its build off the event loop, one at a time, then serve the new version."""
    if state.library is None:
        raise NotFoundException("adding and removing documents is disabled: start the service with --corpus DIR (IQA_CORPUS)")
    async with state.build_lock:
        try:
            change = getattr(state.library, action)
            changed = await anyio.to_thread.run_sync(change, state.retriever.index, *arguments)
        except UploadRejected as error:
            metrics.record_upload(action, "rejected")
            raise HTTPException(str(error), status_code=error.status) from error
        except Exception:
            metrics.record_upload(action, "failed")
            raise
        await swap_to_published(state)
    metrics.record_upload(action, "published")
    return changed


def document_routes(max_upload_bytes: int) -> list[BaseRouteHandler]:
    """POST /documents and DELETE /documents/{doc_id}, uploads limited to max_upload_bytes."""

    # The form's own overhead (boundaries, metadata fields) is small; 64 KiB covers it.
    @post("/documents", status_code=201, request_max_body_size=max_upload_bytes + 65_536)
    async def add_document(data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)], state: State) -> Changed:
        """Add (or with replace=true, replace) a PDF, Word, HTML, Markdown or text file: it is stored
        in the corpus, indexed and published as a new version, then served; the reply gives timings."""
        content = await data.file.read()
        metadata = {name: getattr(data, name) for name in ("title", "force", "inspectorate", "inspector", "date", "report_type", "source_url")}
        return await change_corpus(state, "add", data.file.filename or "", content, metadata, data.replace)

    @delete("/documents/{doc_id:path}", status_code=200)
    async def remove_document(
        doc_id: Annotated[Path, PathParameter(description="Document id: its path relative to the corpus.", schema_extra={"format": "path"})],
        state: State,
    ) -> Changed:
        """Remove a document from the corpus and publish a version without it."""
        return await change_corpus(state, "remove", doc_id.as_posix().lstrip("/"))

    return [add_document, remove_document]
