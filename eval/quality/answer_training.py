"""Fit the answer ranker and the verdict models on SQuAD's choosing half, through the service's own answer path.

Rows come from `service.core.answer.prepare_candidates` and `feature_matrix`, the code `/ask` runs, so the
ranker is fit on exactly the candidates and features it will see. Folds are by article.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from eval.quality.squad import Squad, UniqueQuestion
from service.core.answer import AnswerSettings, prepare_candidates, rank_sentences
from service.core.confidence import question_features
from service.core.retrieval import Retriever
from service.core.sentence_features import FEATURES, feature_matrix

FOLDS = 4
# LightGBM lambdarank settings, chosen by article-fold cross-validation on the choosing half.
RANKER_PARAMS = {
    "objective": "lambdarank",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 10,
    "verbose": -1,
    "seed": 13,
    "deterministic": True,
    "num_threads": 2,
}
ROUNDS = 300
# An extra sentence is quoted only when the ranker finds it more likely an answer than not.
EXTRA_EVIDENCE_PROBABILITY = 0.5


@dataclass(frozen=True)
class Collected:
    """One question's candidates as the service saw them, labelled."""

    article: int
    answerable: bool
    matrix: np.ndarray
    labels: np.ndarray
    base: dict[str, float]
    # The question as retrieval saw it and the candidates' texts, for the wording signals.
    question: str = ""
    texts: tuple[str, ...] = ()
    # What the fused-score path (no ranker) would judge: its verdict features, and whether its first sentence is gold.
    fused_features: dict[str, float] | None = None
    fused_correct: bool = False


def sentence_numbers(squad: Squad) -> dict[tuple[str, int, int], int]:
    """(doc_id, start, end) of every sentence of every paragraph to its number in the paragraph."""
    return {(doc_id, span.start, span.end): number for doc_id, p in squad.paragraphs.items() for number, span in enumerate(p.sentences)}


def collect_one(retriever: Retriever, question: UniqueQuestion, numbers: dict[tuple[str, int, int], int], settings: AnswerSettings) -> Collected:
    """Candidates, features and labels of one question."""
    prepared = prepare_candidates(retriever, question.text, 5, settings, ranked=True)
    candidates = prepared.candidates
    if candidates is None:
        empty = np.zeros((0, len(FEATURES)), dtype=np.float32)
        return Collected(question.article, bool(question.gold), empty, np.zeros(0, dtype=bool), {})
    matrix = feature_matrix(prepared.text, candidates, retriever.index.sentence_lexical)
    labels = []
    for sentence_id in candidates.sentence_ids:
        sentence = retriever.index.sentences[sentence_id]
        labels.append((sentence.doc_id, numbers.get((sentence.doc_id, sentence.start, sentence.end), -1)) in question.gold)
    base = question_features(retriever.index.sentence_lexical, prepared.text, prepared.context, matrix)
    fused_features, fused_correct = fused_outcome(retriever, question, numbers, settings)
    return Collected(
        question.article, bool(question.gold), matrix, np.array(labels, dtype=bool), base, prepared.text, tuple(candidates.texts), fused_features, fused_correct
    )


def fused_outcome(retriever: Retriever, question: UniqueQuestion, numbers: dict[tuple[str, int, int], int], settings: AnswerSettings) -> tuple[dict[str, float] | None, bool]:
    """The verdict features of the fused-score path, as the service computes them, and whether its first sentence is gold."""
    prepared = prepare_candidates(retriever, question.text, 5, settings, ranked=False)
    if prepared.candidates is None:
        return None, False
    ranking = rank_sentences(retriever, prepared.text, prepared.context, prepared.candidates, None, settings)
    if not ranking.sentence_ids:
        return None, False
    sentence = retriever.index.sentences[ranking.sentence_ids[0]]
    return ranking.features, (sentence.doc_id, numbers.get((sentence.doc_id, sentence.start, sentence.end), -1)) in question.gold


def collect(retriever: Retriever, questions: list[UniqueQuestion], squad: Squad, progress: bool = False) -> list[Collected]:
    """Rows of every question, asked of the retriever's index."""
    numbers, settings = sentence_numbers(squad), AnswerSettings()
    return [collect_one(retriever, q, numbers, settings) for q in tqdm(questions, desc="questions", disable=not progress)]


def fold_of(article: int) -> int:
    """The cross-validation fold of an article."""
    # Articles 4i..4i+3 share a fold, so a fold holds both indexed and left-out articles of each half.
    return article // 4 % FOLDS


def train_ranker(rows: Iterable[Collected], rounds: int = ROUNDS, params: dict | None = None):  # -> lightgbm.Booster
    """A lambdarank model over the rows that have a gold candidate."""
    import lightgbm

    usable = [row for row in rows if row.labels.any()]
    matrix = np.vstack([row.matrix for row in usable])
    labels = np.concatenate([row.labels for row in usable]).astype(int)
    categorical = [FEATURES.index("question_type")]
    data = lightgbm.Dataset(matrix, labels, group=[len(row.labels) for row in usable], categorical_feature=categorical, free_raw_data=False)
    return lightgbm.train(params or RANKER_PARAMS, data, num_boost_round=rounds)


