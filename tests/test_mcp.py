"""The MCP server through the official SDK's own client, over stdio and over streamable HTTP at /mcp."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from eval.perf.bench import start_server
from indexer.encoding.embedding import Encoder
from tests.conftest import ROOT, SEED_DOC

VETTING = "What did the inspector say about vetting?"
KEY = "mcp-key-7"


async def exercise(client: Client, seed_text: str) -> None:
    """What an assistant does: list the tools, ask, get refused for bad arguments, carry on, read a document."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ask", "search", "list_documents", "get_document"}
    ask_schema = tools["ask"].input_schema
    assert ask_schema["required"] == ["question"] and ask_schema["properties"]["k"]["maximum"] == 50
    assert "filters" in ask_schema["properties"] and tools["ask"].description

    result = await client.call_tool("ask", {"question": VETTING, "k": 3})
    assert not result.is_error and result.structured_content["abstained"] is False
    best = result.structured_content["evidence"][0]
    assert best["number"] == 1 and best["doc_id"] == SEED_DOC and "improve its vetting" in best["text"]
    assert seed_text[best["start"] : best["end"]] == best["text"]

    for arguments, named in (({"question": VETTING, "k": 0}, "k"), ({}, "question"), ({"question": "   "}, "question"),
                             ({"question": VETTING, "filters": {"date_from": "soon"}}, "date_from")):
        refused = await client.call_tool("ask", arguments)
        assert refused.is_error and named in refused.content[0].text
    missing = await client.call_tool("get_document", {"doc_id": "no-such-report.txt"})
    assert missing.is_error and "no-such-report.txt" in missing.content[0].text

    page = await client.call_tool("list_documents", {"limit": 10})
    assert page.structured_content["total"] == 1
    passages = (await client.call_tool("search", {"query": "trained detectives", "k": 2})).structured_content["passages"]
    assert len(passages) == 2 and "detectives" in passages[0]["text"]
    [resource] = (await client.list_resources()).resources
    assert str(resource.uri) == f"document://{SEED_DOC}"
    assert (await client.read_resource(resource.uri)).contents[0].text == seed_text


def test_stdio_server_answers_through_the_sdk_client(index_dir: Path, seed_text: str) -> None:
    command = StdioServerParameters(command=sys.executable, args=["-m", "service", "mcp", "--index", str(index_dir)], cwd=str(ROOT))

    async def run() -> None:
        async with Client(command) as client:
            await exercise(client, seed_text)

    asyncio.run(run())


def test_http_server_at_mcp_answers_with_the_api_key(index_dir: Path, encoder: Encoder, seed_text: str) -> None:
    process, base = start_server(index_dir, encoder.model_name, env={"IQA_API_KEY": KEY})

    async def run() -> None:
        authorised = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        async with Client(streamable_http_client(f"{base}/mcp", http_client=authorised)) as client:
            await exercise(client, seed_text)

    try:
        asyncio.run(run())
        refused = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
        assert refused.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=20)
