"""Abstention on SQuAD: questions about articles left out of the index, and SQuAD v2.0's unanswerable near misses.

Articles are numbered by position in their file. Of v1.1, articles at positions 0 and 1 mod 4 are
indexed and those at 2 and 3 mod 4 are left out, so each half (even: choose, odd: report) has both
answerable questions and questions about things the index does not cover. Of v2.0, every paragraph is
indexed and the unanswerable questions are the ones SQuAD marks impossible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import auroc, calibration_bins, expected_calibration_error
from eval.squad import Paragraph, Squad, UniqueQuestion, in_half, unique_questions


def left_out(article: int) -> bool:
    """Whether a v1.1 article is kept out of the left-out-articles index."""
    return article % 4 in (2, 3)


def indexed_paragraphs(squad: Squad) -> list[Paragraph]:
    """The v1.1 paragraphs of the articles that stay in the index."""
    return [p for p in squad.paragraphs.values() if not left_out(p.article)]


def left_out_questions(squad: Squad, half: str) -> list[UniqueQuestion]:
    """The half's questions, those about left-out articles marked unanswerable (no gold)."""
    questions = unique_questions(squad.questions, half)
    return [UniqueQuestion(q.text, q.article, frozenset(), True) if left_out(q.article) else q for q in questions]


@dataclass(frozen=True)
class Outcome:
    """One question asked with abstention on: whether it could be answered, was answered right, abstained, how sure."""

    answerable: bool
    correct: bool
    abstained: bool
    confidence: float


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    """AUROC (answered right vs unanswerable), ECE, and abstention precision and recall at the threshold."""
    ranked = [o for o in outcomes if o.correct or not o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    right = [o for o in outcomes if o.correct]
    abstained = [o for o in outcomes if o.abstained]
    return {
        "questions": float(len(outcomes)),
        "unanswerable": float(len(unanswerable)),
        "answered_right_with_abstention_off": float(len(right)),
        "auroc": auroc([o.confidence for o in ranked], [o.correct for o in ranked]) if right and unanswerable else float("nan"),
        "ece": expected_calibration_error([o.confidence for o in outcomes], [o.correct for o in outcomes]),
        "abstain_precision": sum(not o.answerable for o in abstained) / len(abstained) if abstained else 0.0,
        "abstain_recall": sum(o.abstained for o in unanswerable) / len(unanswerable) if unanswerable else 0.0,
        "right_answers_kept": sum(not o.abstained for o in right) / len(right) if right else 0.0,
        "answered": sum(not o.abstained for o in outcomes) / len(outcomes) if outcomes else 0.0,
    }


def outcomes_of(run, questions: list[UniqueQuestion]) -> list[Outcome]:
    """Outcomes from an eval.reqa.ServiceRun; correct means the first ranked sentence is gold."""
    return [
        Outcome(bool(q.gold), rank == 1, abstained, confidence)
        for q, rank, abstained, confidence in zip(questions, run.ranks, run.abstained, run.confidence)
    ]


def reliability_diagram(kinds: dict[str, list[Outcome]], out: Path) -> None:
    """A PNG of accuracy against confidence per bin, one line per kind of unanswerable, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, outcomes in kinds.items():
        bins = calibration_bins([o.confidence for o in outcomes], [o.correct for o in outcomes])
        axes.plot([b[0] for b in bins], [b[1] for b in bins], marker="o", label=f"{name} (ECE {expected_calibration_error([o.confidence for o in outcomes], [o.correct for o in outcomes]):.3f})")
    axes.set_xlabel("confidence")
    axes.set_ylabel("share answered right (first evidence is gold)")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def threshold_sweep(outcomes: list[Outcome], thresholds: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, share of unanswerable abstained, share of right answers kept) at each threshold."""
    unanswerable = [o.confidence for o in outcomes if not o.answerable]
    right = [o.confidence for o in outcomes if o.correct]
    return [
        (float(t), float(np.mean([c < t for c in unanswerable])) if unanswerable else 0.0, float(np.mean([c >= t for c in right])) if right else 0.0)
        for t in thresholds
    ]


def half_questions(squad: Squad, half: str) -> list[UniqueQuestion]:
    """v2.0 questions of a half (the unanswerable ones have no gold)."""
    return [q for q in unique_questions(squad.questions, half) if in_half(q.article, half)]
