"""Chat replies: an Answer as cited prose for chat frontends, and a conversation as one question."""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.chunking import count_tokens, token_encoding
from service.core.types import Answer, Evidence

# Supporting sentences must score close to the best one; weaker ones drift off topic in practice.
SUPPORT_RATIO = 0.85
MAX_CITATIONS = 3
NO_ANSWER_REPLY = (
    "I couldn't find an answer to that in the indexed inspection reports, so I won't guess. "
    "Try asking about something the reports cover, such as vetting, investigations or efficiency."
)
UNCERTAIN_OPENING = "The reports may not answer this directly; the closest passage is"
NO_QUESTION_REPLY = "Ask me a question about the indexed inspection reports, and I'll answer in the inspector's own words."
# Pronouns that need an earlier turn to make sense: "What did they do about it?"
REFERRING_WORDS = frozenset(["it", "its", "they", "them", "their", "these", "those", "he", "she", "his", "her"])
WORD = re.compile(r"[\w’']+")


class Citation(Evidence, frozen=True, kw_only=True):
    """An evidence sentence cited in a chat reply as [number]."""

    number: int


@dataclass(frozen=True)
class ChatReply:
    """A reply in the pieces it streams in, with its citations."""

    pieces: tuple[str, ...]
    citations: tuple[Citation, ...]
    verdict: str
    confidence: float
    finish_reason: str = "stop"

    @property
    def abstained(self) -> bool:
        """True when the reply presents no quote as an answer."""
        return self.verdict == "none"

    @property
    def content(self) -> str:
        """The whole reply text."""
        return "".join(self.pieces)


def cited_evidence(evidence: list[Evidence]) -> list[Evidence]:
    """The best sentence, and up to two more that score nearly as well."""
    if not evidence:
        return []
    floor = evidence[0].score * SUPPORT_RATIO
    return [evidence[0]] + [e for e in evidence[1:MAX_CITATIONS] if e.score >= floor]


def chat_reply(answer: Answer) -> ChatReply:
    """The answer as quoted sentences with [n] markers, then a numbered sources list."""
    if answer.abstained:
        return ChatReply((answer.notice or NO_ANSWER_REPLY,), (), answer.verdict, answer.confidence)
    # The first citation is the answer's passage: its key sentence with the sentences that complete it.
    evidence = [answer.quote, *answer.evidence[1:]] if answer.quote else answer.evidence
    citations = tuple(
        Citation(e.text, e.doc_id, e.title, e.start, e.end, e.score, e.pages, e.section, number=number)
        for number, e in enumerate(cited_evidence(evidence), start=1)
    )
    opening = "The report says" if answer.verdict == "answer" else UNCERTAIN_OPENING
    quotes = [f"{opening}: “{citations[0].text}” [1]"]
    quotes += [f" It also says: “{c.text}” [{c.number}]" for c in citations[1:]]
    sources = [f"\n[{c.number}] {source_line(c)}" for c in citations]
    return ChatReply(tuple(quotes) + ("\n\nSources:",) + tuple(sources), citations, answer.verdict, answer.confidence)


def page_label(pages: list[int]) -> str:
    """'p. 12' or 'pp. 12–13'; empty for unpaged documents."""
    if not pages:
        return ""
    return f"p. {pages[0]}" if len(pages) == 1 else f"pp. {pages[0]}–{pages[-1]}"


def source_line(evidence: Evidence) -> str:
    """Title, section, document, page and characters of a cited sentence."""
    where = ", ".join(part for part in (evidence.doc_id, page_label(evidence.pages), f"characters {evidence.start}–{evidence.end}") if part)
    section = f", {' › '.join(evidence.section)}" if evidence.section else ""
    return f"{evidence.title}{section} ({where})"


def no_question_reply() -> ChatReply:
    """The reply to a conversation with nothing to answer yet."""
    return ChatReply((NO_QUESTION_REPLY,), (), "none", 0.0)


def conversation_question(turns: list[tuple[str, str]]) -> str:
    """The question to retrieve for: the last user turn, joined to the one before when it refers back."""
    asked = [text.strip() for role, text in turns if role == "user" and text.strip()]
    if not asked:
        return ""
    last = asked[-1]
    words = [w.lower() for w in WORD.findall(last)]
    refers_back = len(words) <= 2 or any(w in REFERRING_WORDS for w in words)
    return f"{asked[-2]} {last}" if refers_back and len(asked) > 1 else last


def cut_at_stop(reply: ChatReply, stop: list[str]) -> ChatReply:
    """The reply up to the first stop sequence, as the OpenAI API ends generation there."""
    content = reply.content
    cut = min((content.find(s) for s in stop if s and s in content), default=-1)
    return reply if cut < 0 else with_content(reply, content[:cut], "stop")


def cut_at_tokens(reply: ChatReply, max_tokens: int | None) -> ChatReply:
    """The reply trimmed to max_tokens cl100k tokens, finishing with "length" when trimmed."""
    if max_tokens is None:
        return reply
    tokens = token_encoding().encode(reply.content)
    if len(tokens) <= max_tokens:
        return reply
    return with_content(reply, token_encoding().decode(tokens[:max_tokens]), "length")


def with_content(reply: ChatReply, content: str, finish_reason: str) -> ChatReply:
    """The reply's pieces cut to a prefix of its content."""
    pieces, used = [], 0
    for piece in reply.pieces:
        if used >= len(content):
            break
        pieces.append(piece[: len(content) - used])
        used += len(piece)
    return ChatReply(tuple(pieces), reply.citations, reply.verdict, reply.confidence, finish_reason)


def usage(turns: list[tuple[str, str]], reply: ChatReply) -> dict[str, int]:
    """Token counts in the OpenAI usage shape (cl100k, as the chunker counts)."""
    prompt = sum(count_tokens(text) for _, text in turns)
    completion = count_tokens(reply.content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
