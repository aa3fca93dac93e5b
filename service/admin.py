"""Admin endpoints: reload the published index version without a restart (API key required)."""

from __future__ import annotations

import anyio
import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException

from indexer.store import IndexStoreError
from service.retrieval import reopened


class Reloaded(msgspec.Struct, frozen=True):
    """What a reload did."""

    previous: str
    version: str
    reloaded: bool


@post("/admin/reload", status_code=200)
async def reload_index(state: State) -> Reloaded:
    """Swap to the version now published under the index root, between requests."""
    if not state.admin_enabled:
        raise NotFoundException("admin endpoints are disabled: start the service with an API key (IQA_API_KEY) to enable them")
    async with state.reload_lock:
        current = state.retriever
        previous = current.index.manifest.version
        try:
            fresh = await anyio.to_thread.run_sync(reopened, current, state.index_root)
        except IndexStoreError as error:
            raise ClientException(f"kept serving {previous}: the published index cannot be loaded ({error})", status_code=409) from error
        if fresh is None:
            return Reloaded(previous, previous, False)
        # Requests already running keep the retriever they started with; new ones get the new one.
        state.retriever = fresh
        return Reloaded(previous, fresh.index.manifest.version, True)
