"""The HTTP side of operating the service: request ids, per-request figures and log lines, /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar import Response, get
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.http import metrics
from service.http.request_log import CURRENT, RequestLog, RequestNote, note_answer, request_id

HEADER = b"x-request-id"


def answered(verdict: str, confidence: float) -> None:
    """An answer went out: count it by verdict and note it for the request's log line."""
    metrics.record_answer(verdict, confidence)
    note_answer(verdict, confidence)


class RequestObserver:
    """Wraps the whole app (unknown paths and errors included): an X-Request-ID on every response, then
    the request's figures and its log line."""

    def __init__(self, app: ASGIApp, log: RequestLog, served_version: Callable[[], str | None]) -> None:
        self.app = app
        self.log = log
        self.served_version = served_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(given_id(scope))
        note, status = RequestNote(), [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, rid.encode())]
            await send(message)

        token = CURRENT.set(note)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CURRENT.reset(token)
            self.finished(scope, rid, status[0], time.perf_counter() - started, note)

    def finished(self, scope: Scope, rid: str, status: int, seconds: float, note: RequestNote) -> None:
        """Count the request and write its line."""
        route = route_of(scope)
        metrics.record_request(route, scope["method"], status, seconds)
        if note.version is None:
            note.version = self.served_version()
        self.log.write(rid, scope["method"], route, status, seconds, note)


def route_of(scope: Scope) -> str:
    """The route template the request matched (/documents/{doc_id:path}), its mount point (/mcp, /static:
    Litestar leaves their template empty), or UNMATCHED."""
    if template := scope.get("path_template"):
        return template
    handler = scope.get("route_handler")
    return min(handler.paths) if handler is not None and handler.paths else metrics.UNMATCHED


def given_id(scope: Scope) -> str | None:
    """The request's own X-Request-ID header, if any."""
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("latin-1")
    return None


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics_endpoint(state: State) -> Response[bytes]:
    """Figures in the Prometheus text format (API key as for the other read endpoints)."""
    return Response(metrics.exposition(state.scrape_registry), media_type=metrics.CONTENT_TYPE)
