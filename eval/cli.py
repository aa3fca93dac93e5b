"""Command line for evaluations."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import click
import msgspec

from eval.options import BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS, DEFAULT_SET, backend_option
from eval.perf.cli import bench, index_bench, install_bench, scale, scale_service, scrape_bench, soak, upload_bench
from eval.quality.dataset import EvalSetError, load_eval_set
from eval.quality.reports_cli import reports
from eval.quality.run import EvalReport, QuestionResult, evaluate
from eval.quality.squad_cli import abstention, reqa, train_ranker
from indexer.encoding.embedding import DEFAULT_MODEL, ModelNotFound
from indexer.storage.store import IndexStoreError
from service.core.answer import AnswerSettings, shipped_models
from service.core.confidence import Calibration
from service.core.retrieval import FUSIONS, MODES, SENTENCE_SCAN_MAX, RetrievalSettings, Retriever, default_weights


@click.group()
def cli() -> None:
    """Measure retrieval and answer quality."""


@cli.command()
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index directory built by `python -m indexer build`.")
@click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL eval set.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with.")
@backend_option
@click.option("-k", "answer_k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages retrieved for each answer.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Retrievers to use.")
@click.option("--fusion", type=click.Choice(FUSIONS), default="convex", show_default=True, help="How hybrid mode fuses rankings.")
@click.option("--abstain-below", type=click.FloatRange(0, 1), help="Abstain below this confidence [default: the calibration's threshold].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="List every question's result.")
def run(index_dir: Path, set_path: Path, model: str, backend: str, answer_k: int, mode: str, fusion: str, abstain_below: float | None, as_json: bool, verbose: bool) -> None:
    """Evaluate an index on an eval set."""
    settings = AnswerSettings(retrieval=RetrievalSettings(mode=mode, fusion=fusion), abstain_below=abstain_below)
    try:
        questions = load_eval_set(set_path)
        retriever = Retriever.open(index_dir, model, backend)
        report = evaluate(retriever, questions, answer_k, settings)
    except (EvalSetError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(report_as_dict(report, verbose), indent=2, ensure_ascii=False))
    else:
        print_report(report, set_path, verbose)
        warn_if_in_sample(set_path, settings.calibration or shipped_models(retriever.encoder.model_name)[1].coverage)


def warn_if_in_sample(set_path: Path, calibration: Calibration) -> None:
    """Say so when the abstention figures come from the set the calibration was fit on."""
    fitted_on = calibration.fitted_on
    if fitted_on.get("sha256") == hashlib.sha256(set_path.read_bytes()).hexdigest():
        cv = calibration.cross_validation
        click.echo(
            f"note: the abstention model was fit on this set, so its abstention figures are in-sample; "
            f"leave-one-out: precision {cv.get('abstention_precision')}, recall {cv.get('abstention_recall')}"
        )


def report_as_dict(report: EvalReport, verbose: bool) -> dict:
    """JSON-ready report; per-question rows only when verbose."""
    data: dict = {"metrics": report.metrics, "sections": report.sections}
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
        "verdict": result.verdict,
        "evidence_correct": result.evidence_correct,
        "first_evidence": result.first_evidence,
    }


def print_report(report: EvalReport, set_path: Path, verbose: bool) -> None:
    """Metrics as an aligned table, then per-question lines when verbose."""
    columns = {"all": report.metrics, **report.sections}
    counts = ", ".join(f"{name} {m['questions']:.0f} ({m['answerable']:.0f} answerable)" for name, m in columns.items())
    click.echo(f"{set_path.name}: {counts}")
    click.echo(f"  {'':<22}" + "".join(f"{name:>13}" for name in columns))
    for name in report.metrics:
        if name not in ("questions", "answerable"):
            click.echo(f"  {name:<22}" + "".join(f"{m[name]:>13.3f}" for m in columns.values()))
    if verbose:
        for result in report.results:
            click.echo(format_result(result))


def format_result(result: QuestionResult) -> str:
    """A one-line verdict for a question."""
    if not result.answerable:
        verdict = ("ok   " if result.abstained else "FAIL ") + result.verdict
    else:
        verdict = ("ok  " if result.evidence_correct else "FAIL") + f" hit@{result.first_hit_rank or '-'} {result.verdict}"
    return f"{result.id:<10} {verdict:<18} {result.question}\n           -> {result.first_evidence or '(no evidence)'}"


@cli.command()
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index directory built by `python -m indexer build`.")
@click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL eval set with answerable and unanswerable questions.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with.")
@backend_option
@click.option("-k", "answer_k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages retrieved for each answer.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("calibration.json"), show_default=True, help="Where to write the coverage model (serve it with --calibration).")
def calibrate(index_dir: Path, set_path: Path, model: str, backend: str, answer_k: int, out: Path) -> None:
    """Fit a coverage model (answerable against unanswerable) on your own questions; report its leave-one-out figures."""
    from eval.quality.calibrate import calibrate as fit_calibration

    try:
        questions = load_eval_set(set_path)
        retriever = Retriever.open(index_dir, model, backend)
        calibration = fit_calibration(retriever, questions, set_path, answer_k, AnswerSettings())
    except (EvalSetError, IndexStoreError, ModelNotFound, ValueError) as error:
        raise click.ClickException(str(error)) from error
    out.write_bytes(msgspec.json.format(msgspec.json.encode(calibration)) + b"\n")
    click.echo(f"wrote {out}")
    for name, value in calibration.cross_validation.items():
        click.echo(f"  {name:<30}{value}")


@cli.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["test", "train", "dev"]), default="test", show_default=True, help="Which qrels to score.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Retrievers to use.")
@click.option("--fusion", type=click.Choice(FUSIONS), default="convex", show_default=True, help="How hybrid mode fuses rankings.")
@click.option("--weights", "weight_overrides", default="", help="Fusion weights to change, e.g. 'chunk_dense=1,sentence_dense=0'.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
@click.option("--chunk-tokens", default=BEIR_CHUNK_TOKENS, show_default=True, type=click.IntRange(8, 4096), help="Maximum tokens per chunk.")
@click.option("--overlap-tokens", default=BEIR_OVERLAP_TOKENS, show_default=True, type=click.IntRange(0, 4095), help="Overlap between chunks.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path(".cache/beir"), show_default=True, help="Where built benchmark indexes are kept.")
@click.option(
    "--sentence-scan-max", default=SENTENCE_SCAN_MAX, show_default=True, type=click.IntRange(0),
    help="Scan all sentence vectors up to this many sentences; beyond, score only candidate chunks' sentences (0 forces that).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--ray", "ray_address", metavar="ADDRESS", help="Build (and cache apart) the index on this Ray cluster: auto, local or host:port.")
def beir(
    dataset: Path, split: str, mode: str, fusion: str, weight_overrides: str, model: str, backend: str,
    chunk_tokens: int, overlap_tokens: int, cache: Path, sentence_scan_max: int, as_json: bool, ray_address: str | None,
) -> None:
    """Score retrieval on a BEIR-format DATASET (corpus.jsonl, queries.jsonl, qrels/)."""
    from eval.quality.beir import CHUNK_DEPTH, BeirError, run_beir
    from indexer.build import BuildSettings
    from indexer.encoding.embedding import load_encoder

    if overlap_tokens >= chunk_tokens:
        raise click.BadParameter(f"must be smaller than --chunk-tokens ({chunk_tokens})", param_hint="--overlap-tokens")
    started = time.perf_counter()
    try:
        weights = parse_weights(weight_overrides)
        retrieval = RetrievalSettings(mode=mode, fusion=fusion, weights=weights, depth=CHUNK_DEPTH, sentence_scan_max=sentence_scan_max)
        result = run_beir(dataset, split, load_encoder(model, backend), BuildSettings(chunk_tokens, overlap_tokens), retrieval, cache, progress=not as_json, ray=ray_address)
    except (BeirError, IndexStoreError, ModelNotFound, ValueError) as error:
        raise click.ClickException(str(error)) from error
    metrics = result.metrics | {"seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    built = f"; index built on Ray ({ray_address})" if ray_address else ""
    click.echo(f"{dataset.name} {split}, {mode}{' (' + fusion + ')' if mode == 'hybrid' else ''}, weights {retrieval.weights}: {metrics['queries']} queries{built}")
    for name in ("ndcg@10", "mrr@10", "recall@10", "recall@100"):
        click.echo(f"  {name:<12}{metrics[name]:.4f}")
    click.echo(f"  seconds     {metrics['seconds']}")


def parse_weights(overrides: str) -> dict[str, float]:
    """The default fusion weights with 'name=value,...' overrides applied."""
    weights = default_weights()
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        name, _, value = item.partition("=")
        if name not in weights:
            raise click.BadParameter(f"unknown weight {name!r}; known: {', '.join(weights)}", param_hint="--weights")
        try:
            weights[name] = float(value)
        except ValueError as error:
            raise click.BadParameter(f"{item!r} is not name=number", param_hint="--weights") from error
    return weights


@cli.command()
@click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL eval set (ignored with --beir).")
@click.option("--corpus", default=Path("corpus"), show_default=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Corpus the eval set asks about; indexed once per chunk size.")
@click.option("--beir", "dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Compare on this BEIR dataset instead of an eval set.")
@click.option("--split", type=click.Choice(["test", "train", "dev"]), default="test", show_default=True, help="BEIR qrels to score.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path(".cache/beir"), show_default=True, help="Where built benchmark indexes are kept.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Markdown report to write; the PNG plot goes beside it.")
@click.option("--quality-speed", "squad_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Instead: the quality-speed table of every model x backend x answer step; SQUAD_DIR holds dev-v1.1.json (needs --beir for SciFact).")
@click.option("--table-model", "table_models", multiple=True, default=("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"), show_default=True, help="Models in the quality-speed table (repeatable).")
@click.option("--table-backend", "table_backends", multiple=True, default=("onnx-int8", "torch"), show_default=True, help="Backends in the quality-speed table (repeatable).")
def compare(
    set_path: Path, corpus: Path, dataset: Path | None, split: str, model: str, backend: str, cache: Path, out: Path,
    squad_dir: Path | None, table_models: tuple[str, ...], table_backends: tuple[str, ...],
) -> None:
    """Run dense, lexical and hybrid variants and chunk sizes; write a report with a plot and tests."""
    from eval.quality import compare as comparison
    from eval.quality.squad_cli import require_plotting
    from indexer.build import BuildSettings
    from indexer.encoding.embedding import load_encoder

    require_plotting()
    if squad_dir is not None:
        write_quality_speed(squad_dir, dataset, corpus, table_models, table_backends, cache, out)
        return

    encoder = load_encoder(model, backend)
    if dataset is not None:
        outcomes = comparison.compare_beir(dataset, split, encoder, comparison.beir_configs(BuildSettings(BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS)), cache)
        notes = [f"Dataset `{dataset.name}`, split `{split}`: {outcomes[0].metrics['queries']:.0f} queries. A document scores its best chunk's fused score."]
        comparison.write_report(outcomes, out, f"{dataset.name} ({split})", ["ndcg@10", "mrr@10", "recall@10", "recall@100"], "nDCG@10", comparison.beir_labels(dataset), notes)
    else:
        questions = load_eval_set(set_path)
        outcomes = comparison.compare_seed(corpus, questions, encoder, comparison.seed_configs())
        notes = [f"Eval set `{set_path.name}` over `{corpus}`; abstention uses the shipped calibration (fit on this set, so in-sample)."]
        names = ["hit@1", "hit@3", "mrr@10", "recall@5", "answer_accuracy@1", "abstention_precision", "abstention_recall"]
        comparison.write_report(outcomes, out, f"{set_path.stem} eval set", names, "passage RR@10", {q.id: q.question for q in questions}, notes)
    click.echo(f"wrote {out} and {out.with_suffix('.png')}")


def write_quality_speed(squad_dir: Path, scifact: Path | None, corpus: Path, models: tuple[str, ...], backends: tuple[str, ...], cache: Path, out: Path) -> None:
    """Measure every combination and write the table."""
    import tempfile

    from eval.perf.quality_speed import markdown, measure

    if scifact is None:
        raise click.UsageError("--quality-speed needs --beir pointing at SciFact")
    with tempfile.TemporaryDirectory() as work:
        rows = measure(models, backends, squad_dir, scifact, corpus, cache.parent, Path(work), 10.0, click.echo)
    out.write_text("# Quality and speed of each encoder and answer step\n\n" + markdown(rows), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="train", show_default=True, help="Qrels to tune on (never the reported split).")
@click.option("--step", type=click.FloatRange(0.05, 0.5), default=0.1, show_default=True, help="Grid step of each weight.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Rows to print.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model.")
@backend_option
@click.option("--chunk-tokens", default=BEIR_CHUNK_TOKENS, show_default=True, type=click.IntRange(8, 4096), help="Maximum tokens per chunk.")
@click.option("--overlap-tokens", default=BEIR_OVERLAP_TOKENS, show_default=True, type=click.IntRange(0, 4095), help="Overlap between chunks.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path(".cache/beir"), show_default=True, help="Where built benchmark indexes are kept.")
def tune(dataset: Path, split: str, step: float, top: int, model: str, backend: str, chunk_tokens: int, overlap_tokens: int, cache: Path) -> None:
    """Grid-search the hybrid fusion weights on a BEIR split and print the best."""
    from eval.quality.beir import CHUNK_DEPTH, BeirError, cached_index, load_qrels, load_queries
    from eval.quality.tune import grid_search
    from indexer.build import BuildSettings
    from indexer.encoding.embedding import load_encoder
    from indexer.storage.store import open_index

    encoder = load_encoder(model, backend)
    try:
        qrels, queries = load_qrels(dataset, split), load_queries(dataset)
        index_dir = cached_index(dataset, encoder, BuildSettings(chunk_tokens, overlap_tokens), cache, progress=True)
    except (BeirError, IndexStoreError) as error:
        raise click.ClickException(str(error)) from error
    retriever = Retriever(open_index(index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)
    rows = grid_search(retriever, queries, qrels, RetrievalSettings(depth=CHUNK_DEPTH), step)
    click.echo(f"{dataset.name} {split}: {len(rows)} weightings, best first")
    for ndcg, recall, weights in rows[:top]:
        click.echo(f"  nDCG@10 {ndcg:.4f}  Recall@100 {recall:.4f}  " + " ".join(f"{k}={v:g}" for k, v in weights.items()))


@cli.command()
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index directory built by `python -m indexer build`.")
@click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL eval set.")
@click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with.")
@backend_option
@click.option("--tag", help="Only questions with this tag; without it, the untagged (main) questions.")
@click.option("-k", "answer_k", default=5, show_default=True, type=click.IntRange(1, 50), help="Passages retrieved for each answer.")
def ceiling(index_dir: Path, set_path: Path, model: str, backend: str, tag: str | None, answer_k: int) -> None:
    """The best hit@3 and answer accuracy@1 any fusion weighting reaches, fit on the set itself (an upper bound)."""
    from eval.quality import ceiling as bound

    try:
        questions = [q for q in load_eval_set(set_path) if q.answerable and ((tag in q.tags) if tag else not q.tags)]
        retriever = Retriever.open(index_dir, model, backend)
    except (EvalSetError, IndexStoreError, ModelNotFound) as error:
        raise click.ClickException(str(error)) from error
    if not questions:
        raise click.ClickException(f"no answerable questions {'tagged ' + repr(tag) if tag else 'without tags'} in {set_path}")
    settings = RetrievalSettings()
    result = bound.ceiling([bound.question_candidates(retriever, q, settings) for q in questions], k=answer_k)
    click.echo(f"{result.questions} answerable questions; fit on them, so an upper bound, not a result")
    click.echo(f"  best hit@3                {result.hit_at_3:.3f}  chunk weights {result.hit_weights}")
    click.echo(f"  best answer accuracy@1    {result.answer_accuracy:.3f}  chunk weights {result.answer_weights}, sentence dense share {result.sentence_dense_share}")


for command in (bench, index_bench, install_bench, scale, scale_service, scrape_bench, soak, upload_bench, reqa, train_ranker, abstention, reports):
    cli.add_command(command)
