"""Commands for the SQuAD evaluations: ReQA answer-sentence retrieval, abstention, and fitting the answer ranker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from eval.options import backend_option
from eval.plotting import PlottingUnavailable, pyplot
from eval.quality.squad import HALVES, SquadError, load_squad, unique_questions
from indexer.encoding.embedding import DEFAULT_MODEL, ModelNotFound, load_encoder
from indexer.storage.store import IndexStoreError

# Where train-ranker --out puts the fused-score fallback's verdict models, beside the ranker's own.
FUSED_VERDICT_OUT = "fused-verdict.json"
BASELINE_MODELS = ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2")
half_option = click.option(
    "--half", type=click.Choice(HALVES), default="report", show_default=True,
    help="Articles at even positions (choose) are for choosing settings; report on odd ones (report) or all.",
)
cache_option = click.option(
    "--cache", type=click.Path(file_okay=False, path_type=Path), default=Path(".cache/reqa"), show_default=True,
    help="Where benchmark indexes and embeddings are kept.",
)


def pool_baselines(squad, half: str, models: tuple[str, ...], cache: Path, progress: bool) -> dict[str, dict[str, float]]:
    """ReQA metrics of each ranking function alone over the whole candidate pool."""
    from eval.quality.reqa import candidate_pool, dense_scores, lexical_scores, min_max_rows, rank_metrics, ranks_of, squad_pool_questions

    pool, where = candidate_pool(list(squad.paragraphs.values()))
    questions = unique_questions(squad.questions, half)
    golds = squad_pool_questions(squad, questions, where)
    rows: dict[str, dict[str, float]] = {}
    sentence_paragraph = lexical_scores([f"{t} {pool.paragraph_texts[p]}" for t, p in zip(pool.texts, pool.paragraph_of)], questions)
    rows["BM25 sentence"] = rank_metrics(ranks_of(lexical_scores(pool.texts, questions), golds))
    rows["BM25 sentence + paragraph"] = rank_metrics(ranks_of(sentence_paragraph, golds))
    for model in models:
        # The orientation fusion is of the first model only: paragraphs cost a larger model minutes.
        fusion = model == models[0]
        sentence, paragraph = dense_scores(load_encoder(model, "torch"), pool, questions, cache, progress, paragraphs=fusion)
        short = model.removeprefix("sentence-transformers/")
        rows[f"dense {short} sentence"] = rank_metrics(ranks_of(sentence, golds))
        if fusion:
            fused = 0.6 * min_max_rows(0.7 * sentence + 0.3 * paragraph) + 0.4 * min_max_rows(sentence_paragraph)
            rows[f"fusion: 0.6 × {short} (0.7 sentence + 0.3 paragraph) + 0.4 × BM25 s+p"] = rank_metrics(ranks_of(fused, golds))
    return rows


def service_rows(squad, half: str, model: str, backend: str, cache: Path, progress: bool) -> dict[str, dict[str, float]]:
    """ReQA metrics through the service: every paragraph indexed by the normal build, every question asked."""
    from eval.quality.answer_training import sentence_numbers
    from eval.quality.reqa import ask_all, cached_squad_index
    from indexer.build import BuildSettings
    from indexer.storage.store import open_index
    from service.core.answer import AnswerSettings
    from service.core.retrieval import Retriever

    encoder = load_encoder(model, backend)
    index_dir = cached_squad_index(list(squad.paragraphs.values()), encoder, BuildSettings(), cache, progress)
    retriever = Retriever(open_index(index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)
    questions, numbers = unique_questions(squad.questions, half), sentence_numbers(squad)
    rows = {}
    for label, settings in (("service (default)", AnswerSettings()), ("service, fused scores (before the ranker)", AnswerSettings(use_ranker=False))):
        metrics = ask_all(retriever, questions, numbers, settings, progress).metrics()
        rows[f"{label}, abstention off"] = metrics["abstention off"]
        rows[f"{label}, abstaining counts as a miss"] = metrics["with abstention"]
    return rows


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    """Rows of metrics as an aligned table."""
    click.echo(title)
    names = ["mrr", "r@1", "r@5", "r@10", "abstained"]
    click.echo(f"  {'':<78}" + "".join(f"{name:>10}" for name in names))
    for label, metrics in rows.items():
        click.echo(f"  {label:<78}" + "".join(f"{metrics[n]:>10.4f}" if n in metrics else f"{'':>10}" for n in names))


@click.command()
@click.argument("squad_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@half_option
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model of the service run.")
@backend_option
@click.option("--baseline-model", "baseline_models", multiple=True, default=BASELINE_MODELS, show_default=True, help="Dense baselines over the pool (repeatable).")
@click.option("--no-service", is_flag=True, help="Only the ranking functions over the pool.")
@cache_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def reqa(squad_file: Path, half: str, model: str, backend: str, baseline_models: tuple[str, ...], no_service: bool, cache: Path, as_json: bool) -> None:
    """ReQA answer-sentence retrieval on a SQuAD file: ranking functions over the pool, then the service itself."""
    started = time.perf_counter()
    try:
        squad = load_squad(squad_file)
        rows = pool_baselines(squad, half, baseline_models, cache, not as_json)
        if not no_service:
            rows |= service_rows(squad, half, model, backend, cache, not as_json)
    except (SquadError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    questions = unique_questions(squad.questions, half)
    summary = {"file": squad.name, "sha256": squad.sha256, "half": half, "questions": len(questions), "model": model, "backend": backend,
               "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    print_table(f"ReQA {squad.name}, {half} half: {len(questions)} unique questions, pool of every paragraph's sentences", rows)
    click.echo(f"  seconds {summary['seconds']}")


def squad_half_mean(values: list[float]) -> float:
    """Mean of a list, 0 when empty."""
    return float(np.mean(values)) if values else 0.0


def training_retriever(paragraphs, model: str, backend: str, cache: Path, progress: bool):
    """A retriever over an index of these paragraphs, built once into the cache."""
    from eval.quality.reqa import cached_squad_index
    from indexer.build import BuildSettings
    from indexer.storage.store import open_index
    from service.core.retrieval import Retriever

    encoder = load_encoder(model, backend)
    index_dir = cached_squad_index(paragraphs, encoder, BuildSettings(), cache, progress)
    return Retriever(open_index(index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)


def training_sets(squad_dir: Path, model: str, backend: str, cache: Path, progress: bool):
    """Choosing-half rows from the full v1.1 index, the left-out-articles index and the v2.0 index."""
    from eval.quality.abstention import indexed_paragraphs, left_out_questions
    from eval.quality.answer_training import TrainingSets, collect

    v1, v2 = load_squad(squad_dir / "dev-v1.1.json"), load_squad(squad_dir / "dev-v2.0.json")
    full = training_retriever(list(v1.paragraphs.values()), model, backend, cache, progress)
    left = training_retriever(indexed_paragraphs(v1), model, backend, cache, progress)
    near = training_retriever(list(v2.paragraphs.values()), model, backend, cache, progress)
    return TrainingSets(
        collect(full, unique_questions(v1.questions, "choose"), v1, progress),
        collect(left, left_out_questions(v1, "choose"), v1, progress),
        collect(near, unique_questions(v2.questions, "choose"), v2, progress),
    ), v1, v2


@click.command("train-ranker")
@click.argument("squad_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model whose ranker to fit.")
@backend_option
@cache_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Where to write the ranker [default: the service's rankers folder for the model].")
@click.option(
    "--report-questions", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Questions about real reports to fit the ranker on too (JSONL as `eval reports` reads; repeat for more files).",
)
@click.option("--reports-index", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Index of those reports (built with the same model).")
@click.option("--reports", "reports_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="The reports' PDFs, for golds given by offsets.")
@click.option("--folds-out", type=click.Path(file_okay=False, path_type=Path), help="Also write each fold's ranker here, for `eval reports --ranker-folds`.")
def train_ranker(
    squad_dir: Path, model: str, backend: str, cache: Path, out: Path | None, report_questions: tuple[Path, ...], reports_index: Path | None,
    reports_dir: Path | None, folds_out: Path | None,
) -> None:
    """Fit the answer ranker and verdict models on SQuAD's choosing half (SQUAD_DIR holds dev-v1.1.json and dev-v2.0.json)
    and on questions about real reports, and the verdict models of the fused-score fallback."""
    from eval.quality.answer_training import fit_answer_models, fit_fused_verdict
    from eval.quality.reports import ReportQuestionsError
    from service.core.confidence import FUSED_VERDICT
    from service.core.ranker import ranker_directory

    if report_questions and reports_index is None:
        raise click.UsageError("--report-questions needs --reports-index, an index of the reports they ask about")
    try:
        sets, v1, v2 = training_sets(squad_dir, model, backend, cache, progress=True)
        if report_questions:
            sets = with_report_rows(sets, report_questions, reports_index, reports_dir, model, backend)
        written = fit_answer_models(sets, out or ranker_directory(load_encoder(model, backend).model_name), model, backend, (v1, v2), folds_out)
        written |= {f"fused {name}": value for name, value in fit_fused_verdict(sets, out / FUSED_VERDICT_OUT if out else FUSED_VERDICT, (v1, v2)).items()}
    except (SquadError, ReportQuestionsError, IndexStoreError, ModelNotFound, ValueError) as error:
        raise click.ClickException(str(error)) from error
    for name, value in written.items():
        click.echo(f"  {name:<42}{value}")


def with_report_rows(sets, files: tuple[Path, ...], index_dir: Path, reports_dir: Path | None, model: str, backend: str):
    """The training sets with rows from questions about the reports of index_dir, and each file's sha256."""
    import dataclasses
    import hashlib

    from eval.quality.report_training import collect_reports, report_articles
    from eval.quality.reports import load_report_questions
    from service.core.retrieval import Retriever

    questions = [question for path in files for question in load_report_questions(path, reports_dir)]
    articles = report_articles(questions)
    rows = collect_reports(Retriever.open(index_dir, model, backend), questions, articles, progress=True)
    sources = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    return dataclasses.replace(sets, reports=rows, report_sources=sources, report_articles=articles)


