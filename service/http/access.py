"""Who may call the API: an optional bearer API key and configurable CORS origins."""

from __future__ import annotations

import hmac

from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import Guard

from service.settings import Settings


def api_key_guard(api_key: str | None) -> Guard:
    """A guard requiring `Authorization: Bearer <api_key>` on every handler not marked public."""

    # A coroutine: Litestar would run a plain function guard in a worker thread, a thread hop on
    # every request (measured: 230 instead of 255 answers/s at concurrency 32).
    async def require_api_key(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        if api_key is None or handler.opt.get("public"):
            return
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("missing API key: send the header 'Authorization: Bearer <key>'", headers=CHALLENGE)
        # Constant-time comparison, so response timing does not leak the key.
        if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise NotAuthorizedException("incorrect API key", headers=CHALLENGE)

    return require_api_key


CHALLENGE = {"WWW-Authenticate": "Bearer"}


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for the configured origins only; off when none are configured."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
    )


def rate_limit_config(settings: Settings) -> RateLimitConfig | None:
    """Per-client (remote address) request limit, sparing /health; off when set to 0."""
    if settings.rate_limit_per_minute <= 0:
        return None
    return RateLimitConfig(rate_limit=("minute", settings.rate_limit_per_minute), exclude=["/health"])
