"""Standard question framing is stripped for retrieval; other questions pass through."""

from __future__ import annotations

import pytest

from service.core.query import retrieval_text


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("What did the inspector say about vetting?", "vetting"),
        ("what does the report say on child protection", "child protection"),
        ("What did HMIC find about neighbourhood policing?", "neighbourhood policing"),
        ("What has the inspectorate concluded regarding counter-corruption?", "counter-corruption"),
    ],
)
def test_framing_is_stripped(question: str, topic: str) -> None:
    assert retrieval_text(question) == topic


@pytest.mark.parametrize("question", ["How did the police respond to Westminster?", "What did the inspector say?", "vetting"])
def test_other_questions_are_unchanged(question: str) -> None:
    assert retrieval_text(question) == question
