"""API key and CORS settings on the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.http.app import create_app
from service.settings import Settings

KEY = "test-key-123"
ORIGIN = "https://newsroom.example"


@pytest.fixture(scope="module")
def locked(index_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(index=index_dir, api_key=KEY, cors_origins=(ORIGIN,)))) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/ready", "/search?q=vetting", "/v1/models", "/documents/hmic-met-peel-2017.txt", "/schema/openapi.json", "/", "/static/app.js"])
def test_every_endpoint_but_health_needs_the_key(locked: TestClient, path: str) -> None:
    missing = locked.get(path)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert locked.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert locked.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_health_stays_open(locked: TestClient) -> None:
    assert locked.get("/health").status_code == 200


def test_key_errors_say_what_to_send(locked: TestClient) -> None:
    assert "Authorization: Bearer" in locked.post("/ask", json={"question": "vetting"}).json()["detail"]
    error = locked.post("/v1/chat/completions", json={"messages": []}, headers={"Authorization": "Bearer nope"}).json()["error"]
    assert error["code"] == "invalid_api_key"


def test_cors_allows_only_configured_origins(locked: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = locked.options("/ask", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert locked.options("/ask", headers={"Origin": "https://elsewhere.example", **preflight}).status_code == 400
    assert locked.get("/health", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == ORIGIN


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


def test_documents_endpoint_returns_metadata_and_text(client: TestClient, seed_text: str) -> None:
    body = client.get("/documents/hmic-met-peel-2017.txt").json()
    assert body["metadata"]["inspector"] == "Matt Parr" and body["metadata"]["force"] == "Metropolitan Police Service"
    assert body["text"] == seed_text and body["chunks"] > 0 and body["sentences"] > body["chunks"] // 2
    missing = client.get("/documents/no-such-report.txt")
    assert missing.status_code == 404 and "no-such-report.txt" in missing.json()["detail"]


def test_body_size_and_rate_limits_answer_413_and_429_with_what_to_do(index_dir: Path) -> None:
    settings = Settings(index=index_dir, max_body_bytes=2048, rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as limited:
        big = limited.post("/ask", content=b'{"question": "' + b"x" * 4096 + b'"}', headers={"content-type": "application/json"})
        assert big.status_code == 413 and "IQA_MAX_BODY_BYTES" in big.json()["detail"]
        statuses = [limited.get("/search", params={"q": "vetting"}).status_code for _ in range(4)]
        assert statuses[-1] == 429 and "RateLimit-Reset" in limited.get("/search", params={"q": "x"}).json()["detail"]
        assert limited.get("/health").status_code == 200  # never rate limited


def test_documents_are_listed_a_page_at_a_time(client: TestClient) -> None:
    page = client.get("/documents").json()
    assert page["total"] == 1 and page["offset"] == 0 and page["limit"] == 50
    [seed] = page["documents"]
    assert seed["doc_id"] == "hmic-met-peel-2017.txt" and seed["metadata"]["year"] == 2017 and seed["chunks"] > 0
    assert "text" not in seed
    assert client.get("/documents", params={"offset": 1}).json()["documents"] == []
    bad = client.get("/documents", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["field"] == "limit"
