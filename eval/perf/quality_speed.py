"""The quality-speed table: every encoder model x backend x answer step, measured the same way.

Quality: ReQA R@1 through the service on SQuAD v1.1's report half, SciFact test nDCG@10 (hybrid,
default settings) and the seed set's main-section answer accuracy. Speed: in-process answer p50 over the
encoder's p50 (the ratio that carries across machines), /ask p50 at concurrency 1
and answers/s at concurrency 32 (wrk against `python -m service` started as a user starts it), and the
encoder's indexing rate on SQuAD sentences and paragraphs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from eval.options import BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS, DEFAULT_SET
from eval.perf.bench import machine_description, start_server
from eval.quality.dataset import load_eval_set
from eval.quality.squad import load_squad, unique_questions
from indexer.build import BuildSettings, build_index
from indexer.encoding.embedding import load_encoder

ANSWER_STEPS = ("ranker", "fused")
# Sentences to paragraphs as SQuAD's index holds them (about five to one).
RATE_SENTENCES, RATE_PARAGRAPHS = 1000, 200


@dataclass(frozen=True)
class Combination:
    """One row of the table."""

    model: str
    backend: str
    answer_step: str

    @property
    def label(self) -> str:
        """The row's name."""
        return f"{self.model.removeprefix('sentence-transformers/')} · {self.backend} · {self.answer_step}"


