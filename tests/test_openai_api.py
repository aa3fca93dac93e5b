"""The OpenAI-compatible endpoints on the real app: shapes, every standard field, streaming, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from indexer.chunking import count_tokens

VETTING = "What did the inspector say about vetting?"
CAKE = "What is a good recipe for chocolate cake?"
COMPLETIONS = "/v1/chat/completions"


def ask(client: TestClient, question: str = VETTING, **fields: Any) -> dict[str, Any]:
    response = client.post(COMPLETIONS, json={"model": "inspection-qa", "messages": [{"role": "user", "content": question}], **fields})
    assert response.status_code == 200, response.text
    return response.json()


def stream_events(client: TestClient, body: dict[str, Any]) -> list[Any]:
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[len("data: "):] for line in response.text.splitlines() if line.startswith("data: ")]
    return [json.loads(item) if item != "[DONE]" else item for item in data]


def test_models_lists_the_service(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == ["inspection-qa"]
    assert client.get("/v1/models/inspection-qa").json()["object"] == "model"


def test_completion_quotes_the_inspector_with_citations(client: TestClient, seed_text: str) -> None:
    body = ask(client)
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    assert "improve its vetting" in message["content"] and "[1]" in message["content"] and "Sources:" in message["content"]
    first = body["citations"][0]
    assert first["number"] == 1 and seed_text[first["start"] : first["end"]] == first["text"]
    assert first["text"] in message["content"]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_every_standard_field_is_accepted(client: TestClient) -> None:
    body = ask(
        client, temperature=0.2, top_p=0.9, n=1, stop=None, user="u-1", presence_penalty=0, frequency_penalty=0,
        logit_bias={"50256": -100}, logprobs=False, top_logprobs=None, seed=7, max_tokens=None, max_completion_tokens=None,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], tool_choice="auto",
        parallel_tool_calls=True, response_format={"type": "text"}, stream=False, stream_options=None, metadata={"a": "b"},
        store=False, service_tier="auto", reasoning_effort="low", modalities=["text"], prediction=None, audio=None,
        web_search_options={}, some_future_field={"x": 1},
    )
    assert "improve its vetting" in body["choices"][0]["message"]["content"]


def test_content_parts_and_other_roles_are_read(client: TestClient) -> None:
    messages = [
        {"role": "developer", "content": "Answer from the reports."},
        {"role": "user", "content": [{"type": "text", "text": "Are there enough trained detectives?"}, {"type": "image_url", "image_url": {"url": "data:,"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "{}"},
    ]
    body = client.post(COMPLETIONS, json={"model": "gpt-4o", "messages": messages}).json()
    assert "shortage of trained detectives" in body["choices"][0]["message"]["content"]


def test_max_tokens_trims_the_answer(client: TestClient) -> None:
    choice = ask(client, max_tokens=5)["choices"][0]
    assert choice["finish_reason"] == "length"
    assert count_tokens(choice["message"]["content"]) == 5


def test_stop_and_n_apply(client: TestClient) -> None:
    body = ask(client, stop=["Sources:"], n=2)
    assert [choice["index"] for choice in body["choices"]] == [0, 1]
    assert all("Sources:" not in choice["message"]["content"] for choice in body["choices"])


def test_abstention_reads_naturally(client: TestClient) -> None:
    body = ask(client, CAKE)
    assert body["abstained"] is True and body["citations"] == []
    assert body["choices"][0]["message"]["content"].startswith("I couldn't find an answer to that in the indexed inspection reports")


def test_a_conversation_without_a_question_gets_a_prompt_not_an_error(client: TestClient) -> None:
    response = client.post(COMPLETIONS, json={"model": "inspection-qa", "messages": [{"role": "system", "content": "Be brief."}]})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].startswith("Ask me a question")


def test_stream_follows_the_openai_chunk_format(client: TestClient) -> None:
    body = {"model": "inspection-qa", "messages": [{"role": "user", "content": VETTING}], "stream": True, "stream_options": {"include_usage": True}}
    events = stream_events(client, body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1] if c["choices"])
    assert content == ask(client)["choices"][0]["message"]["content"]
    finish = chunks[-2]
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["citations"][0]["number"] == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == count_tokens(content)
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(client: TestClient) -> None:
    events = stream_events(client, {"messages": [{"role": "user", "content": VETTING}], "stream": True})
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in event for event in events[:-1])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hello"}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": "two"}, "n"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
    ],
)
def test_bad_requests_get_openai_shaped_400s(client: TestClient, body: dict[str, Any], param: str) -> None:
    response = client.post(COMPLETIONS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert param.split("[")[0] in error["message"]


def test_malformed_json_and_unknown_paths_get_openai_shaped_errors(client: TestClient) -> None:
    response = client.post(COMPLETIONS, content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = client.get("/v1/embeddings")
    assert response.status_code == 404 and "/v1/chat/completions" in response.json()["error"]["message"]
    response = client.get("/v1/models/gpt-4o")
    assert response.status_code == 404 and "inspection-qa" in response.json()["error"]["message"]