def fold_rankers(rows: list[Collected], rounds: int = ROUNDS, params: dict | None = None) -> dict[int, object]:
    """One ranker per fold, each fit without that fold's articles."""
    return {fold: train_ranker([r for r in rows if fold_of(r.article) != fold], rounds, params) for fold in range(FOLDS)}


def out_of_fold_scores(rows: list[Collected], rankers: dict[int, object]) -> list[np.ndarray]:
    """Each row's candidates scored by the ranker that never saw its article."""
    return [rankers[fold_of(row.article)].predict(row.matrix, num_threads=1) if len(row.matrix) else np.zeros(0) for row in rows]


def first_rank(scores: np.ndarray, labels: np.ndarray) -> int | None:
    """1-based rank of the best gold candidate under scores (ties broken by position, as the service does)."""
    if not labels.any():
        return None
    order = np.lexsort((np.arange(len(scores)), -scores))
    return int(np.flatnonzero(labels[order])[0]) + 1


def probability_map(rows: list[Collected], scores: list[np.ndarray]) -> tuple[float, float]:
    """Platt scaling: (slope, intercept) of a logistic fit of 'this candidate is gold' on its ranker score."""
    from sklearn.linear_model import LogisticRegression

    flat = np.concatenate([s for s in scores if len(s)]).reshape(-1, 1)
    labels = np.concatenate([row.labels for row, s in zip(rows, scores) if len(s)])
    model = LogisticRegression(C=1e6).fit(flat, labels)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def onnx_ranker(booster) -> bytes:  # booster: lightgbm.Booster
    """The booster as an ONNX model (onnxmltools), input 'features' of FEATURES columns."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_lightgbm(booster, initial_types=[("features", FloatTensorType([None, len(FEATURES)]))], target_opset=15)
    return model.SerializeToString()


def ranker_scores(rows: list[Collected], rankers: dict[int, object], final, seen_articles: set[int]) -> list[np.ndarray]:
    """Scores from the fold ranker that never saw a row's article, or the final one for articles none saw."""
    return [
        (rankers[fold_of(row.article)] if row.article in seen_articles else final).predict(row.matrix, num_threads=1) if len(row.matrix) else np.zeros(0)
        for row in rows
    ]


@dataclass(frozen=True)
class TrainingSets:
    """Choosing-half rows of each source, asked through the service's answer path, and questions about real
    reports (eval/quality/report_training.py) with the files they came from."""

    full: list[Collected]
    left_out: list[Collected]
    near_miss: list[Collected]
    reports: list[Collected] = field(default_factory=list)
    report_sources: dict[str, str] = field(default_factory=dict)
    # Each report's article number, for telling which fold left it out.
    report_articles: dict[str, int] = field(default_factory=dict)


def cross_validation_figures(rows: list[Collected], scores: list[np.ndarray], method: str) -> dict[str, object]:
    """Out-of-fold R@1 and MRR of the ranker over answerable questions (a question without a gold candidate is a miss)."""
    ranks = [first_rank(s, row.labels) for row, s in zip(rows, scores) if row.answerable]
    found = np.array([rank if rank else np.inf for rank in ranks], dtype=np.float64)
    return {"method": method, "questions": len(ranks), "r@1": round(float(np.mean(found <= 1)), 4), "mrr": round(float(np.mean(1 / found)), 4)}


