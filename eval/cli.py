"""Command line for evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import click

from eval.dataset import EvalSetError, load_eval_set
from eval.run import EvalReport, QuestionResult, evaluate
from indexer.embedding import DEFAULT_MODEL, ModelNotFound
from indexer.store import IndexStoreError
from service.answer import AnswerSettings
from service.retrieval import Retriever

DEFAULT_SET = Path(__file__).parent / "sets" / "seed.jsonl"


@click.group()
def cli() -> None:
    """Measure retrieval and answer quality."""


@cli.command()
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index directory built by `python -m indexer build`.")
@click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL eval set.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with.")
@click.option("-k", "answer_k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages retrieved for each answer.")
@click.option("--abstain-below", default=AnswerSettings().abstain_below, show_default=True, type=float, help="Abstain when the best sentence scores below this.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="List every question's result.")
def run(index_dir: Path, set_path: Path, model: str, answer_k: int, abstain_below: float, as_json: bool, verbose: bool) -> None:
    """Evaluate an index on an eval set."""
    try:
        questions = load_eval_set(set_path)
        retriever = Retriever.open(index_dir, model)
        report = evaluate(retriever, questions, answer_k, AnswerSettings(abstain_below=abstain_below))
    except (EvalSetError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(report_as_dict(report, verbose), indent=2, ensure_ascii=False))
    else:
        print_report(report, set_path, verbose)


def report_as_dict(report: EvalReport, verbose: bool) -> dict:
    """JSON-ready report; per-question rows only when verbose."""
    data: dict = {"metrics": report.metrics}
    if verbose:
        data["questions"] = [question_row(result) for result in report.results]
    return data


def question_row(result: QuestionResult) -> dict:
    """One question's outcome as plain data."""
    return {
        "id": result.id,
        "question": result.question,
        "answerable": result.answerable,
        "first_hit_rank": result.first_hit_rank,
        "abstained": result.abstained,
        "evidence_correct": result.evidence_correct,
        "first_evidence": result.first_evidence,
    }


def print_report(report: EvalReport, set_path: Path, verbose: bool) -> None:
    """Metrics as an aligned table, then per-question lines when verbose."""
    metrics = report.metrics
    click.echo(f"{set_path.name}: {metrics['questions']} questions, {metrics['answerable']} answerable")
    for name, value in metrics.items():
        if name not in ("questions", "answerable"):
            click.echo(f"  {name:<22}{value:.3f}")
    if verbose:
        for result in report.results:
            click.echo(format_result(result))


def format_result(result: QuestionResult) -> str:
    """A one-line verdict for a question."""
    if not result.answerable:
        verdict = "ok   abstained" if result.abstained else "FAIL answered  "
    else:
        verdict = ("ok  " if result.evidence_correct else "FAIL") + f" hit@{result.first_hit_rank or '-'}"
        verdict += " abstained" if result.abstained else ""
    return f"{result.id:<10} {verdict:<18} {result.question}\n           -> {result.first_evidence or '(no evidence)'}"
