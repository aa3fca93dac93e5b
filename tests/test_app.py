"""The real Litestar app over the real index: answers, schema, and 400s for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

VETTING = "What did the inspector say about vetting?"


def test_ask_returns_the_inspectors_words_with_offsets(client: TestClient, seed_text: str) -> None:
    response = client.post("/ask", json={"question": VETTING, "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"answer", "abstained", "verdict", "confidence", "coverage", "evidence", "passages", "took_ms", "quote"}
    # Covered (coverage at or above the shipped threshold), and "answer" exactly when the answer probability
    # reaches its threshold (both probabilities fit on SQuAD's choosing half).
    from indexer.encoding.embedding import DEFAULT_MODEL
    from service.core.answer import shipped_models

    models = shipped_models(DEFAULT_MODEL)[1]
    assert body["abstained"] is False and models.coverage.threshold <= body["coverage"] <= 1.0
    assert body["verdict"] == ("answer" if body["confidence"] >= models.answer.threshold else "uncertain")
    first = body["evidence"][0]
    assert "improve its vetting" in first["text"]
    assert seed_text[first["start"] : first["end"]] == first["text"]
    assert first["doc_id"] == "hmic-met-peel-2017.txt"
    assert first["title"].startswith("HMIC concerned")
    # The quoted passage opens with the first evidence, exact text of the statement; here that sentence alone.
    quote = body["quote"]
    assert (quote["key_start"], quote["key_end"]) == (quote["start"], first["end"]) == (first["start"], first["end"])
    assert seed_text[quote["start"] : quote["end"]] == quote["text"] == first["text"]
    assert len(body["passages"]) == 3
    for passage in body["passages"]:
        assert seed_text[passage["start"] : passage["end"]] == passage["text"]
        assert {"chunk_id", "doc_id", "title", "text", "start", "end", "score", "pages", "section"} == set(passage)
        assert passage["pages"] == [] and passage["section"] == []  # plain text has neither


def test_ask_abstains_plainly(client: TestClient) -> None:
    body = client.post("/ask", json={"question": "What is a good recipe for chocolate cake?"}).json()
    assert body["verdict"] == "none" and body["abstained"] is True
    assert body["answer"].startswith("No answer")
    assert body["evidence"] == []


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_ask_and_search_accept_a_mode(client: TestClient, mode: str) -> None:
    assert client.post("/ask", json={"question": VETTING, "mode": mode}).status_code == 200
    passages = client.get("/search", params={"q": "vetting national policy", "k": 2, "mode": mode}).json()
    assert len(passages) == 2 and "vetting" in passages[0]["text"]


def test_search_returns_k_passages(client: TestClient) -> None:
    response = client.get("/search", params={"q": "child protection", "k": 4})
    assert response.status_code == 200
    passages = response.json()
    assert len(passages) == 4
    assert "child protection" in passages[0]["text"]


def test_health_ready_and_schema(client: TestClient, index_dir: Any) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["documents"] == 1 and ready["chunks"] > 0
    assert ready["version"] and ready["model"].endswith("all-MiniLM-L6-v2")
    schema = client.get("/schema/openapi.json").json()
    assert {"/ask", "/search", "/health", "/ready"} <= set(schema["paths"])
    assert "AskRequest" in schema["components"]["schemas"]
    assert "Answer" in schema["components"]["schemas"]


BAD_ASK_BODIES = [
    ({}, "question"),
    ({"question": ""}, "question"),
    ({"question": "   \t\n"}, "question"),
    ({"question": "x" * 2001}, "question"),
    ({"question": 42}, "question"),
    ({"question": None}, "question"),
    ({"question": VETTING, "k": 0}, "k"),
    ({"question": VETTING, "k": 51}, "k"),
    ({"question": VETTING, "k": "many"}, "k"),
    ({"question": VETTING, "k": 2.5}, "k"),
    ({"question": VETTING, "k": True}, "k"),
    ({"question": VETTING, "mode": "semantic"}, "mode"),
    ({"question": VETTING, "colour": "blue"}, "colour"),
    ([VETTING], "body"),
    ("just a string", "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ASK_BODIES)
def test_bad_ask_bodies_get_400_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    "raw", [b"", b"{not json", b'{"question": "vetting"', b'{"question":"\xff\xfe"}', b"null", b"\x00\x01"]
)
def test_malformed_bodies_get_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/ask", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "  "}, "question"), ({"q": "x" * 2001}, "q"), ({"q": "a", "k": 0}, "k"), ({"q": "a", "k": 99}, "k"), ({"q": "a", "k": "ten"}, "k"), ({"q": "a", "mode": "x"}, "mode")],
)
def test_bad_search_params_get_400(client: TestClient, params: dict, field: str) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def test_wrong_method_and_path_are_4xx(client: TestClient) -> None:
    assert client.get("/ask").status_code == 405
    assert client.get("/nowhere").status_code == 404
