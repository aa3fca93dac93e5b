"""The Litestar app: a few thin handlers over the retrieval core."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import anyio
import msgspec
from litestar import Litestar, Response, asgi, get, post
from litestar.datastructures import State
from litestar.handlers import ASGIRouteHandler
from litestar.logging.config import LoggingConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.types import ASGIApp, Receive, Scope, Send

from indexer.storage.lifetime import die_with_supervisor
from service.chat.openai_api import chat_completions, list_models, retrieve_model
from service.core.answer import answer_question, shipped_models
from service.core.answer_pool import off_loop, use_answer_threads
from service.core.batching import question_encoder
from service.core.documents import document_info, list_documents
from service.core.filters import Filters, restriction
from service.core.retrieval import MAX_K, MAX_QUESTION_CHARS, RetrievalSettings, Retriever
from service.core.streaming import answer_events
from service.core.types import Answer, DocumentInfo, DocumentPage, Passage
from service.http import metrics
from service.http.access import api_key_guard, cors_config, rate_limit_config
from service.http.admin import document_routes, follow_published, reload_index
from service.http.http_errors import EXCEPTION_HANDLERS
from service.http.observe import RequestObserver, answered, metrics_endpoint
from service.http.request_log import RequestLog, note_question
from service.http.sse import event_stream
from service.http.uploads import Library
from service.mcp.server import ReportServer, Served, http_app
from service.page.routes import page_routes
from service.settings import Settings, answer_settings_from, available_cores

MAX_PAGE = 500
# SQLite takes offsets up to 2**63 - 1 and fails beyond; no index holds anything like this many documents.
MAX_OFFSET = 2**31 - 1
NOTICE_HEADER = "X-Notice"


class AskRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A question for /ask."""

    question: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words.")]
    k: Annotated[int, msgspec.Meta(ge=1, le=MAX_K, description="Passages to retrieve.")] = 5
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"
    stream: Annotated[bool, msgspec.Meta(description="Send server-sent events: evidence, answer deltas, done.")] = False
    filters: Filters | None = None


class Health(msgspec.Struct, frozen=True):
    """Liveness."""

    status: str


class Ready(msgspec.Struct, frozen=True):
    """Readiness: which index is served."""

    status: str
    version: str
    model: str
    documents: int
    chunks: int
    sentences: int


@post(
    "/ask",
    status_code=200,
    responses={200: ResponseSpec(Answer, description="The answer; with \"stream\": true, text/event-stream events: evidence, answer, done.")},
)
async def ask(data: JSONBody[AskRequest], state: State) -> Answer | ServerSentEvent:
    """Answer a question with the source sentences that answer it, or abstain."""
    settings = replace(state.answer_settings, retrieval=RetrievalSettings(mode=data.mode, filters=data.filters))
    retriever = state.retriever
    note_question(data.question, retriever.index.manifest.version)
    if data.stream:
        return event_stream(named_events(answer_events(retriever, data.question, data.k, settings)))
    answer = await off_loop(answer_question, retriever, data.question, data.k, settings)
    answered(answer.verdict, answer.confidence)
    return answer


async def named_events(events: AsyncIterator[tuple[str, dict]]) -> AsyncIterator[ServerSentEventMessage]:
    """(event, data) pairs as named server-sent events with JSON data; the evidence event is the answer's verdict."""
    async for event, data in events:
        if event == "evidence":
            answered(data["verdict"], data["confidence"])
        yield ServerSentEventMessage(data=msgspec.json.encode(data).decode(), event=event)


@get("/documents", sync_to_thread=False)
def documents(
    state: State,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Documents to skip.")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Documents per page.")] = 50,
) -> DocumentPage:
    """The served documents with their metadata and chunk counts, a page at a time."""
    return list_documents(state.retriever.index, offset, limit)


