"""The seed eval set is well formed and covers the whole statement."""

from __future__ import annotations

from eval.quality.dataset import load_eval_set
from indexer.chunking import paragraph_spans
from tests.conftest import ROOT

SEED_SET = ROOT / "eval" / "sets" / "seed.jsonl"


def test_seed_set_size_and_unanswerables() -> None:
    questions = load_eval_set(SEED_SET)
    assert len(questions) >= 40
    assert sum(not q.answerable for q in questions) >= 6


def test_every_quote_is_an_exact_substring(seed_text: str) -> None:
    for question in load_eval_set(SEED_SET):
        for answer in question.answers:
            assert answer.doc_id == "hmic-met-peel-2017.txt"
            assert answer.quote in seed_text, question.id


def test_questions_are_paraphrased_not_copied(seed_text: str) -> None:
    lowered = seed_text.lower()
    for question in load_eval_set(SEED_SET):
        assert question.question.lower().rstrip("?") not in lowered, question.id


def test_every_paragraph_with_content_is_asked_about(seed_text: str) -> None:
    quotes = [a.quote for q in load_eval_set(SEED_SET) for a in q.answers]
    for paragraph in paragraph_spans(seed_text):
        text = seed_text[paragraph.start : paragraph.end]
        if text == "See more here":  # a link label, not inspection content
            continue
        assert any(quote in text for quote in quotes), text[:60]


def test_far_wording_questions_share_no_word_with_their_answer_sentence(seed_text: str) -> None:
    from indexer.chunking import sentence_spans
    from indexer.storage.lexical import tokenize

    sentences = [seed_text[s.start : s.end] for s in sentence_spans(seed_text)]
    far = [q for q in load_eval_set(SEED_SET) if "far-wording" in q.tags]
    assert len(far) >= 10
    for question in far:
        for answer in question.answers:
            sentence = next(s for s in sentences if answer.quote in s)
            assert not set(tokenize([question.question])[0]) & set(tokenize([sentence])[0]), question.id
