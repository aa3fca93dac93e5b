"""Run several retrieval configurations on one set and write a Markdown report with a plot."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from scipy import stats

from eval.perf.bench import machine_description
from eval.plotting import pyplot
from eval.quality.beir import CHUNK_DEPTH, load_queries, run_beir
from eval.quality.dataset import EvalQuestion
from eval.quality.metrics import as_ranking, mean, ndcg_at_k, recall_at_k, reciprocal_rank_at_k
from eval.quality.run import QuestionResult, evaluate
from indexer.build import BuildSettings, build_index
from indexer.encoding.embedding import Encoder
from indexer.storage.store import open_index
from service.core.answer import AnswerSettings
from service.core.retrieval import RetrievalSettings, Retriever, default_weights


@dataclass(frozen=True)
class Config:
    """One named configuration: how the index is built and how retrieval runs."""

    name: str
    build: BuildSettings
    retrieval: RetrievalSettings


@dataclass
class Outcome:
    """A configuration's summary metrics, per-question scores and recall@k curve."""

    config: Config
    metrics: dict[str, float]
    per_query: dict[str, float]
    recall_curve: list[float]
    sections: dict[str, dict[str, float]] = field(default_factory=dict)


def seed_configs() -> list[Config]:
    """Modes and fusions at the default chunking, and the default hybrid at other chunk sizes."""
    default = BuildSettings()
    return [
        Config("hybrid (default)", default, RetrievalSettings()),
        Config("hybrid, RRF", default, RetrievalSettings(fusion="rrf")),
        Config("dense", default, RetrievalSettings(mode="dense")),
        Config("lexical", default, RetrievalSettings(mode="lexical")),
        Config("hybrid, chunks 32/8", BuildSettings(32, 8), RetrievalSettings()),
        Config("hybrid, chunks 128/32", BuildSettings(128, 32), RetrievalSettings()),
    ]


def beir_configs(chunk: BuildSettings) -> list[Config]:
    """Modes and fusions at the benchmark chunking, shorter chunks, and the published whole-abstract dense protocol."""
    whole = BuildSettings(4096, 0)
    depth = CHUNK_DEPTH
    chunk_vectors_only = default_weights() | {"sentence_dense": 0.0}
    return [
        Config("hybrid (default)", chunk, RetrievalSettings(depth=depth)),
        Config("hybrid, RRF", chunk, RetrievalSettings(fusion="rrf", depth=depth)),
        Config("dense", chunk, RetrievalSettings(mode="dense", depth=depth)),
        Config("lexical", chunk, RetrievalSettings(mode="lexical", depth=depth)),
        Config("hybrid, chunks 256/64", BuildSettings(256, 64), RetrievalSettings(depth=depth)),
        Config("dense, whole-abstract vectors only (published protocol)", whole, RetrievalSettings(mode="dense", weights=chunk_vectors_only, depth=depth)),
    ]


def passage_recall_curve(results: list[QuestionResult], depth: int) -> list[float]:
    """Mean passage recall@k of answerable questions for k = 1..depth."""
    answerable = [r for r in results if r.answerable]
    return [mean([recall_at_k(r.ranking, r.gold_count, k) for r in answerable]) for k in range(1, depth + 1)]


def compare_seed(corpus: Path, questions: list[EvalQuestion], encoder: Encoder, configs: list[Config]) -> list[Outcome]:
    """Every configuration on an eval set, building one index per chunking in a scratch directory."""
    outcomes = []
    with tempfile.TemporaryDirectory() as scratch:
        indexes: dict[BuildSettings, Retriever] = {}
        for config in configs:
            if config.build not in indexes:
                out = Path(scratch) / f"{config.build.chunk_tokens}-{config.build.overlap_tokens}"
                build_index(corpus, out, encoder, config.build)
                indexes[config.build] = Retriever(open_index(out, encoder.model_name, encoder.dimension), encoder)
            report = evaluate(indexes[config.build], questions, settings=AnswerSettings(retrieval=config.retrieval))
            per_query = {r.id: reciprocal_rank_at_k(r.ranking, 10) for r in report.results if r.answerable}
            outcomes.append(Outcome(config, report.metrics, per_query, passage_recall_curve(report.results, 10), report.sections))
    return outcomes


