"""The sentence table stored at build time holds exactly what the answer step used to derive per question,
and the features computed from it equal the per-sentence definitions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.storage.lexical import text_tokens
from indexer.storage.publish import version_dir
from indexer.storage.sentence_table import FOLDER, SentenceTable, sentence_names, text_flags, text_hash
from indexer.storage.store import Index, open_index
from service.core.answer import AnswerSettings, prepare_candidates
from service.core.retrieval import Retriever
from service.core.sentence_features import (
    QUESTION_STOPWORDS,
    bigram_share,
    coverage_of,
    feature_matrix,
    idf_weights,
    match_spread,
    missing_weight,
)

QUESTIONS = (
    "What did the inspector say about vetting?",
    "Is the Met efficient?",
    "How does the force treat the public?",
    "What did the inspection say about the custody suite in Exampleshire?",
    "Who is the chief constable of Exampleshire Constabulary?",
)


def test_the_table_holds_each_sentences_terms_names_and_flags(mixed_index_dir: Path) -> None:
    index = open_index(mixed_index_dir)
    table, vocabulary = index.sentence_table, index.sentence_lexical.bm25.vocab_dict
    assert table is not None and (version_dir(mixed_index_dir) / FOLDER).is_dir()
    names = {number: name for name, number in table.names.items()}
    for sentence in index.sentences:
        number = sentence.sentence_id
        terms = table.term_ids[table.term_offsets[number] : table.term_offsets[number + 1]].tolist()
        assert terms == [vocabulary[token] for token in text_tokens(sentence.text)]
        assert table.distinct_terms[number] == len(set(terms))
        held = {names[i] for i in table.name_ids[table.name_offsets[number] : table.name_offsets[number + 1]].tolist()}
        assert held == sentence_names(sentence.text)
        assert tuple(bool(flag) for flag in table.flags[number, :4]) == text_flags(sentence.text)
        assert bool(table.flags[number, 6]) == index.records.is_unquotable(sentence.doc_id, sentence.start, sentence.end)
        assert table.text_hash[number] == text_hash(sentence.text)
    # Headings and titles are marked unquotable; most body sentences are not.
    assert 0 < int(table.flags[:, 6].sum()) < len(index.sentences) / 2


def test_paragraph_edges_follow_blank_lines(index: Index, seed_text: str) -> None:
    table, sentences = index.sentence_table, list(index.sentences)
    for before, sentence, after in zip([None, *sentences[:-1]], sentences, [*sentences[1:], None]):
        number = sentence.sentence_id
        assert bool(table.flags[number, 4]) == (before is None or "\n\n" in seed_text[before.end : sentence.start])
        assert bool(table.flags[number, 5]) == (after is None or "\n\n" in seed_text[sentence.end : after.start])
    # The statement's paragraphs: its first sentence starts one, its last ends one, some in between do neither.
    assert table.flags[0, 4] and table.flags[len(sentences) - 1, 5]
    assert any(not table.flags[s.sentence_id, 4] and not table.flags[s.sentence_id, 5] for s in sentences)


def test_an_index_without_a_table_gets_the_same_one_at_open(mixed_index_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(mixed_index_dir, copy, symlinks=True)
    saved = open_index(copy).sentence_table
    shutil.rmtree(version_dir(copy) / FOLDER)
    computed = Index(copy, verify=False).sentence_table
    for name in ("term_offsets", "term_ids", "name_offsets", "name_ids", "distinct_terms", "flags", "text_hash"):
        assert np.array_equal(getattr(saved, name), getattr(computed, name)), name
    assert saved.names == computed.names
    assert SentenceTable.load(version_dir(copy)) is None


@pytest.mark.parametrize("question", QUESTIONS)
def test_term_features_equal_their_per_sentence_definitions(mixed_index_dir: Path, encoder, question: str) -> None:
    retriever = Retriever(open_index(mixed_index_dir), encoder)
    prepared = prepare_candidates(retriever, question, 5, AnswerSettings(), ranked=True)
    candidates, lexical = prepared.candidates, retriever.index.sentence_lexical
    matrix = feature_matrix(prepared.text, candidates, lexical)
    terms = text_tokens(prepared.text, QUESTION_STOPWORDS)
    weights = idf_weights(lexical, terms)
    sentence = {s: text_tokens(candidates.read_text(s)) for s in candidates.sentence_ids}
    context = {
        s: set(sentence[s]).union(*(text_tokens(candidates.read_text(int(n))) for n in (p, f) if n >= 0))
        for s, p, f in zip(candidates.sentence_ids, candidates.previous, candidates.following)
    }
    documents: dict[int, set[str]] = {}
    for s, position in zip(candidates.sentence_ids, candidates.documents.tolist()):
        documents.setdefault(position, set()).update(context[s])
    expected = np.array([
        (coverage_of(weights, set(sentence[s])), coverage_of(weights, context[s]), coverage_of(weights, documents[p]),
         len(set(sentence[s]) - set(weights)), bigram_share(terms, sentence[s]), match_spread(weights, sentence[s]),
         missing_weight(weights, context[s]), missing_weight(weights, documents[p]), len(set(sentence[s])))
        for s, p in zip(candidates.sentence_ids, candidates.documents.tolist())
    ], dtype=np.float32)
    assert np.array_equal(matrix[:, 9:18], expected)
    assert np.array_equal(candidates.lexical, lexical.scores_of_texts(prepared.text, candidates.texts).astype(np.float32))
