"""Streamed answers on the native API: evidence first, then the answer text, then timings."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

VETTING = "What did the inspector say about vetting?"


def events(client: TestClient, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    response = client.post("/ask", json={**body, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    found, name = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            found.append((name, json.loads(line[len("data: "):])))
    return found


def test_stream_sends_evidence_then_the_answer_then_timings(client: TestClient, seed_text: str) -> None:
    streamed = events(client, {"question": VETTING, "k": 3})
    names = [name for name, _ in streamed]
    assert names[0] == "evidence" and names[-1] == "done"
    assert set(names[1:-1]) == {"answer"}
    evidence = streamed[0][1]
    first = evidence["evidence"][0]
    assert "improve its vetting" in first["text"] and seed_text[first["start"] : first["end"]] == first["text"]
    assert len(evidence["passages"]) == 3 and evidence["abstained"] is False
    text = "".join(data["delta"] for name, data in streamed if name == "answer")
    assert text == client.post("/ask", json={"question": VETTING, "k": 3}).json()["answer"]
    done = streamed[-1][1]
    assert 0 < done["evidence_ms"] <= done["took_ms"]


def test_stream_abstains_with_no_evidence(client: TestClient) -> None:
    streamed = events(client, {"question": "What is a good recipe for chocolate cake?"})
    assert streamed[0][1]["abstained"] is True and streamed[0][1]["evidence"] == []
    assert "".join(data["delta"] for name, data in streamed if name == "answer").startswith("No answer")


def test_stream_validates_like_ask(client: TestClient) -> None:
    response = client.post("/ask", json={"question": "", "stream": True})
    assert response.status_code == 400 and response.json()["field"] == "question"
    response = client.post("/ask", json={"question": VETTING, "stream": "yes"})
    assert response.status_code == 400 and response.json()["field"] == "stream"
