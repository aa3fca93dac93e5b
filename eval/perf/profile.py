"""Where an answer's time goes: each stage of the in-process answer path timed by wrapping the functions that
do it (exclusive time, nested stages subtracted), so the service itself carries no timing code."""

from __future__ import annotations

import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

# (module, attribute, stage): the functions each stage runs, wrapped where their callers look them up.
STAGES = (
    ("indexer.encoding.embedding", "Encoder.encode", "encoder"),
    ("indexer.storage.store", "Index.search", "dense search"),
    ("service.core.retrieval", "SentenceSimilarity.nearest", "dense search"),
    ("service.core.retrieval", "SentenceSimilarity.__init__", "dense search"),
    ("indexer.storage.lexical", "LexicalIndex.scores", "lexical search"),
    ("indexer.storage.lexical", "LexicalIndex.scores_for", "lexical search"),
    ("service.core.retrieval", "fuse_scores", "fusion"),
    ("service.core.retrieval", "convex_fusion_arrays", "fusion"),
    ("service.core.retrieval", "ranked", "fusion"),
    ("service.core.retrieval", "Retriever.ranked_chunks", "candidate gathering"),
    ("service.core.answer", "gather_candidates", "candidate gathering"),
    ("service.core.answer", "feature_matrix", "sentence features"),
    ("service.core.answer", "rank_candidates", "ranker"),
    ("service.core.answer", "quotable_rows", "ranker"),
    ("service.core.answer", "answer_features", "confidence"),
    ("service.core.answer", "judge", "confidence"),
    ("service.core.answer", "choose_evidence", "composing"),
    ("service.core.answer", "finish_answer", "composing"),
    ("service.core.retrieval", "Retriever.passage", "composing"),
)
OTHER = "other (glue)"


@dataclass
class StageClock:
    """Exclusive seconds per stage: time inside a stage's functions, less the time of stages they call."""

    seconds: dict[str, float]
    stack: list[list[Any]]

    def timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """function, charging its own time (not its nested stages') to stage."""

        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            frame = [stage, 0.0]
            self.stack.append(frame)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                self.stack.pop()
                self.seconds[stage] += spent - frame[1]
                if self.stack:
                    self.stack[-1][1] += spent

        return run


def owner_and_name(module_name: str, attribute: str) -> tuple[Any, str]:
    """The object holding a (possibly dotted) attribute, and the attribute's last name."""
    owner: Any = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


@contextmanager
def stage_clock() -> Iterator[StageClock]:
    """Every STAGES function wrapped while the block runs, put back after."""
    clock = StageClock(defaultdict(float), [])
    saved = []
    try:
        for module_name, attribute, stage in STAGES:
            owner, name = owner_and_name(module_name, attribute)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, clock.timed(stage, original))
        yield clock
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def profile_answers(answer: Callable[[str], object], questions: list[str], requests: int) -> list[tuple[str, float, float]]:
    """(stage, ms per answer, share of the answer) for `requests` answers, the unwrapped glue included."""
    # One answer first: what loads once (the answer ranker) is not a stage of every answer.
    answer(questions[0])
    with stage_clock() as clock:
        started = time.perf_counter()
        for number in range(requests):
            answer(questions[number % len(questions)])
        total = time.perf_counter() - started
    stages = dict(clock.seconds)
    stages[OTHER] = total - sum(stages.values())
    return [(stage, seconds * 1000 / requests, seconds / total) for stage, seconds in stages.items()]
