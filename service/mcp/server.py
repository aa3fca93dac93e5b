"""The service as a Model Context Protocol server: tools to ask, search and read the reports, and the
documents as resources, over stdio (desktop assistants) or mounted on the HTTP app at /mcp."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import Resource
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp

from indexer.storage.publish import PublishError, version_dir
from indexer.storage.store import IndexStoreError
from service.core.answer import AnswerSettings, answer_question
from service.core.answer_pool import answer_pool, use_answer_threads
from service.core.documents import document_info, list_documents
from service.core.errors import InvalidRequest, UnknownDocument
from service.core.filters import MAX_VALUES, Filters
from service.core.retrieval import MAX_K, MAX_QUESTION_CHARS, RetrievalSettings, Retriever, reopened
from service.core.types import Answer, Evidence
from service.http import metrics
from service.settings import Settings, answer_settings_from

log = logging.getLogger(__name__)

NAME = "inspection-qa"
INSTRUCTIONS = (
    "Answers questions about police inspection reports with the inspectors' own sentences. Call `ask` with a "
    "question; quote its evidence and cite doc_id with start/end (character offsets into the document). When "
    "`abstained` is true the reports do not answer the question: say so rather than guessing."
)
URI_PREFIX = "document://"
# resources/list shows this many documents; `list_documents` pages through any number.
RESOURCE_LIST_MAX = 1000
MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1

Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words.")]
K = Annotated[int, Field(ge=1, le=MAX_K, description="Passages to retrieve and draw evidence from.")]
Mode = Annotated[Literal["dense", "lexical", "hybrid"], Field(description="Retrievers: embeddings, BM25 or both fused.")]


class FilterArguments(BaseModel):
    """Only documents matching every given field are searched; a list matches any of its values."""

    model_config = ConfigDict(extra="forbid")

    force: list[str] | None = Field(None, max_length=MAX_VALUES, description="Force names, e.g. 'Metropolitan Police Service'.")
    report_type: list[str] | None = Field(None, max_length=MAX_VALUES, description="Report types, e.g. 'PEEL inspection statement'.")
    date_from: str | None = Field(None, description="Documents dated on or after 2017, 2017-03 or 2017-03-22.")
    date_to: str | None = Field(None, description="Documents dated on or before 2017, 2017-03 or 2017-03-22.")
    doc_ids: list[str] | None = Field(None, max_length=MAX_VALUES, description="Document ids (paths relative to the corpus).")


@dataclass(frozen=True)
class Served:
    """Where the tools find the served index (it may be reloaded) and the answer settings."""

    retriever: Callable[[], Retriever]
    answer_settings: Callable[[], AnswerSettings]


def document_uri(doc_id: str) -> str:
    """A document's resource URI; ids are paths, so their slashes are escaped."""
    return URI_PREFIX + quote(doc_id, safe="")


def retrieval_settings(mode: str, filters: FilterArguments | None) -> RetrievalSettings:
    """Mode and filters as the core takes them; a tool error for dates that do not parse."""
    try:
        return RetrievalSettings(mode=mode, filters=Filters(**filters.model_dump(exclude_none=True)) if filters else None)
    except InvalidRequest as error:
        raise ToolError(str(error)) from error


def cited(number: int, evidence: Evidence) -> dict[str, Any]:
    """One evidence sentence with its citation: document, offsets, pages, section and resource URI."""
    return {"number": number, **msgspec.to_builtins(evidence), "uri": document_uri(evidence.doc_id)}


def ask_result(answer: Answer, version: str) -> dict[str, Any]:
    """What `ask` returns: the answer, its verdict and the two probabilities behind it, and numbered evidence."""
    result = {
        "answer": answer.answer,
        "verdict": answer.verdict,
        "abstained": answer.abstained,
        "confidence": answer.confidence,
        "coverage": answer.coverage,
        "evidence": [cited(number, evidence) for number, evidence in enumerate(answer.evidence, start=1)],
        "index_version": version,
    }
    return result | ({"notice": answer.notice} if answer.notice else {})


async def off_loop(function: Callable[..., Any], *arguments: Any) -> Any:
    """Run core work in a worker thread; its domain errors become tool errors the assistant can read."""
    try:
        return await answer_pool().run(function, *arguments)
    except (InvalidRequest, UnknownDocument) as error:
        raise ToolError(str(error)) from error


