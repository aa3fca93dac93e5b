"""BM25 lexical index (bm25s) with English stemming and stop words."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from indexer.storage.records import advise_random

try:
    from indexer.storage import _postings
except ImportError:  # built without a C compiler: bm25s and NumPy score alike, a little slower
    _postings = None

# bm25s sets its own logger to DEBUG, which floods any application log.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Tokens whose idf one index remembers.
IDF_MEMORY = 65_536
# Lucene's BM25 variant and parameters, as in Elasticsearch and Anserini.
BM25_SETTINGS = {"library": "bm25s", "method": "lucene", "k1": 1.2, "b": 0.75, "stemmer": "english", "stopwords": "en"}


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    """One shared stemmer; building it on every query is wasted work on the hot path."""
    return Stemmer.Stemmer(BM25_SETTINGS["stemmer"])


def tokenize(texts: list[str], stopwords: str | list[str] = BM25_SETTINGS["stopwords"]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens of each text."""
    return bm25s.tokenize(texts, stopwords=stopwords, stemmer=stemmer(), return_ids=False, show_progress=False)


@lru_cache(maxsize=65536)
def text_tokens(text: str, stopwords: str | tuple[str, ...] = BM25_SETTINGS["stopwords"]) -> tuple[str, ...]:
    """tokenize() of one text, remembered: a question is scored against three indexes, and the same
    passages come back for many questions, so each text is tokenized once."""
    return tuple(tokenize([text], stopwords if isinstance(stopwords, str) else list(stopwords))[0])


class LexicalIndex:
    """BM25 over a list of texts, addressed by their position."""

    def __init__(self, bm25: bm25s.BM25, size: int, average_length: float | None = None) -> None:
        self.bm25 = bm25
        self.size = size
        # Mean tokens per indexed text: lets a text be scored from its own tokens (scores_of_texts).
        self.average_length = average_length
        self.idfs: dict[str, float] = {}

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        """Index texts; position i in texts is id i."""
        bm25 = bm25s.BM25(method=BM25_SETTINGS["method"], k1=BM25_SETTINGS["k1"], b=BM25_SETTINGS["b"])
        # bm25s cannot index an empty vocabulary; a placeholder token keeps ids aligned.
        tokens = [text_tokens or ["\x00"] for text_tokens in tokenize(texts)]
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts), sum(map(len, tokens)) / len(tokens) if tokens else None)

    def save(self, directory: Path) -> None:
        """Write the index files into directory."""
        self.bm25.save(str(directory))
        (directory / "size.json").write_text(json.dumps({"size": self.size, "average_length": self.average_length}))

    @classmethod
    def load(cls, directory: Path, random_access: bool = False) -> LexicalIndex:
        """Open a saved index, memory-mapped; random_access turns off read-ahead, for indexes only
        probed at chosen ids, whose faults would otherwise pull whole neighbourhoods into memory."""
        sizes = json.loads((directory / "size.json").read_text())
        bm25 = bm25s.BM25.load(str(directory), mmap=True)
        for name, array in bm25.scores.items():
            # Plain ndarray views of the mappings: np.memmap runs Python code on every indexing.
            bm25.scores[name] = advise_random(array) if random_access else np.asarray(array)
        return cls(bm25, sizes["size"], sizes.get("average_length"))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for the query."""
        tokens = list(text_tokens(query))
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        compiled = self.compiled_scores(tokens, None)
        return compiled if compiled is not None else np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)

    def compiled_scores(self, tokens: list[str] | tuple[str, ...], ids: np.ndarray | None) -> np.ndarray | None:
        """scores (ids None) or scores_for from the compiled postings kernel, the same float32 sums in the same
        order; None where it was not built or the index is not plain float32 Lucene postings."""
        postings = self.bm25.scores
        if _postings is None or self.bm25.nonoccurrence_array is not None or postings["data"].dtype != np.float32:
            return None
        vocabulary = self.bm25.vocab_dict
        columns = np.array([vocabulary[token] for token in tokens if token in vocabulary], dtype=np.int64)
        out = np.empty(self.size if ids is None else len(ids), dtype=np.float32)
        arrays = (np.ascontiguousarray(postings[name]) for name in ("indptr", "indices", "data"))
        _postings.postings_scores(*arrays, columns, ids, out)
        return out

    def scores_for(self, query: str, ids: np.ndarray) -> np.ndarray:
        """scores(query)[ids] without scoring the whole index: each query term's postings (sorted by
        id) are searched for the wanted ids, so the cost follows len(ids), not the index size."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        compiled = self.compiled_scores(text_tokens(query), ids)
        if compiled is not None:
            return compiled
        result = np.zeros(len(ids), dtype=np.float32)
        postings = self.bm25.scores
        for token in text_tokens(query):
            column = self.bm25.vocab_dict.get(token)
            if column is None:
                continue
            start, end = int(postings["indptr"][column]), int(postings["indptr"][column + 1])
            found = np.asarray(postings["indices"][start:end])
            where = np.minimum(np.searchsorted(found, ids), max(len(found) - 1, 0))
            hit = found[where] == ids if len(found) else np.zeros(len(ids), dtype=bool)
            result[hit] += np.asarray(postings["data"][start:end])[where[hit]]
        return result

    def scores_of_texts(self, query: str, texts: list[str]) -> np.ndarray | None:
        """BM25 of the query against indexed texts, computed from the texts' own tokens as bm25s
        computed them at indexing (Lucene: idf × tf / (tf + k1 × (1 - b + b × length / average
        length))), so no posting list is read; None for an index saved without its average length."""
        if self.average_length is None:
            return None
        k1, b = BM25_SETTINGS["k1"], BM25_SETTINGS["b"]
        terms = [term for term in text_tokens(query) if term in self.bm25.vocab_dict]
        idf = {term: self.idf(term) for term in set(terms)}
        result = np.zeros(len(texts), dtype=np.float32)
        for position, text in enumerate(texts):
            tokens = text_tokens(text)
            counts = Counter(tokens)
            norm = k1 * (1 - b + b * max(len(tokens), 1) / self.average_length)
            result[position] = sum(idf[term] * counts[term] / (counts[term] + norm) for term in terms if term in counts)
        return result

    def idf(self, token: str) -> float:
        """BM25 (Lucene) inverse document frequency of a token; unseen tokens get the maximum (remembered per
        token: the same question terms come back for every candidate feature and confidence score)."""
        known = self.idfs.get(token)
        if known is None:
            column = self.bm25.vocab_dict.get(token)
            indptr = self.bm25.scores["indptr"]
            frequency = 0 if column is None else int(indptr[column + 1] - indptr[column])
            if len(self.idfs) >= IDF_MEMORY:
                self.idfs.clear()  # questions full of unseen words must not grow it without bound
            known = self.idfs[token] = math.log(1 + (self.size - frequency + 0.5) / (frequency + 0.5))
        return known