def reqa_r_at_1(squad_file: Path, model: str, backend: str, use_ranker: bool, cache: Path) -> float:
    """ReQA R@1 of the service on the report half, abstention off."""
    from eval.quality.answer_training import sentence_numbers
    from eval.quality.reqa import ask_all, cached_squad_index, rank_metrics
    from indexer.storage.store import open_index
    from service.core.answer import AnswerSettings
    from service.core.retrieval import Retriever

    squad = load_squad(squad_file)
    encoder = load_encoder(model, backend)
    index_dir = cached_squad_index(list(squad.paragraphs.values()), encoder, BuildSettings(), cache, progress=False)
    retriever = Retriever(open_index(index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)
    run = ask_all(retriever, unique_questions(squad.questions, "report"), sentence_numbers(squad), AnswerSettings(use_ranker=use_ranker), progress=False)
    return rank_metrics(run.ranks)["r@1"]


def scifact_ndcg(dataset: Path, model: str, backend: str, cache: Path) -> float:
    """SciFact test nDCG@10, hybrid with the default weights."""
    from eval.quality.beir import CHUNK_DEPTH, run_beir
    from service.core.retrieval import RetrievalSettings

    settings = RetrievalSettings(depth=CHUNK_DEPTH)
    return run_beir(dataset, "test", load_encoder(model, backend), BuildSettings(BEIR_CHUNK_TOKENS, BEIR_OVERLAP_TOKENS), settings, cache).metrics["ndcg@10"]


def seed_accuracy(index_dir: Path, model: str, backend: str, use_ranker: bool) -> tuple[float, float]:
    """Main-section answer accuracy@1 of the seed set: with the default abstention, and with it off."""
    from eval.quality.run import evaluate
    from service.core.answer import AnswerSettings
    from service.core.retrieval import Retriever

    retriever, questions = Retriever.open(index_dir, model, backend), load_eval_set(DEFAULT_SET)
    figures = []
    for abstain_below in (None, 0.0):
        report = evaluate(retriever, questions, settings=AnswerSettings(use_ranker=use_ranker, abstain_below=abstain_below))
        figures.append(report.sections["main"]["answer_accuracy@1"])
    return figures[0], figures[1]


def serving_speed(index_dir: Path, model: str, backend: str, seconds: float) -> tuple[float, float, float]:
    """(p50 ms at concurrency 1, answers/s at 32, p99 ms at 32) from wrk against a real server."""
    from eval.perf.wrk import drive_wrk

    questions = [q.question for q in load_eval_set(DEFAULT_SET)]
    process, base = start_server(index_dir, model, backend=backend)
    try:
        drive_wrk(base, questions, 1, 2)  # warm-up
        single, loaded = drive_wrk(base, questions, 1, seconds), drive_wrk(base, questions, 32, seconds)
    finally:
        process.terminate()
        process.wait(timeout=20)
    return single.p50, loaded.rate, loaded.p99


def answer_over_encoder(index_dir: Path, model: str, backend: str, use_ranker: bool, requests: int = 300) -> float:
    """In-process answer p50 over the encoder's p50 (one question per call, served threads), timed in one run."""
    from eval.perf.bench import served_threads, time_answer_and_encoder
    from service.core.answer import AnswerSettings
    from service.core.retrieval import Retriever

    questions = [q.question for q in load_eval_set(DEFAULT_SET)]
    retriever, settings = Retriever.open(index_dir, model, backend, served_threads(backend, 1)), AnswerSettings(use_ranker=use_ranker)
    answer, encoder = time_answer_and_encoder(retriever, questions, requests, settings)
    return answer.p50 / encoder.p50


def indexing_rate(squad_file: Path, model: str, backend: str) -> float:
    """Texts embedded per second on SQuAD sentences and paragraphs (the encoder bounds a build's speed)."""
    from eval.quality.reqa import candidate_pool

    pool, _ = candidate_pool(list(load_squad(squad_file).paragraphs.values()))
    texts = pool.texts[:RATE_SENTENCES] + pool.paragraph_texts[:RATE_PARAGRAPHS]
    encoder = load_encoder(model, backend)
    encoder.encode(texts[:32])
    started = time.perf_counter()
    encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def seed_index(corpus: Path, model: str, backend: str, work: Path) -> Path:
    """The bundled corpus indexed with this encoder."""
    out = work / f"{model.replace('/', '_')}-{backend}"
    build_index(corpus, out, load_encoder(model, backend))
    return out


def measure(models: tuple[str, ...], backends: tuple[str, ...], squad_dir: Path, scifact: Path, corpus: Path, cache: Path, work: Path, seconds: float, say) -> list[dict]:
    """Every row of the table; encoder-level figures are measured once per model and backend."""
    from service.core.answer import shipped_models

    rows = []
    for model in models:
        for backend in backends:
            say(f"{model} {backend}: indexing rate, SciFact, serving")
            index_dir = seed_index(corpus, model, backend, work)
            shared = {"texts_per_s": indexing_rate(squad_dir / "dev-v1.1.json", model, backend),
                      "scifact_ndcg@10": scifact_ndcg(scifact, model, backend, cache / "beir")}
            shared["ask_p50_ms_c1"], shared["answers_per_s_c32"], shared["p99_ms_c32"] = serving_speed(index_dir, model, backend, seconds)
            steps = ANSWER_STEPS if shipped_models(load_encoder(model, backend).model_name)[0] else ("fused",)
            for step in steps:
                say(f"{model} {backend} {step}: ReQA and the seed set")
                row = {"combination": Combination(model, backend, step).label, **shared}
                row["reqa_r@1_report"] = reqa_r_at_1(squad_dir / "dev-v1.1.json", model, backend, step == "ranker", cache / "reqa")
                row["seed_accuracy"], row["seed_accuracy_no_abstention"] = seed_accuracy(index_dir, model, backend, step == "ranker")
                row["answer_over_encoder"] = answer_over_encoder(index_dir, model, backend, step == "ranker")
                rows.append(row)
    return rows


COLUMNS = (
    ("reqa_r@1_report", "ReQA R@1 (report half)", "{:.3f}"), ("scifact_ndcg@10", "SciFact nDCG@10", "{:.4f}"),
    ("seed_accuracy", "seed acc@1 (main)", "{:.3f}"), ("seed_accuracy_no_abstention", "seed acc@1, no abstention", "{:.3f}"),
    ("answer_over_encoder", "in-process p50 / encoder p50", "{:.2f}"), ("ask_p50_ms_c1", "/ask p50 c=1 (ms)", "{:.1f}"), ("answers_per_s_c32", "answers/s c=32", "{:.0f}"),
    ("p99_ms_c32", "p99 c=32 (ms)", "{:.0f}"), ("texts_per_s", "indexing texts/s", "{:.0f}"),
)


def markdown(rows: list[dict]) -> str:
    """The table, with the machine it was measured on."""
    lines = [f"Measured on {machine_description()}.", "", "| model · backend · answer step | " + " | ".join(title for _, title, _ in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    for row in rows:
        lines.append(f"| {row['combination']} | " + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
