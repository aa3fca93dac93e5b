"""Server-sent event responses for handlers that can also answer with JSON."""

from __future__ import annotations

from collections.abc import AsyncIterable

from litestar.response import ServerSentEvent, ServerSentEventMessage

# A handler that may return JSON has a JSON media type, which Litestar would also stamp on the
# event stream; the explicit header keeps streams `text/event-stream`.
EVENT_STREAM_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


def event_stream(content: AsyncIterable[str | ServerSentEventMessage]) -> ServerSentEvent:
    """An SSE response from a handler whose other answer is JSON."""
    return ServerSentEvent(content, headers=EVENT_STREAM_HEADERS)
