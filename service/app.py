"""The Litestar app: a few thin handlers over the retrieval core."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Literal

import anyio
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import JSONBody, QueryParameter

from service.answer import AnswerSettings, answer_question
from service.confidence import load_calibration
from service.errors import InvalidRequest
from service.retrieval import MAX_K, MAX_QUESTION_CHARS, RetrievalSettings, Retriever
from service.settings import Settings
from service.types import Answer, Passage


FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")


class AskRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A question for /ask."""

    question: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words.")]
    k: Annotated[int, msgspec.Meta(ge=1, le=MAX_K, description="Passages to retrieve.")] = 5
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"


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


@post("/ask", status_code=200, sync_to_thread=True)
def ask(data: JSONBody[AskRequest], state: State) -> Answer:
    """Answer a question with the source sentences that answer it, or abstain."""
    settings = replace(state.answer_settings, retrieval=RetrievalSettings(mode=data.mode))
    return answer_question(state.retriever, data.question, data.k, settings)


@get("/search", sync_to_thread=True)
def search(
    state: State,
    q: Annotated[str, QueryParameter(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question or keywords.")],
    k: Annotated[int, QueryParameter(ge=1, le=MAX_K, description="Passages to return.")] = 5,
    mode: Annotated[Literal["dense", "lexical", "hybrid"], QueryParameter(description="Retrievers to use.")] = "hybrid",
) -> list[Passage]:
    """The k passages that best match the query."""
    return state.retriever.search(q, k, RetrievalSettings(mode=mode))


@get("/health")
async def health() -> Health:
    """The process is up."""
    return Health("ok")


@get("/ready")
async def ready(state: State) -> Ready:
    """The index and model are loaded."""
    index = state.retriever.index
    manifest = index.manifest
    return Ready("ready", manifest.version, manifest.model, len(index.documents), len(index.chunks), len(index.sentences))


def bad_request(field: str | None, message: str) -> Response:
    """A 400 whose detail says what is wrong and with which field."""
    detail = f"{field}: {message}" if field else message
    return Response({"status_code": 400, "detail": detail, "field": field}, status_code=400, media_type=MediaType.JSON)


def on_invalid_request(_: Request, error: InvalidRequest) -> Response:
    """Core validation errors become 400s naming the field."""
    return bad_request(error.field, error.message)


def on_validation_error(_: Request, error: ValidationException) -> Response:
    """Litestar's validation errors, reworded to name the field plainly."""
    problems = error.extra if isinstance(error.extra, list) and error.extra else []
    if not problems:
        return bad_request(None, error.detail)
    first = problems[0]
    key, message = first.get("key"), str(first.get("message", ""))
    if key == "data" and message in ("'data'", ""):
        return bad_request("body", "request body must be a JSON object with a 'question' field")
    if key == "data":
        # msgspec names whole-object problems in the message: "missing required field `question`".
        named = FIELD_IN_MESSAGE.search(message)
        key = named.group(1) if named else "body"
    return bad_request(key, message)


def on_undecodable_body(_: Request, error: UnicodeDecodeError) -> Response:
    """Litestar lets invalid UTF-8 in a JSON body escape as UnicodeDecodeError."""
    return bad_request("body", f"request body is not valid UTF-8 (byte {error.start})")


def on_http_error(_: Request, error: HTTPException) -> Response:
    """Other HTTP errors keep their status, with the same body shape."""
    return Response({"status_code": error.status_code, "detail": error.detail}, status_code=error.status_code, media_type=MediaType.JSON)


def create_app(settings: Settings) -> Litestar:
    """Build the app; the model and index load once, at start-up."""

    @asynccontextmanager
    async def load_index(app: Litestar) -> AsyncIterator[None]:
        calibration = load_calibration(settings.calibration)
        app.state.answer_settings = AnswerSettings(calibration=calibration, abstain_below=settings.abstain_below)
        app.state.retriever = await anyio.to_thread.run_sync(Retriever.open, settings.index, settings.model)
        yield

    return Litestar(
        route_handlers=[ask, search, health, ready],
        lifespan=[load_index],
        exception_handlers={
            InvalidRequest: on_invalid_request,
            ValidationException: on_validation_error,
            HTTPException: on_http_error,
            UnicodeDecodeError: on_undecodable_body,
        },
    )
