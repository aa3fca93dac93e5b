"""`python -m eval reports`: questions about real reports asked of the answering core, open and closed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eval.options import backend_option
from eval.quality.reports import ReportQuestionsError, ReportResult, ask_one, by_kind, document_of, load_report_questions
from indexer.encoding.embedding import DEFAULT_MODEL, ModelNotFound
from indexer.storage.store import IndexStoreError
from service.core.answer import AnswerSettings
from service.core.retrieval import Retriever

FIGURES = ("first_right", "top3_right", "read_on_right", "sure_right", "sure_wrong", "unanswerable_answered")


@click.command()
@click.argument("questions_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index of the reports.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with.")
@backend_option
@click.option(
    "--reports", "reports_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the reports' PDFs, for questions whose gold is given by offsets (eval/sets/fta-written.jsonl).",
)
@click.option("--ranker", "ranker_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Answer with this ranker (a train-ranker --out folder).")
@click.option(
    "--ranker-folds", type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Answer each question with the fold ranker that never saw its report (a train-ranker --folds-out folder): out-of-fold figures.",
)
@click.option("--closed", is_flag=True, help="Ask each question of its own report only (filters.doc_ids).")
@click.option("--json", "as_json", is_flag=True, help="Print figures and every question's outcome as JSON.")
@click.option("--misses/--no-misses", default=True, show_default=True, help="List the answerable questions whose first quote is wrong.")
def reports(
    questions_path: Path, index_dir: Path, model: str, backend: str, reports_dir: Path | None, ranker_dir: Path | None, ranker_folds: Path | None,
    closed: bool, as_json: bool, misses: bool,
) -> None:
    """Ask questions about real reports (JSONL: doc, question, kind, gold) and score the first quotes."""
    try:
        questions = load_report_questions(questions_path, reports_dir)
        retriever = Retriever.open(index_dir, model, backend)
    except (ReportQuestionsError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    doc_ids = list(retriever.index.documents)
    missing = sorted({q.doc for q in questions if document_of(q, doc_ids) is None})
    if missing:
        raise click.ClickException(f"the index holds no report named {', '.join(missing)}")
    settings = settings_by_report(questions, ranker_dir, ranker_folds)
    with click.progressbar(questions, label="asking", file=sys.stderr) as bar:
        results = [ask_one(retriever, question, document_of(question, doc_ids), closed, settings[question.doc]) for question in bar]
    table = by_kind(results)
    if as_json:
        click.echo(json.dumps({"scope": "closed" if closed else "open", "figures": table, "questions": [outcome(r) for r in results]}, indent=2, ensure_ascii=False))
        return
    print_table(table, questions_path, closed)
    if misses:
        print_misses(results)


def settings_by_report(questions: list, ranker_dir: Path | None, ranker_folds: Path | None) -> dict[str, AnswerSettings]:
    """The answer settings for each report's questions: the shipped ranker, one of one's own, or the fold's that left the report out."""
    if ranker_dir is not None and ranker_folds is not None:
        raise click.UsageError("give --ranker or --ranker-folds, not both")
    reports = {question.doc for question in questions}
    if ranker_folds is None:
        return dict.fromkeys(reports, AnswerSettings(ranker=ranker_dir))
    held_out = {}
    for folder in sorted(ranker_folds.glob("fold-*")):
        try:
            held_out |= dict.fromkeys(json.loads((folder / "held_out.json").read_text()), folder)
        except (OSError, ValueError) as error:
            raise click.ClickException(f"{folder}: no readable held_out.json ({error})") from error
    unseen = sorted(reports - set(held_out))
    if unseen:
        raise click.ClickException(f"no fold in {ranker_folds} left out {', '.join(unseen)}: those folds were fit on other questions")
    return {doc: AnswerSettings(ranker=held_out[doc]) for doc in reports}


def outcome(result: ReportResult) -> dict:
    """One question's outcome as plain data."""
    question = result.question
    return {"doc": question.doc, "kind": question.kind, "question": question.question, "gold": question.gold, "verdict": result.verdict,
            "first_quote": result.first_quote, "first_right": result.first_right, "top3_right": result.top3_right, "read_on_right": result.read_on_right}


def print_table(table: dict[str, dict[str, float]], path: Path, closed: bool) -> None:
    """The figures as rows, one column per kind of question."""
    counts = ", ".join(f"{kind} {f['questions']:.0f}" for kind, f in table.items())
    click.echo(f"{path.name} ({'closed: each question of its own report' if closed else 'open: the whole index'}): {counts}")
    click.echo(f"  {'':<24}" + "".join(f"{kind:>11}" for kind in table))
    for name in FIGURES:
        click.echo(f"  {name:<24}" + "".join(f"{f[name]:>11.3f}" for f in table.values()))


def print_misses(results: list[ReportResult]) -> None:
    """Each wrong first quote beside its gold, and each unanswerable question called "answer"."""
    for result in results:
        question = result.question
        if question.answerable and not result.first_right:
            click.echo(f"\nMISS [{question.kind}] {question.doc}: {question.question}\n  verdict {result.verdict}: {result.first_quote}\n  gold: {question.gold}")
        elif not question.answerable and result.verdict == "answer":
            click.echo(f"\nSURE ON UNANSWERABLE {question.doc}: {question.question}\n  quote: {result.first_quote}")