class ReportServer(MCPServer):
    """The MCP server: four tools, and the served documents as document://{doc_id} resources."""

    def __init__(self, served: Served, log_level: str = "WARNING") -> None:
        super().__init__(NAME, instructions=INSTRUCTIONS, log_level=log_level)  # type: ignore[arg-type]
        self.served = served
        for tool in (self.ask, self.search, self.list_documents, self.get_document):
            self.add_tool(tool)
        self.resource(URI_PREFIX + "{doc_id}", name="document", mime_type="text/plain")(self.document)

    async def ask(self, question: Question, k: K = 5, filters: FilterArguments | None = None) -> dict[str, Any]:
        """Answer a question from the inspection reports with quoted sentences and their citations (doc_id,
        start and end character offsets). `verdict` is "answer" when the first quote answers the question,
        "uncertain" when it is only the closest passage, "none" when the reports do not cover the question."""
        retriever = self.served.retriever()
        settings = replace(self.served.answer_settings(), retrieval=retrieval_settings("hybrid", filters))
        answer = await off_loop(answer_question, retriever, question, k, settings)
        metrics.record_answer(answer.verdict, answer.confidence)
        return ask_result(answer, retriever.index.manifest.version)

    async def search(self, query: Question, k: K = 5, mode: Mode = "hybrid", filters: FilterArguments | None = None) -> dict[str, Any]:
        """The k passages that best match the query, with their documents and character offsets."""
        retriever = self.served.retriever()
        passages = await off_loop(retriever.search, query, k, retrieval_settings(mode, filters))
        return {"passages": msgspec.to_builtins(passages), "index_version": retriever.index.manifest.version}

    async def list_documents(
        self,
        offset: Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Documents to skip.")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Documents per page.")] = 50,
    ) -> dict[str, Any]:
        """The served documents with their metadata and chunk and sentence counts, a page at a time."""
        return msgspec.to_builtins(list_documents(self.served.retriever().index, offset, limit))

    async def get_document(self, doc_id: Annotated[str, Field(min_length=1, description="Document id, as list_documents gives it.")]) -> dict[str, Any]:
        """One document: title, metadata, counts and the full text that evidence offsets index."""
        return msgspec.to_builtins(await off_loop(document_info, self.served.retriever().index, doc_id))

    def document(self, doc_id: str) -> str:
        """A served document's text; evidence start and end offsets index it."""
        document = self.served.retriever().index.documents.get(doc_id)
        if document is None:
            raise ResourceError(str(UnknownDocument(doc_id)))
        return document.text

    async def list_resources(self) -> list[Resource]:
        """The registered resources, then the served documents (the first RESOURCE_LIST_MAX)."""
        index = self.served.retriever().index
        listed = [
            Resource(uri=document_uri(doc_id), name=doc_id, title=index.documents[doc_id].title, mime_type="text/plain")
            for doc_id in index.records.doc_ids(0, RESOURCE_LIST_MAX)
        ]
        return await super().list_resources() + listed


def http_app(server: ReportServer, host: str) -> ASGIApp:
    """Streamable HTTP at the mount point; stateless JSON replies, so any worker can answer any request.
    The caller runs server.session_manager.run() for the app's lifetime."""
    return server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True, host=host)


class Follower:
    """The retriever over the published version, reopened when a build or rollback publishes another."""

    def __init__(self, retriever: Retriever, root: Path) -> None:
        self.retriever = retriever
        self.root = root
        self.failed: Path | None = None

    def current(self) -> Retriever:
        """The retriever to use now (one read of the CURRENT pointer when nothing changed); a version that
        fails to load is not tried again and the old one keeps serving, as in the HTTP service."""
        try:
            published = version_dir(self.root)
        except PublishError:
            return self.retriever
        if published in (self.retriever.index.path, self.failed):
            return self.retriever
        try:
            self.retriever = reopened(self.retriever, self.root) or self.retriever
        except (IndexStoreError, PublishError) as error:
            self.failed = published
            log.warning("kept serving %s: %s", self.retriever.index.manifest.version, error)
        return self.retriever


def run_stdio(settings: Settings) -> None:
    """Serve MCP on stdin and stdout for a desktop assistant, until stdin closes."""
    # stdout carries only protocol messages: anything a library prints while loading goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        retriever = Retriever.open(settings.index, settings.model, settings.backend, settings.threads)
    answer_settings = answer_settings_from(settings)
    follower = Follower(retriever, settings.index)
    use_answer_threads(settings.answer_threads)
    ReportServer(Served(follower.current, lambda: answer_settings), settings.log_level.upper()).run("stdio")
