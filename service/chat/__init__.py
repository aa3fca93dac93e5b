"""The OpenAI-compatible chat adapter: cited replies and the /v1 routes."""

# service.chat was the replies module before the split: its names stay importable from here for one release.
from service.chat.replies import ChatReply, chat_reply, cited_evidence, conversation_question, source_line  # noqa: F401