@get("/documents/{doc_id:path}", sync_to_thread=False)
def document(
    doc_id: Annotated[Path, PathParameter(description="Document id: its path relative to the corpus.", schema_extra={"format": "path"})],
    state: State,
) -> DocumentInfo:
    """One indexed document: metadata, counts and the text that citation offsets refer to."""
    return document_info(state.retriever.index, doc_id.as_posix().lstrip("/"))


@get("/search")
async def search(
    state: State,
    q: Annotated[str, QueryParameter(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question or keywords.")],
    k: Annotated[int, QueryParameter(ge=1, le=MAX_K, description="Passages to return.")] = 5,
    mode: Annotated[Literal["dense", "lexical", "hybrid"], QueryParameter(description="Retrievers to use.")] = "hybrid",
    force: Annotated[list[str] | None, QueryParameter(description="Only these forces (repeatable).")] = None,
    report_type: Annotated[list[str] | None, QueryParameter(description="Only these report types (repeatable).")] = None,
    date_from: Annotated[str | None, QueryParameter(description="Only documents dated on or after: 2017, 2017-03 or 2017-03-22.")] = None,
    date_to: Annotated[str | None, QueryParameter(description="Only documents dated on or before: 2017, 2017-03 or 2017-03-22.")] = None,
    doc_id: Annotated[list[str] | None, QueryParameter(description="Only these documents (repeatable).")] = None,
) -> Response[list[Passage]]:
    """The k passages that best match the query; when the filters match no document, an empty list
    and an X-Notice header saying so."""
    given = (force, report_type, date_from, date_to, doc_id)
    filters = Filters(force, report_type, date_from, date_to, doc_id) if any(value is not None for value in given) else None
    retriever = state.retriever
    note_question(q, retriever.index.manifest.version)
    return await off_loop(search_response, retriever, q, k, RetrievalSettings(mode=mode, filters=filters))


def search_response(retriever: Retriever, query: str, k: int, settings: RetrievalSettings) -> Response[list[Passage]]:
    """The passages, or an empty list with the notice when the filters match no document."""
    passages = retriever.search(query, k, settings)
    filters = settings.filters
    narrowed = restriction(retriever.index, filters) if filters is not None and not passages else None
    if narrowed is not None and narrowed.empty:
        # Headers are Latin-1 and end at a newline: the echoed filter values are escaped to ASCII.
        return Response([], headers={NOTICE_HEADER: json.dumps(narrowed.notice)[1:-1]})
    return Response(passages)


@get("/health", opt={"public": True})
async def health() -> Health:
    """The process is up."""
    return Health("ok")


@get("/ready")
async def ready(state: State) -> Ready:
    """The index and model are loaded."""
    index = state.retriever.index
    manifest = index.manifest
    return Ready("ready", manifest.version, manifest.model, len(index.documents), len(index.chunks), len(index.sentences))


def encoder_threads(backend: str, workers: int, cores: int) -> int:
    """Encoder threads per worker. int8 questions are cheap: one thread per two cores leaves the other
    to the event loop and answering (2 cores, 1 worker: 320 instead of 245 answers/s at concurrency 32,
    3.2 instead of 4.0 ms alone). fp32 is compute-bound and wants every core it can get (the bare
    encoder takes 9.9 ms a question with two threads, 14.8 ms with one)."""
    share = cores // workers
    return max(1, share // 2 if backend == "onnx-int8" else share)


def create_app(settings: Settings) -> Litestar:
    """Build the app; the model and index load once, at start-up."""

    @asynccontextmanager
    async def load_index(app: Litestar) -> AsyncIterator[None]:
        app.state.answer_settings = answer_settings_from(settings)
        # Answering is GIL-bound Python: more threads than cores only queue for the GIL and starve the event loop.
        # Answers and searches run in the answering pool; the rest of the thread work (opening and reloading
        # the index, uploads) goes through anyio, held to the same number.
        use_answer_threads(settings.answer_threads)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.answer_threads
        threads = settings.threads or encoder_threads(settings.backend, settings.workers or 1, available_cores())
        opened = await anyio.to_thread.run_sync(Retriever.open, settings.index, settings.model, settings.backend, threads)
        # The answer rankers load (and compile their trees) now rather than on the first question.
        await anyio.to_thread.run_sync(shipped_models, opened.encoder.model_name)
        await anyio.to_thread.run_sync(shipped_models, opened.encoder.model_name, True)
        batcher = question_encoder(opened.encoder, settings.max_batch, settings.batch_wait_ms, observe=metrics.record_batch)
        app.state.retriever = Retriever(opened.index, opened.encoder, batcher.encode)
        app.state.index_root = settings.index
        app.state.admin_enabled = settings.api_key is not None
        app.state.reload_lock = anyio.Lock()
        app.state.build_lock = anyio.Lock()
        corpus = settings.corpus
        app.state.library = Library(corpus, settings.index, opened.encoder, settings.max_upload_bytes) if corpus else None
        async with anyio.create_task_group() as tasks:
            if settings.reload_poll_seconds > 0:
                tasks.start_soon(follow_published, app.state, settings.reload_poll_seconds)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                batcher.close()

    mcp = ReportServer(Served(lambda: app.state.retriever, lambda: app.state.answer_settings), settings.log_level.upper())
    app = Litestar(
        route_handlers=[
            ask, search, documents, document, health, ready, reload_index, list_models, retrieve_model, chat_completions,
            metrics_endpoint, mcp_mount(http_app(mcp, settings.host)), *document_routes(settings.max_upload_bytes), *page_routes(),
        ],
        lifespan=[load_index, operator_lifespan(settings, mcp)],
        # No key, no guard: Litestar copies the route handler for every guard call on every request.
        guards=[api_key_guard(settings.api_key)] if settings.api_key is not None else [],
        cors_config=cors_config(settings),
        middleware=[limit.middleware] if (limit := rate_limit_config(settings)) else [],
        request_max_body_size=settings.max_body_bytes,
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=logging_config(settings.log_level),
    )
    # Litestar resets its own logger to INFO (DEBUG in debug mode) while it configures logging.
    app.logger.setLevel(settings.log_level.upper())
    # Outermost, around Litestar's own error handling and CORS: unknown paths and refusals get an id and a line too.
    log = RequestLog(settings.log_level, settings.log_questions)
    app.asgi_handler = RequestObserver(app.asgi_handler, log, lambda: served_version(app.state))
    return app


def logging_config(log_level: str) -> LoggingConfig:
    """Litestar's logging at the server's --log-level: its default root logger at INFO let libraries
    (the MCP session manager) print INFO lines. Request lines have a logger of their own, so at the
    default (info) libraries still say only warnings; debug lets everything through."""
    level = "WARNING" if log_level == "info" else log_level.upper()
    return LoggingConfig(root={"handlers": ["queue_listener"], "level": level})


def mcp_mount(endpoint: ASGIApp) -> ASGIRouteHandler:
    """The MCP server's streamable HTTP app at /mcp, behind the same API key as everything else."""

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(scope, receive, send)

    return mcp


def operator_lifespan(settings: Settings, mcp: ReportServer) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """While the app runs (after the index loads): the MCP session manager, and /metrics on its own port if asked."""

    @asynccontextmanager
    async def operate(app: Litestar) -> AsyncIterator[None]:
        app.state.scrape_registry = registry = metrics.scrape_registry(lambda: app.state.retriever.index)
        scraper = metrics.start_metrics_server(settings.host, settings.metrics_port, registry) if settings.metrics_port else None
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            if scraper is not None:
                scraper.shutdown()
                scraper.server_close()

    return operate


def served_version(state: State) -> str | None:
    """The index version being served, once loaded."""
    retriever = getattr(state, "retriever", None)
    return retriever.index.manifest.version if retriever is not None else None


def app_from_env() -> Litestar:
    """The app for server workers, configured by IQA_* variables (uvicorn --factory)."""
    # uvicorn's workers outlive a supervisor killed with SIGKILL unless told to follow it.
    die_with_supervisor()
    return create_app(Settings.from_env())
