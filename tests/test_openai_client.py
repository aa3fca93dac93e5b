"""The official openai SDK as the client of a real server process on 127.0.0.1, with an API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from eval.perf.bench import start_server
from indexer.encoding.embedding import Encoder

KEY = "sdk-test-key"
VETTING = "What did the inspector say about vetting?"


@pytest.fixture(scope="module")
def base_url(index_dir: Path, encoder: Encoder) -> Iterator[str]:
    process, base = start_server(index_dir, encoder.model_name, env={"IQA_API_KEY": KEY})
    try:
        yield f"{base}/v1"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=30)


def test_sdk_lists_the_model(sdk: openai.OpenAI) -> None:
    assert [model.id for model in sdk.models.list()] == ["inspection-qa"]


def test_sdk_gets_a_cited_answer(sdk: openai.OpenAI, seed_text: str) -> None:
    completion = sdk.chat.completions.create(
        model="inspection-qa", messages=[{"role": "user", "content": VETTING}], temperature=0.3, max_tokens=400, user="test"
    )
    content = completion.choices[0].message.content or ""
    assert "improve its vetting" in content and "[1]" in content and "Sources:" in content
    citations = completion.model_extra["citations"]
    assert citations[0]["number"] == 1 and seed_text[citations[0]["start"] : citations[0]["end"]] == citations[0]["text"]
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_sdk_streams_the_same_answer(sdk: openai.OpenAI) -> None:
    plain = sdk.chat.completions.create(model="inspection-qa", messages=[{"role": "user", "content": VETTING}])
    stream = sdk.chat.completions.create(
        model="inspection-qa", messages=[{"role": "user", "content": VETTING}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    finish = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finish[0].choices[0].finish_reason == "stop"
    assert finish[0].model_extra["citations"] == plain.model_extra["citations"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_the_first_streamed_chunk_carries_the_role_and_no_text(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(model="inspection-qa", messages=[{"role": "user", "content": VETTING}], stream=True)
    first = next(iter(stream))
    # Sent before retrieval starts, so a frontend can open the reply bubble at once.
    assert first.choices[0].delta.role == "assistant" and not first.choices[0].delta.content
    stream.close()


def test_sdk_raises_its_own_errors(sdk: openai.OpenAI, base_url: str) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="inspection-qa", messages=[])
    assert bad.value.status_code == 400 and bad.value.body["param"] == "messages"
    with pytest.raises(openai.AuthenticationError) as denied:
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    assert denied.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")


def test_health_needs_no_key(base_url: str) -> None:
    assert httpx.get(base_url.removesuffix("/v1") + "/health", timeout=10).status_code == 200
