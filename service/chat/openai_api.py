"""OpenAI-compatible chat endpoints, so chat frontends and the openai SDK can ask the service."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import MediaType, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent

from service.core.answer import AnswerSettings, answer_question
from service.core.answer_pool import off_loop
from service.core.filters import Filters
from service.chat.replies import ChatReply, Citation, chat_reply, conversation_question, cut_at_stop, cut_at_tokens, no_question_reply, usage
from service.http.observe import answered
from service.http.request_log import note_question
from service.core.retrieval import MAX_QUESTION_CHARS, Retriever
from service.http.sse import event_stream

MODEL_ID = "inspection-qa"
CHAT_PASSAGES = 5
# Every other 4xx is an "invalid_request_error" in OpenAI's scheme.
ERROR_TYPES = {403: "permission_error", 429: "rate_limit_error"}


class ContentPart(msgspec.Struct):
    """One part of a message's content; only text parts are read, images and audio are ignored."""

    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct):
    """A conversation turn; tool calls, names and other fields are accepted and ignored."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(msgspec.Struct):
    """Streaming options; include_usage adds a final usage chunk."""

    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct):
    """The OpenAI request body. Fields not listed (tools, seed, logit_bias, ...) are accepted and ignored."""

    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1)]
    model: str | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = 1
    stop: str | list[str] | None = None
    # Sampling controls mean nothing to an extractive answer: accepted, ignored.
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    tools: list[Any] | None = None
    response_format: Any = None
    # This service's extra field (the SDK's extra_body): search only the matching documents.
    filters: Filters | None = None


class ErrorDetail(msgspec.Struct, frozen=True):
    """What went wrong, in OpenAI's words."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct, frozen=True):
    """The OpenAI error shape every /v1 error uses."""

    error: ErrorDetail


ERROR_RESPONSES = {
    status: ResponseSpec(ErrorBody, description=description)
    for status, description in ((400, "Bad request"), (401, "Missing or wrong API key"), (404, "Unknown path or model"), (413, "Body too large"), (429, "Too many requests"))
}


class Model(msgspec.Struct, frozen=True):
    """A model as /v1/models lists it."""

    id: str
    created: int
    object: str = "model"
    owned_by: str = "inspection-qa"


class ModelList(msgspec.Struct, frozen=True):
    """The /v1/models response."""

    data: list[Model]
    object: str = "list"


class ChatCompletion(msgspec.Struct, frozen=True):
    """A non-streamed chat completion; `citations`, `verdict` and `abstained` are this service's extra fields."""

    id: str
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int]
    citations: list[Citation]
    abstained: bool
    verdict: Literal["answer", "uncertain", "none"] = "none"
    object: str = "chat.completion"
    system_fingerprint: str | None = None


def message_text(message: ChatMessage) -> str:
    """A message's text, whether content is a string or a list of parts."""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content or [] if part.type == "text" and part.text)


def served_model(state: State) -> Model:
    """The one model this service offers: the index it serves."""
    return Model(MODEL_ID, int(datetime.fromisoformat(state.retriever.index.manifest.created_at).timestamp()))


@get("/v1/models", responses=ERROR_RESPONSES)
async def list_models(state: State) -> ModelList:
    """The service as an OpenAI model."""
    return ModelList([served_model(state)])


@get("/v1/models/{model_id:str}", responses=ERROR_RESPONSES)
async def retrieve_model(state: State, model_id: FromPath[str]) -> Model:
    """One model by id."""
    if model_id != MODEL_ID:
        raise NotFoundException(f"The model '{model_id}' does not exist; this service offers '{MODEL_ID}'.")
    return served_model(state)


def request_settings(state: State, request: ChatCompletionRequest) -> AnswerSettings:
    """The service's answer settings, narrowed by the request's filters."""
    if request.filters is None:
        return state.answer_settings
    return replace(state.answer_settings, retrieval=replace(state.answer_settings.retrieval, filters=request.filters))


async def reply_for(retriever: Retriever, turns: list[tuple[str, str]], settings: AnswerSettings) -> ChatReply:
    """The extractive answer to the conversation, as a chat reply."""
    question = conversation_question(turns)[-MAX_QUESTION_CHARS:]
    if not question:
        return no_question_reply()
    note_question(question, retriever.index.manifest.version)
    answer = await off_loop(answer_question, retriever, question, CHAT_PASSAGES, settings)
    answered(answer.verdict, answer.confidence)
    return chat_reply(answer)


def fit_request(reply: ChatReply, request: ChatCompletionRequest) -> ChatReply:
    """Apply stop sequences and the token limit the request asks for."""
    stop = [request.stop] if isinstance(request.stop, str) else request.stop or []
    return cut_at_tokens(cut_at_stop(reply, stop), request.max_completion_tokens or request.max_tokens)


@post(
    "/v1/chat/completions",
    status_code=200,
    responses={
        200: ResponseSpec(ChatCompletion, description="The completion; with \"stream\": true, OpenAI chunk events ending in [DONE]."),
        **ERROR_RESPONSES,
    },
)
async def chat_completions(data: JSONBody[ChatCompletionRequest], state: State) -> ChatCompletion | ServerSentEvent:
    """Answer the conversation's last question with quoted, cited sentences."""
    turns = [(m.role, message_text(m)) for m in data.messages]
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if data.stream:
        events = stream_chunks(state, data, turns, completion_id, created)
        return event_stream(events)
    reply = fit_request(await reply_for(state.retriever, turns, request_settings(state, data)), data)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": reply.content, "refusal": None}, "logprobs": None, "finish_reason": reply.finish_reason}
        for i in range(data.n or 1)
    ]
    return ChatCompletion(completion_id, created, MODEL_ID, choices, usage(turns, reply), list(reply.citations), reply.abstained, reply.verdict)


async def stream_chunks(
    state: State, request: ChatCompletionRequest, turns: list[tuple[str, str]], completion_id: str, created: int
) -> AsyncIterator[str]:
    """OpenAI chunk events: the role first (before any retrieval), content pieces, finish, usage, [DONE]."""
    include_usage = bool(request.stream_options and request.stream_options.include_usage)
    choices = range(request.n or 1)

    def chunk(deltas: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "system_fingerprint": None, "choices": deltas, **extra}
        if include_usage:
            body.setdefault("usage", None)
        return msgspec.json.encode(body).decode()

    yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None} for i in choices])
    reply = fit_request(await reply_for(state.retriever, turns, request_settings(state, request)), request)
    for piece in reply.pieces:
        yield chunk([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None} for i in choices])
    finish = [{"index": i, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason} for i in choices]
    yield chunk(finish, citations=list(reply.citations), abstained=reply.abstained, verdict=reply.verdict)
    if include_usage:
        yield chunk([], usage=usage(turns, reply))
    yield "[DONE]"


def openai_error(status_code: int, message: str, param: str | None = None, code: str | None = None) -> Response:
    """An error in the shape the OpenAI API and its SDKs expect."""
    error_type = "server_error" if status_code >= 500 else ERROR_TYPES.get(status_code, "invalid_request_error")
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return Response(body, status_code=status_code, media_type=MediaType.JSON)
