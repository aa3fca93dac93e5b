"""Sentence splitting and token chunking keep exact offsets and respect their limits."""

from __future__ import annotations

from itertools import pairwise

import pytest

from indexer.chunking import Span, chunk_spans, count_tokens, sentence_spans, split_long_sentence, token_encoding

TEXT = (
    "Heading without a full stop\n\n"
    "The force has made progress. However, I have concerns about the quality of its investigations.\n\n"
    "Vetting does not comply with national policy. The force must act.  It has been told so!\n"
)


def test_tokenizer_is_the_official_cl100k_base() -> None:
    # The cl100k_base ids OpenAI's cookbook gives for this example.
    assert token_encoding().encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert count_tokens("hello world") == 2


def test_sentences_are_exact_stripped_substrings() -> None:
    spans = sentence_spans(TEXT)
    texts = [TEXT[s.start : s.end] for s in spans]
    assert texts == [
        "Heading without a full stop",
        "The force has made progress.",
        "However, I have concerns about the quality of its investigations.",
        "Vetting does not comply with national policy.",
        "The force must act.",
        "It has been told so!",
    ]


def test_sentence_spans_respect_a_start_offset() -> None:
    spans = sentence_spans(TEXT, start=TEXT.index("Vetting"))
    assert TEXT[spans[0].start : spans[0].end] == "Vetting does not comply with national policy."
    assert len(spans) == 3


@pytest.mark.parametrize(("max_tokens", "overlap"), [(8, 0), (12, 4), (20, 8), (64, 16), (400, 50)])
def test_chunks_cover_every_sentence_within_the_token_limit(max_tokens: int, overlap: int) -> None:
    sentences = sentence_spans(TEXT)
    chunks = chunk_spans(TEXT, sentences, max_tokens, overlap)
    sentence_ends = {s.end for s in sentences}
    covered: set[int] = set()
    for chunk in chunks:
        assert chunk.token_count == count_tokens(TEXT[chunk.start : chunk.end])
        assert chunk.token_count <= max_tokens
        # Chunks end on a sentence boundary unless a single sentence was too long.
        too_long = count_tokens(TEXT[sentences[chunk.last_sentence].start : sentences[chunk.last_sentence].end]) > max_tokens
        assert chunk.end in sentence_ends or too_long
        covered.update(range(chunk.first_sentence, chunk.last_sentence + 1))
    assert covered == set(range(len(sentences)))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_overlap_repeats_trailing_sentences() -> None:
    sentences = sentence_spans(TEXT)
    chunks = chunk_spans(TEXT, sentences, max_tokens=30, overlap_tokens=15)
    assert len(chunks) >= 2
    assert any(b.first_sentence <= a.last_sentence for a, b in pairwise(chunks))
    without = chunk_spans(TEXT, sentences, max_tokens=30, overlap_tokens=0)
    assert all(b.first_sentence > a.last_sentence for a, b in pairwise(without))


def test_a_long_sentence_is_cut_into_windows_that_fit() -> None:
    text = "word " * 300 + "end."
    span = Span(0, len(text))
    pieces = split_long_sentence(text, span, max_tokens=50)
    assert len(pieces) >= 6
    assert all(count_tokens(text[p.start : p.end]) <= 50 for p in pieces)
    assert pieces[0].start == 0 and pieces[-1].end == len(text)
    chunks = chunk_spans(text, [span], max_tokens=50, overlap_tokens=10)
    assert all(c.token_count <= 50 for c in chunks)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_chunk_settings_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        chunk_spans(TEXT, sentence_spans(TEXT), max_tokens, overlap)
