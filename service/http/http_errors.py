"""One exception-handler map: every error becomes a clear 4xx body, in OpenAI's shape under /v1."""

from __future__ import annotations

import re
from http import HTTPStatus

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from service.core.errors import InvalidRequest, UnknownDocument
from service.chat.openai_api import openai_error

FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")


def is_openai_path(request: Request) -> bool:
    """Requests to the OpenAI-compatible API get OpenAI-shaped errors."""
    return request.url.path.startswith("/v1/")


def bad_request(request: Request, field: str | None, message: str) -> Response:
    """A 400 whose detail says what is wrong and with which field."""
    if is_openai_path(request):
        return openai_error(400, f"{field}: {message}" if field else message, param=field)
    detail = f"{field}: {message}" if field else message
    return Response({"status_code": 400, "detail": detail, "field": field}, status_code=400, media_type=MediaType.JSON)


def on_invalid_request(request: Request, error: InvalidRequest) -> Response:
    """Core validation errors become 400s naming the field."""
    return bad_request(request, error.field, error.message)


def on_validation_error(request: Request, error: ValidationException) -> Response:
    """Litestar's validation errors, reworded to name the field plainly."""
    problems = error.extra if isinstance(error.extra, list) and error.extra else []
    if not problems:
        return bad_request(request, None, error.detail)
    first = problems[0]
    key, message = first.get("key"), str(first.get("message", ""))
    if key == "data" and message in ("'data'", ""):
        required = "messages" if is_openai_path(request) else "question"
        return bad_request(request, "body", f"request body must be a JSON object with a '{required}' field")
    if key == "data":
        # msgspec names whole-object problems in the message: "missing required field `question`".
        named = FIELD_IN_MESSAGE.search(message)
        key = named.group(1) if named else "body"
    return bad_request(request, key, message)


def on_undecodable_body(request: Request, error: UnicodeDecodeError) -> Response:
    """Litestar lets invalid UTF-8 in a JSON body escape as UnicodeDecodeError."""
    return bad_request(request, "body", f"request body is not valid UTF-8 (byte {error.start})")


def on_unknown_document(request: Request, error: UnknownDocument) -> Response:
    """A document id the index does not hold is a 404 naming it."""
    return on_http_error(request, NotFoundException(str(error)))


def on_http_error(request: Request, error: HTTPException) -> Response:
    """Other HTTP errors keep their status and headers, with the same body shape."""
    detail = error.detail
    if detail == "Invalid multipart/form-data":
        detail = f"{detail}: send the document as multipart/form-data with a 'file' part (and optional title, force, date, …)"
    elif detail == HTTPStatus(error.status_code).phrase:
        detail = UPLOAD_TOO_LARGE if error.status_code == 413 and request.url.path == "/documents" else STATUS_HINTS.get(error.status_code, detail)
    if is_openai_path(request):
        if error.status_code == 404 and detail == "Not Found":
            detail = f"Unknown path {request.url.path}: this service offers GET /v1/models and POST /v1/chat/completions."
        response = openai_error(error.status_code, detail, code=OPENAI_CODES.get(error.status_code))
    else:
        body = {"status_code": error.status_code, "detail": detail}
        response = Response(body, status_code=error.status_code, media_type=MediaType.JSON)
    response.headers.update(error.headers or {})
    return response


OPENAI_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}
UPLOAD_TOO_LARGE = "upload too large: this service accepts documents up to IQA_MAX_UPLOAD_BYTES bytes (20 MiB unless configured)"
# Litestar's own texts for these ("Request Entity Too Large") do not say what to do.
STATUS_HINTS = {
    413: "request body too large: this service accepts bodies up to IQA_MAX_BODY_BYTES bytes (1 MiB unless configured)",
    429: "too many requests from this address: wait for the number of seconds in the RateLimit-Reset header, then retry",
}

EXCEPTION_HANDLERS = {
    InvalidRequest: on_invalid_request,
    ValidationException: on_validation_error,
    UnknownDocument: on_unknown_document,
    HTTPException: on_http_error,
    UnicodeDecodeError: on_undecodable_body,
}