def compare_beir(dataset: Path, split: str, encoder: Encoder, configs: list[Config], cache: Path) -> list[Outcome]:
    """Every configuration on a BEIR dataset, with nDCG@10 per query."""
    outcomes = []
    for config in configs:
        result = run_beir(dataset, split, encoder, config.build, config.retrieval, cache, progress=True)
        qrels = result.qrels
        per_query = {qid: ndcg_at_k([d for d, _ in result.run[qid]], qrels[qid], 10) for qid in qrels}
        curve = [
            mean([recall_at_k(as_ranking([d for d, _ in result.run[q]], rel), sum(1 for g in rel.values() if g > 0), k) for q, rel in qrels.items()])
            for k in range(1, 101)
        ]
        outcomes.append(Outcome(config, result.metrics, per_query, curve))
    return outcomes


def paired_tests(base: Outcome, other: Outcome) -> str:
    """Paired t-test and Wilcoxon signed-rank test on per-question scores, as a sentence."""
    ids = sorted(base.per_query)
    a, b = [base.per_query[i] for i in ids], [other.per_query[i] for i in ids]
    if a == b:
        return f"{base.config.name} and {other.config.name} score every question the same."
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(a, b, zero_method="zsplit")
    return (
        f"{base.config.name} vs {other.config.name}: mean {mean(a):.4f} vs {mean(b):.4f} over {len(ids)} questions; "
        f"paired t-test p = {t.pvalue:.4g}, Wilcoxon signed-rank p = {w.pvalue:.4g}."
    )


def plot_recall(outcomes: list[Outcome], path: Path, title: str) -> None:
    """Recall@k curves of every configuration, as a PNG."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for outcome in outcomes:
        ks = range(1, len(outcome.recall_curve) + 1)
        axes.plot(ks, outcome.recall_curve, label=outcome.config.name, linewidth=1.6)
    axes.set_xscale("log" if len(outcomes[0].recall_curve) > 20 else "linear")
    axes.set_xlabel("k")
    axes.set_ylabel("recall@k")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def differences(base: Outcome, other: Outcome, labels: dict[str, str], limit: int = 15) -> list[str]:
    """Markdown rows for the questions whose scores differ most between two configurations."""
    changed = sorted((other.per_query[q] - base.per_query[q], q) for q in base.per_query if other.per_query[q] != base.per_query[q])
    rows = ["| question | " + base.config.name + " | " + other.config.name + " |", "| --- | --- | --- |"]
    for delta, qid in sorted(changed, key=lambda pair: -abs(pair[0]))[:limit]:
        rows.append(f"| {qid}: {labels.get(qid, '')[:90]} | {base.per_query[qid]:.3f} | {other.per_query[qid]:.3f} |")
    return rows if changed else ["(no question scores differently)"]


def metrics_table(outcomes: list[Outcome], names: list[str]) -> list[str]:
    """Markdown table: one row per configuration, one column per metric."""
    rows = ["| configuration | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for outcome in outcomes:
        rows.append(f"| {outcome.config.name} | " + " | ".join(f"{outcome.metrics[n]:.4f}" for n in names) + " |")
    return rows


def write_report(outcomes: list[Outcome], out: Path, title: str, metric_names: list[str], per_query_metric: str, labels: dict[str, str], notes: list[str]) -> None:
    """The Markdown report and its PNG beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = out.with_suffix(".png")
    plot_recall(outcomes, plot, title)
    lines = [f"# {title}", "", f"Written by `python -m eval compare` on {date.today()}, on {machine_description()}.", "", *notes, ""]
    lines += ["## Metrics", "", *metrics_table(outcomes, metric_names), "", f"![recall@k]({plot.name})", ""]
    sections = [o for o in outcomes if o.sections]
    for section in sorted({name for o in sections for name in o.sections}):
        lines += [f"### Section: {section}", "", *metrics_table([Outcome(o.config, o.sections[section], {}, []) for o in sections], metric_names), ""]
    base = outcomes[0]
    lines += ["## Significance", "", f"Per-question {per_query_metric}, paired over the same questions.", ""]
    lines += [f"- {paired_tests(base, other)}" for other in outcomes[1:]]
    for other in outcomes[1:4]:
        lines += ["", f"## {base.config.name} vs {other.config.name}: questions that differ ({per_query_metric})", "", *differences(base, other, labels)]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def beir_labels(dataset: Path) -> dict[str, str]:
    """Query texts for the difference tables."""
    return load_queries(dataset)
