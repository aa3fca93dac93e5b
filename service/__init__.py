"""Answers from a published index: the plain-Python core (core/) and the adapters that call it (http/, chat/,
mcp/, page/, terminal.py, cli.py)."""

from service.moved import keep_old_paths

# Where each module was before the split; service.chat (now the chat package) and service.page keep their names.
MOVED = {
    "service.access": "service.http.access",
    "service.admin": "service.http.admin",
    "service.answer": "service.core.answer",
    "service.app": "service.http.app",
    "service.batching": "service.core.batching",
    "service.candidates": "service.core.candidates",
    "service.confidence": "service.core.confidence",
    "service.documents": "service.core.documents",
    "service.errors": "service.core.errors",
    "service.filters": "service.core.filters",
    "service.fusion": "service.core.fusion",
    "service.http_errors": "service.http.http_errors",
    "service.mcp_server": "service.mcp.server",
    "service.metrics": "service.http.metrics",
    "service.observe": "service.http.observe",
    "service.openai_api": "service.chat.openai_api",
    "service.query": "service.core.query",
    "service.ranker": "service.core.ranker",
    "service.request_log": "service.http.request_log",
    "service.retrieval": "service.core.retrieval",
    "service.sentence_features": "service.core.sentence_features",
    "service.sse": "service.http.sse",
    "service.stopwords": "service.core.stopwords",
    "service.streaming": "service.core.streaming",
    "service.types": "service.core.types",
    "service.uploads": "service.http.uploads",
    "service.wording": "service.core.wording",
}
keep_old_paths(MOVED)