def write_ranker(directory: Path, booster, manifest_fields: dict) -> None:
    """ranker.onnx and its manifest (with the file's sha256) into directory."""
    import msgspec

    from service.core.ranker import MANIFEST_FILE, MODEL_FILE, RankerManifest

    model = onnx_ranker(booster)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(model)
    manifest = RankerManifest(sha256=hashlib.sha256(model).hexdigest(), features=list(FEATURES), **manifest_fields)
    (directory / MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")


def fit_answer_models(sets: TrainingSets, directory: Path, model: str, backend: str, squads: tuple, folds_out: Path | None = None) -> dict[str, object]:
    """The general ranker (SQuAD) in directory and, with report questions, the reports ranker (SQuAD and the
    reports) in directory/reports, each with its probability map and verdict models."""
    from service.core.ranker import REPORTS_RANKER

    written = fit_one_ranker(sets, [], directory, model, backend, squads, None)
    if sets.reports:
        reports = fit_one_ranker(sets, sets.reports, directory / REPORTS_RANKER, model, backend, squads, folds_out)
        written |= {f"reports ranker {name}": value for name, value in reports.items()}
    return written


def fit_one_ranker(
    sets: TrainingSets, report_rows: list[Collected], directory: Path, model: str, backend: str, squads: tuple, folds_out: Path | None
) -> dict[str, object]:
    """Fit a ranker on SQuAD's rows and report_rows (out-of-fold scores for everything downstream), its probability
    map, and its verdict models."""
    import lightgbm

    from eval.quality.verdict_training import fit_verdict_models, ranked_table
    from service.core.ranker import VERDICT_FILE

    squad_rows = sets.full
    ranked = squad_rows + report_rows
    rankers, final = fold_rankers(ranked), train_ranker(ranked)
    oof = out_of_fold_scores(ranked, rankers)
    slope, intercept = probability_map(ranked, oof)
    seen = {row.article for row in ranked}
    sources = {squad.name: squad.sha256 for squad in squads}
    reports = sets.report_sources if report_rows else {}
    fitted_on = {"squad": sources, "half": "choose", "reports": reports, "model": model, "backend": backend, "lightgbm": lightgbm.__version__, "rounds": ROUNDS}
    # The verdict models learn from questions of both kinds of unanswerable, each set about half
    # unanswerable; the full index's questions (all answerable) would tilt them towards answering.
    left_out = ranked_table(sets.left_out, ranker_scores(sets.left_out, rankers, final, seen))
    near_miss = ranked_table(sets.near_miss, ranker_scores(sets.near_miss, rankers, final, set()))
    verdict = fit_verdict_models(left_out, near_miss, fitted_on | {"questions": len(left_out.features) + len(near_miss.features)})
    squad_oof, report_oof = oof[: len(squad_rows)], oof[len(squad_rows) :]
    cross_validation = cross_validation_figures(squad_rows, squad_oof, f"{FOLDS}-fold by article, choosing half")
    if report_rows:
        cross_validation["reports"] = cross_validation_figures(report_rows, report_oof, f"{FOLDS}-fold by report, whole index")
    write_ranker(directory, final, {
        "version": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "model": model, "slope": round(slope, 6), "intercept": round(intercept, 6),
        "extra_evidence_probability": EXTRA_EVIDENCE_PROBABILITY, "fitted_on": fitted_on | {"questions": len(squad_rows), "report_questions": len(report_rows)},
        "cross_validation": cross_validation,
    })
    write_verdict(directory / VERDICT_FILE, verdict)
    if folds_out is not None:
        write_fold_rankers(folds_out, directory.parent, rankers, sets, manifest_fields={"model": model, "slope": round(slope, 6), "intercept": round(intercept, 6)}, verdict=verdict)
    figures = {"directory": directory, "r@1 (out of fold)": cross_validation["r@1"], "mrr (out of fold)": cross_validation["mrr"]}
    if report_rows:
        figures["reports r@1 (out of fold)"] = cross_validation["reports"]["r@1"]
    return figures | {"coverage threshold": verdict.coverage.threshold, "answer threshold": verdict.answer.threshold}


def write_fold_rankers(out: Path, general: Path, rankers: dict[int, object], sets: TrainingSets, manifest_fields: dict, verdict) -> None:
    """Each fold's reports ranker in out/fold-N/reports with the final verdict models, beside a copy of the general
    ranker, and held_out.json (the reports it never saw), for out-of-fold answers through the service's own path
    (`eval reports --ranker-folds`)."""
    import json
    import shutil

    from service.core.ranker import REPORTS_RANKER, VERDICT_FILE

    for fold, booster in rankers.items():
        folder = out / f"fold-{fold}"
        # The general ranker as shipped, and in reports/ the fold's: laid out as the shipped rankers.
        shutil.copytree(general, folder, ignore=shutil.ignore_patterns(REPORTS_RANKER), dirs_exist_ok=True)
        directory = folder / REPORTS_RANKER
        fields = {"version": f"fold-{fold}", "extra_evidence_probability": EXTRA_EVIDENCE_PROBABILITY, "fitted_on": {"fold": fold, "of": FOLDS}} | manifest_fields
        write_ranker(directory, booster, fields)
        write_verdict(directory / VERDICT_FILE, verdict)
        held_out = sorted(doc for doc, article in sets.report_articles.items() if fold_of(article) == fold)
        (folder / "held_out.json").write_text(json.dumps(held_out, indent=1) + "\n")


def fit_fused_verdict(sets: TrainingSets, out: Path, squads: tuple) -> dict[str, object]:
    """Fit the fused-score path's verdict models (the service's fallback without a ranker) from the same questions."""
    from eval.quality.verdict_training import fit_verdict_models, fused_table

    fitted_on = {"squad": {squad.name: squad.sha256 for squad in squads}, "half": "choose", "ranking": "fused dense and BM25 scores"}
    left_out, near_miss = fused_table(sets.left_out), fused_table(sets.near_miss)
    verdict = fit_verdict_models(left_out, near_miss, fitted_on | {"questions": len(left_out.features) + len(near_miss.features)})
    write_verdict(out, verdict)
    return {"file": out, "coverage threshold": verdict.coverage.threshold, "answer threshold": verdict.answer.threshold}


def write_verdict(path: Path, verdict) -> None:  # verdict: service.core.confidence.VerdictModel
    """A verdict file, formatted for reading and diffing."""
    import msgspec

    path.write_bytes(msgspec.json.format(msgspec.json.encode(verdict)) + b"\n")
