"""Abstention on SQuAD: questions about articles left out of the index, and SQuAD v2.0's unanswerable near misses.

Articles are numbered by position in their file. Of v1.1, articles at positions 0 and 1 mod 4 are
indexed and those at 2 and 3 mod 4 are left out, so each half (even: choose, odd: report) has both
answerable questions and questions about things the index does not cover. Of v2.0, every paragraph is
indexed and the unanswerable questions are the ones SQuAD marks impossible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.plotting import pyplot
from eval.quality.metrics import auroc, calibration_bins, expected_calibration_error
from eval.quality.squad import Paragraph, Squad, UniqueQuestion, in_half, unique_questions
from service.core.answer import Verdict


# The name of the left-out-articles set begins with this.
LEFT_OUT = "left-out"


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
class Outcome(Verdict):
    """One question asked through the service: its verdict and the two probabilities behind it, whether it
    could be answered and whether its first evidence was right."""

    answerable: bool
    correct: bool


def share(outcomes: list[Outcome], verdict: str) -> float:
    """The share of outcomes with this verdict (0 when there are none)."""
    return sum(o.verdict == verdict for o in outcomes) / len(outcomes) if outcomes else 0.0


def coverage_summary(outcomes: list[Outcome]) -> dict[str, float]:
    """The coverage score against answerability: AUROC, ECE, and the verdicts of left-out and right-answered questions."""
    unanswerable = [o for o in outcomes if not o.answerable]
    right = [o for o in outcomes if o.correct]
    scores, labels = [o.coverage for o in outcomes], [o.answerable for o in outcomes]
    return {
        "coverage_auroc": auroc(scores, labels) if unanswerable and len(unanswerable) < len(outcomes) else float("nan"),
        "coverage_ece": expected_calibration_error(scores, labels),
        "unanswerable_none": share(unanswerable, "none"),
        "right_none": share(right, "none"),
        "right_answer": share(right, "answer"),
    }


def answer_summary(outcomes: list[Outcome]) -> dict[str, float]:
    """The answer probability against 'the first evidence is right': AUROC and ECE."""
    scores, labels = [o.confidence for o in outcomes], [o.correct for o in outcomes]
    return {
        "answer_auroc": auroc(scores, labels) if any(labels) and not all(labels) else float("nan"),
        "answer_ece": expected_calibration_error(scores, labels),
    }


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    """Counts, the verdicts of unanswerable questions, and both scores' discrimination and calibration."""
    unanswerable = [o for o in outcomes if not o.answerable]
    return {
        "questions": float(len(outcomes)),
        "unanswerable": float(len(unanswerable)),
        "answered_right_with_abstention_off": float(sum(o.correct for o in outcomes)),
        "unanswerable_answer": share(unanswerable, "answer"),
        "unanswerable_uncertain": share(unanswerable, "uncertain"),
        **coverage_summary(outcomes),
        **answer_summary(outcomes),
    }


def covered(kinds: dict[str, list[Outcome]]) -> list[Outcome]:
    """The questions the answer score is judged on: those of indexes that cover them (left-out articles' dropped)."""
    return [o for name, outcomes in kinds.items() for o in outcomes if o.answerable or not name.startswith(LEFT_OUT)]


def outcomes_of(run, questions: list[UniqueQuestion]) -> list[Outcome]:
    """Outcomes from an eval.quality.reqa.ServiceRun; correct means the first ranked sentence is gold."""
    return [
        Outcome(verdict, confidence, coverage, answerable=bool(q.gold), correct=rank == 1)
        for q, rank, verdict, confidence, coverage in zip(questions, run.ranks, run.verdicts, run.confidence, run.coverage)
    ]


def reliability_diagram(kinds: dict[str, list[Outcome]], out: Path) -> None:
    """A PNG of two panels, each with the diagonal: coverage against answerability on the left-out set, and
    the answer probability against 'first evidence right' on every covered question, one line per set."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 5))
    left_out = next((outcomes for name, outcomes in kinds.items() if name.startswith(LEFT_OUT)), [])
    reliability_panel(left, {"left-out articles (v1.1)": ([o.coverage for o in left_out], [o.answerable for o in left_out])}, "coverage", "share answerable")
    answer_lines = {"every covered question": ([o.confidence for o in covered(kinds)], [o.correct for o in covered(kinds)])}
    for name, outcomes in kinds.items():
        kept = [o for o in outcomes if o.answerable or not name.startswith(LEFT_OUT)]
        label = "answerable v1.1 (left-out index)" if name.startswith(LEFT_OUT) else name
        answer_lines[label] = ([o.confidence for o in kept], [o.correct for o in kept])
    reliability_panel(right, answer_lines, "answer probability (confidence)", "share answered right (first evidence is gold)")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def reliability_panel(axes, lines: dict[str, tuple[list[float], list[bool]]], xlabel: str, ylabel: str) -> None:
    """Accuracy against predicted probability per bin, one line per set."""
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, (scores, labels) in lines.items():
        bins = calibration_bins(scores, labels)
        axes.plot([b[0] for b in bins], [b[1] for b in bins], marker="o", label=f"{name} (ECE {expected_calibration_error(scores, labels):.3f})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left", fontsize=8)


def half_questions(squad: Squad, half: str) -> list[UniqueQuestion]:
    """v2.0 questions of a half (the unanswerable ones have no gold)."""
    return [q for q in unique_questions(squad.questions, half) if in_half(q.article, half)]