def abstention_runs(squad_dir: Path, half: str, model: str, backend: str, cache: Path, progress: bool) -> dict[str, list]:
    """Outcomes of the half's questions for each kind of unanswerable, asked through the service with abstention on."""
    from eval.quality.abstention import half_questions, indexed_paragraphs, left_out_questions, outcomes_of
    from eval.quality.answer_training import sentence_numbers
    from eval.quality.reqa import ask_all
    from service.core.answer import AnswerSettings

    v1, v2 = load_squad(squad_dir / "dev-v1.1.json"), load_squad(squad_dir / "dev-v2.0.json")
    kinds = {}
    for name, squad, paragraphs, questions in (
        ("left-out articles (v1.1)", v1, indexed_paragraphs(v1), left_out_questions(v1, half)),
        ("near misses (v2.0 unanswerable)", v2, list(v2.paragraphs.values()), half_questions(v2, half)),
    ):
        retriever = training_retriever(paragraphs, model, backend, cache, progress)
        run = ask_all(retriever, questions, sentence_numbers(squad), AnswerSettings(), progress)
        kinds[name] = outcomes_of(run, questions)
    return kinds


@click.command()
@click.argument("squad_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@half_option
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
@cache_option
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write the reliability diagram (PNG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def abstention(squad_dir: Path, half: str, model: str, backend: str, cache: Path, plot: Path | None, as_json: bool) -> None:
    """Verdicts on SQuAD (SQUAD_DIR holds dev-v1.1.json and dev-v2.0.json): left-out articles and v2.0 near misses."""
    from eval.quality.abstention import answer_summary, covered, reliability_diagram, summarise

    if plot is not None:
        require_plotting()
    try:
        kinds = abstention_runs(squad_dir, half, model, backend, cache, not as_json)
    except (SquadError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    summary = {name: summarise(outcomes) for name, outcomes in kinds.items()}
    # The answer score is judged where the index covers the question: both sets but the left-out articles.
    summary["covered questions (answer score)"] = {"questions": float(len(covered(kinds))), **answer_summary(covered(kinds))}
    if plot is not None:
        reliability_diagram(kinds, plot)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Verdicts, {half} half, at the shipped thresholds")
    for name, metrics in summary.items():
        click.echo(f"  {name}")
        for metric, value in metrics.items():
            click.echo(f"    {metric:<36}{value:.4f}" if isinstance(value, float) and not value.is_integer() else f"    {metric:<36}{value:.0f}")


def require_plotting() -> None:
    """Fail before a long run whose plot could not be drawn."""
    try:
        pyplot()
    except PlottingUnavailable as error:
        raise click.ClickException(str(error)) from error
