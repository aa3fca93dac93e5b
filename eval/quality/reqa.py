"""ReQA on SQuAD: answer-sentence retrieval, by ranking functions over the whole pool and through the service."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.quality.squad import Paragraph, Squad, UniqueQuestion, as_documents
from indexer.build import BuildSettings
from indexer.encoding.embedding import CachedEncoder, Encoder

DEFAULT_CACHE = Path(".cache") / "reqa"
CUTOFFS = (1, 5, 10)


@dataclass(frozen=True)
class Pool:
    """Every candidate sentence, deduplicated by (text, paragraph), with its paragraph."""

    keys: list[tuple[str, int]]
    texts: list[str]
    paragraph_of: np.ndarray
    paragraph_ids: list[str]
    paragraph_texts: list[str]

    def positions(self) -> dict[tuple[str, int], int]:
        """Pool position of each (doc_id, sentence number), duplicates mapped to their first copy."""
        return {key: position for position, key in reversed(list(enumerate(self.keys)))}


def candidate_pool(paragraphs: list[Paragraph]) -> tuple[Pool, dict[tuple[str, int], int]]:
    """The ReQA pool of the paragraphs and where each (doc_id, sentence number) landed in it."""
    keys, texts, owners, where = [], [], [], {}
    for number, paragraph in enumerate(paragraphs):
        seen: dict[str, int] = {}
        for sentence, span in enumerate(paragraph.sentences):
            text = paragraph.text[span.start : span.end]
            if text not in seen:
                seen[text] = len(keys)
                keys.append((paragraph.doc_id, sentence))
                texts.append(text)
                owners.append(number)
            where[(paragraph.doc_id, sentence)] = seen[text]
    pool = Pool(keys, texts, np.array(owners), [p.doc_id for p in paragraphs], [p.text for p in paragraphs])
    return pool, where


def gold_rank(scores: np.ndarray, gold: list[int]) -> int:
    """1-based rank of the best-scored gold candidate: 1 + the candidates scored strictly higher."""
    return int((scores > scores[gold].max()).sum()) + 1


def rank_metrics(ranks: list[int | None]) -> dict[str, float]:
    """MRR = mean of 1/rank (0 when not found); R@k = share with rank <= k."""
    found = np.array([rank if rank else np.inf for rank in ranks], dtype=np.float64)
    metrics = {"questions": float(len(ranks)), "mrr": float(np.mean(1.0 / found)) if len(ranks) else 0.0}
    metrics.update({f"r@{k}": float(np.mean(found <= k)) if len(ranks) else 0.0 for k in CUTOFFS})
    return metrics


def paragraphs_digest(paragraphs: list[Paragraph]) -> str:
    """A short hash of the paragraphs' ids and texts."""
    digest = hashlib.sha256()
    for paragraph in paragraphs:
        digest.update(f"{paragraph.doc_id}\x00{paragraph.text}\x00".encode())
    return digest.hexdigest()[:16]


def cached_squad_index(paragraphs: list[Paragraph], encoder: Encoder, settings: BuildSettings, cache: Path, progress: bool) -> Path:
    """An index of the paragraphs (each its own document) built by the normal build, kept and reused."""
    from eval.quality.beir import built_once

    return built_once(paragraphs_digest(paragraphs), lambda: as_documents(paragraphs), encoder, settings, cache, progress)[0]


def squad_pool_questions(squad: Squad, questions: list[UniqueQuestion], where: dict[tuple[str, int], int]) -> list[list[int]]:
    """Each question's gold candidates as pool positions."""
    return [sorted({where[key] for key in q.gold if key in where}) for q in questions]


def min_max_rows(scores: np.ndarray) -> np.ndarray:
    """Each row rescaled to [0, 1] (a constant row becomes all ones)."""
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return np.where(high > low, (scores - low) / span, 1.0)


def lexical_scores(texts: list[str], questions: list[UniqueQuestion]) -> np.ndarray:
    """BM25 (the indexer's settings) of every question against every text."""
    from indexer.storage.lexical import LexicalIndex

    index = LexicalIndex.build(texts)
    return np.vstack([index.scores(q.text) for q in questions]) if questions else np.zeros((0, len(texts)))


def dense_scores(
    encoder: Encoder, pool: Pool, questions: list[UniqueQuestion], cache: Path, progress: bool, paragraphs: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cosines of every question to every candidate sentence and (when asked) to each candidate's paragraph."""
    cached = CachedEncoder(encoder, cache / "embeddings")
    question_vectors = cached.encode([q.text for q in questions], progress=progress)
    sentence_scores = question_vectors @ cached.encode(pool.texts, progress=progress).T
    if not paragraphs:
        return sentence_scores, None
    return sentence_scores, (question_vectors @ cached.encode(pool.paragraph_texts, progress=progress).T)[:, pool.paragraph_of]


def ranks_of(scores: np.ndarray, golds: list[list[int]]) -> list[int | None]:
    """Rank of each question's best gold candidate under its row of scores."""
    return [gold_rank(row, gold) if gold else None for row, gold in zip(scores, golds)]


@dataclass(frozen=True)
class ServiceRun:
    """Every question asked through the answer pipeline: gold rank in its ranking, verdict and its two scores."""

    ranks: list[int | None]
    verdicts: list[str]
    confidence: list[float]
    coverage: list[float]
    answerable: list[bool]

    @property
    def abstained(self) -> list[bool]:
        """Verdict "none" for each question."""
        return [verdict == "none" for verdict in self.verdicts]

    def metrics(self) -> dict[str, dict[str, float]]:
        """ReQA metrics with abstentions counted as misses, and with abstention off."""
        abstained = self.abstained
        answered = [None if none else rank for rank, none in zip(self.ranks, abstained)]
        kept = [i for i, ok in enumerate(self.answerable) if ok]
        return {
            "with abstention": rank_metrics([answered[i] for i in kept]) | {"abstained": float(np.mean([abstained[i] for i in kept])) if kept else 0.0},
            "abstention off": rank_metrics([self.ranks[i] for i in kept]),
        }


def sentence_rank(retriever, ranking: list[int], gold: frozenset[tuple[str, int]], numbers: dict[tuple[str, int, int], int]) -> int | None:
    """1-based position of the first gold sentence in a draft's ranking."""
    for position, sentence_id in enumerate(ranking, start=1):
        sentence = retriever.index.sentences[sentence_id]
        if (sentence.doc_id, numbers.get((sentence.doc_id, sentence.start, sentence.end), -1)) in gold:
            return position
    return None


def ask_all(retriever, questions: list[UniqueQuestion], numbers: dict[tuple[str, int, int], int], settings, progress: bool) -> ServiceRun:
    """Ask every question through the service's own draft and judge steps."""
    from tqdm import tqdm

    from service.core.answer import draft_answer, judge

    run = ServiceRun([], [], [], [], [])
    for question in tqdm(questions, desc="questions", disable=not progress):
        draft = draft_answer(retriever, question.text, 5, settings)
        verdict = judge(draft, settings)
        run.ranks.append(sentence_rank(retriever, draft.ranking, question.gold, numbers))
        run.verdicts.append(verdict.verdict)
        run.confidence.append(verdict.confidence)
        run.coverage.append(verdict.coverage)
        run.answerable.append(bool(question.gold))
    return run
