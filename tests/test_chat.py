"""Chat replies from answers: citations, follow-up questions, stop sequences and token limits."""

from __future__ import annotations

from indexer.chunking import count_tokens
from service.chat.replies import (
    NO_ANSWER_REPLY,
    ChatReply,
    chat_reply,
    cited_evidence,
    conversation_question,
    cut_at_stop,
    cut_at_tokens,
)
from service.core.types import Answer, Evidence

TITLE = "PEEL 2017"


def evidence(text: str, score: float, start: int = 0) -> Evidence:
    return Evidence(text, "met.txt", TITLE, start, start + len(text), score)


def answer(*found: Evidence, verdict: str = "answer") -> Answer:
    return Answer("", verdict == "none", verdict, 0.9, 0.95, list(found), [], 1.0)


def test_cited_evidence_keeps_sentences_nearly_as_good_as_the_best() -> None:
    found = [evidence("a", 1.0), evidence("b", 0.86), evidence("c", 0.84), evidence("d", 0.99)]
    # 0.85 × 1.0 = 0.85: b stays, c falls below, d is past the three-citation cap.
    assert [e.text for e in cited_evidence(found)] == ["a", "b"]
    assert cited_evidence([]) == []


def test_reply_quotes_each_sentence_with_a_numbered_citation_and_lists_sources() -> None:
    reply = chat_reply(answer(evidence("Vetting must improve.", 0.9, 100), evidence("Detectives are short.", 0.8, 300)))
    assert reply.content == (
        "The report says: “Vetting must improve.” [1] It also says: “Detectives are short.” [2]\n\n"
        "Sources:\n[1] PEEL 2017 (met.txt, characters 100–121)\n[2] PEEL 2017 (met.txt, characters 300–321)"
    )
    assert [(c.number, c.text, c.start, c.end) for c in reply.citations] == [(1, "Vetting must improve.", 100, 121), (2, "Detectives are short.", 300, 321)]
    assert not reply.abstained


def test_abstention_reads_as_a_plain_sentence_without_citations() -> None:
    reply = chat_reply(answer(verdict="none"))
    assert reply.content == NO_ANSWER_REPLY
    assert reply.citations == () and reply.abstained


def test_an_uncertain_reply_says_in_words_that_it_quotes_only_the_closest_passage() -> None:
    reply = chat_reply(answer(evidence("Vetting must improve.", 0.4, 100), verdict="uncertain"))
    assert reply.content.startswith("The reports may not answer this directly; the closest passage is: “Vetting must improve.” [1]")
    assert [c.text for c in reply.citations] == ["Vetting must improve."] and not reply.abstained and reply.verdict == "uncertain"


def test_the_last_user_turn_is_the_question() -> None:
    turns = [("system", "Be brief."), ("user", "Are there enough detectives?"), ("assistant", "…"), ("user", "What about vetting?")]
    assert conversation_question(turns) == "What about vetting?"


def test_a_follow_up_that_refers_back_is_joined_to_the_previous_question() -> None:
    turns = [("user", "Are there enough detectives?"), ("assistant", "…"), ("user", "What is the force doing about it?")]
    assert conversation_question(turns) == "Are there enough detectives? What is the force doing about it?"
    assert conversation_question([("user", "Vetting?"), ("user", "Why?")]) == "Vetting? Why?"


def test_no_user_turn_means_no_question() -> None:
    assert conversation_question([("system", "You answer questions.")]) == ""
    assert conversation_question([]) == ""


def test_stop_cuts_before_the_first_stop_sequence() -> None:
    reply = ChatReply(("The report says: “A.” [1]", "\n\nSources:", "\n[1] T"), (), False, 0.9)
    cut = cut_at_stop(reply, ["Sources", "[1]"])
    assert cut.content == "The report says: “A.” "
    assert cut.pieces == ("The report says: “A.” ",)
    assert cut.finish_reason == "stop"
    assert cut_at_stop(reply, ["absent"]) is reply


def test_max_tokens_trims_to_that_many_tokens_and_finishes_with_length() -> None:
    reply = ChatReply(("one two three ", "four five six"), (), False, 0.9)
    assert count_tokens(reply.content) == 6
    cut = cut_at_tokens(reply, 4)
    assert cut.content == "one two three four"
    assert cut.pieces == ("one two three ", "four")
    assert cut.finish_reason == "length"
    assert cut_at_tokens(reply, 6) is reply
    assert cut_at_tokens(reply, None) is reply
