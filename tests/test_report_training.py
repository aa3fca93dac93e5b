"""Questions about real reports as ranker training rows, and golds given by offsets so no report text is copied."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from eval.quality.report_training import collect_report_one, is_gold, report_article
from eval.quality.reports import ReportQuestion, ReportQuestionsError, comparable, load_report_questions
from service.core.answer import AnswerSettings
from service.core.filters import Filters
from service.core.retrieval import RetrievalSettings, Retriever
from tests.conftest import ROOT
from tests.test_reports import FTA, REPORTS, fta_corpus, fta_index_dir, fta_retriever  # noqa: F401 (fixtures)

WRITTEN = ROOT / "eval" / "sets" / "fta-written.jsonl"
pytestmark = pytest.mark.skipif(not FTA.is_dir(), reason="../shared/corpora/fta-triennial-2023 is not beside this checkout")


def report_text(name: str) -> str:
    from pdfminer.high_level import extract_text

    return " ".join(extract_text(FTA / "reports" / f"fta-2023-{name}.pdf").split())


def test_a_gold_given_by_offsets_is_read_from_the_report_and_checked(tmp_path: Path) -> None:
    text = report_text("colts")
    start = text.index("COLTS had two (2) sole source procurements")
    gold = text[start : start + 90]
    row = {"doc": "fta-2023-colts", "question": "COLTS sole source procurements", "kind": "keyword", "gold": {"start": start, "end": start + 90, "sha256": hashlib.sha256(gold.encode()).hexdigest()[:16]}}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert load_report_questions(path, FTA / "reports")[0].gold == gold
    with pytest.raises(ReportQuestionsError, match="--reports"):
        load_report_questions(path)
    path.write_text(json.dumps(row | {"gold": row["gold"] | {"start": start + 1, "end": start + 91}}) + "\n")
    with pytest.raises(ReportQuestionsError, match="not the gold passage"):
        load_report_questions(path, FTA / "reports")


def test_the_written_questions_hold_no_report_text_and_resolve_to_their_golds(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines()]
    assert len(rows) > 500 and all(row["gold"] is None or set(row["gold"]) == {"start", "end", "sha256"} for row in rows)
    mine = tmp_path / "three.jsonl"
    mine.write_text("".join(json.dumps(row) + "\n" for row in rows if row["doc"].removeprefix("fta-2023-") in REPORTS))
    questions = load_report_questions(mine, FTA / "reports")
    assert len(questions) >= 40 and all(len(q.gold) > 20 for q in questions if q.answerable)
    assert any(not q.answerable for q in questions)


def test_a_report_question_labels_the_candidates_that_quote_its_gold(fta_retriever: Retriever) -> None:  # noqa: F811
    question = ReportQuestion("fta-2023-colts", "COLTS sole source procurements", "keyword", "COLTS had two (2) sole source procurements during the review period for VOIP and copier services.")
    row = collect_report_one(fta_retriever, question, "fta-2023-colts.pdf", report_article(3), AnswerSettings())
    assert row.labels.any() and row.matrix.shape[0] == len(row.labels)
    assert any(label and comparable(text) in comparable(question.gold) for text, label in zip(row.texts, row.labels))
    # The gold sentence's neighbours are not gold: the cover letter, the other findings.
    assert row.labels.sum() <= 2
    sentence_id = next(i for i in range(len(fta_retriever.index.sentences)) if fta_retriever.index.sentences[i].doc_id == "fta-2023-bangor.pdf")
    assert not is_gold(fta_retriever, sentence_id, "fta-2023-colts.pdf", question.gold)


def test_out_of_fold_answers_use_the_fold_ranker_that_left_the_report_out(fta_index_dir: Path, fta_retriever: Retriever, encoder, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    from click.testing import CliRunner

    from eval.cli import cli as eval_cli
    from service.core.answer import answer_question
    from service.core.ranker import ranker_directory

    from service.core.ranker import REPORTS_RANKER

    shipped, general_only, folds = ranker_directory(encoder.model_name), tmp_path / "general-only", tmp_path / "folds"
    shutil.copytree(shipped, general_only, ignore=shutil.ignore_patterns(REPORTS_RANKER))
    # COLTS's fold holds the shipped rankers; the other fold has no reports ranker, so its reports get the general one.
    for fold, (source, held_out) in enumerate(((shipped, ["fta-2023-colts"]), (general_only, ["fta-2023-bangor", "fta-2023-mta"]))):
        shutil.copytree(source, folds / f"fold-{fold}")
        (folds / f"fold-{fold}" / "held_out.json").write_text(json.dumps(held_out))
    lines = [line for line in (FTA / "questions-dev.jsonl").read_text(encoding="utf-8").splitlines() if any(f'"fta-2023-{name}"' in line for name in REPORTS)]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Closed, so every question is asked within its report and the reports ranker (where there is one) ranks it.
    base = ["reports", str(questions), "--index", str(fta_index_dir), "--model", encoder.model_name, "--json", "--closed"]

    def rows(*extra: str) -> dict[str, list]:
        result = CliRunner().invoke(eval_cli, [*base, *extra])
        assert result.exit_code == 0, result.output
        by_report: dict[str, list] = {}
        for row in json.loads(result.output[result.output.index("{"):])["questions"]:
            by_report.setdefault(row["doc"], []).append(row)
        return by_report

    with_shipped, with_general, with_folds = rows(), rows("--ranker", str(general_only)), rows("--ranker-folds", str(folds))
    assert with_shipped != with_general, "the two rankers must answer some question differently for this test to tell them apart"
    assert with_folds["fta-2023-colts"] == with_shipped["fta-2023-colts"]
    assert [with_folds[doc] for doc in ("fta-2023-bangor", "fta-2023-mta")] == [with_general[doc] for doc in ("fta-2023-bangor", "fta-2023-mta")]
    (folds / "fold-1" / "held_out.json").write_text(json.dumps(["fta-2023-bangor"]))
    refused = CliRunner().invoke(eval_cli, [*base, "--ranker-folds", str(folds)])
    assert refused.exit_code == 1 and "left out fta-2023-mta" in refused.output
    with pytest.raises(ValueError, match="holds no answer ranker"):
        answer_question(fta_retriever, "COLTS maintenance", settings=AnswerSettings(ranker=tmp_path))


def test_a_question_within_a_report_is_ranked_by_the_reports_ranker_and_others_by_the_general_one(fta_retriever: Retriever, retriever: Retriever, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    from service.core.answer import answer_question, shipped_models
    from service.core.ranker import REPORTS_RANKER, ranker_directory

    model = fta_retriever.encoder.model_name
    general, reports = shipped_models(model)[0], shipped_models(model, in_reports=True)[0]
    assert general.manifest.fitted_on["report_questions"] == 0 and reports.manifest.fitted_on["report_questions"] > 500
    directory = ranker_directory(model)

    def outcome(answer):  # everything but the time taken
        return answer.verdict, answer.confidence, [(e.doc_id, e.start, e.score) for e in answer.evidence]

    shutil.copytree(directory / REPORTS_RANKER, tmp_path / "only-reports")
    shutil.copytree(directory, tmp_path / "only-general", ignore=shutil.ignore_patterns(REPORTS_RANKER))
    # Within a report (here by filter: among three reports "COLTS" is too common a name to select one) the reports
    # ranker answers; elsewhere the general one.
    question = "What maintenance deficiency did the FTA find?"
    within = RetrievalSettings(filters=Filters(doc_ids=["fta-2023-colts.pdf"]))
    closed = answer_question(fta_retriever, question, settings=AnswerSettings(retrieval=within))
    assert outcome(closed) == outcome(answer_question(fta_retriever, question, settings=AnswerSettings(retrieval=within, ranker=tmp_path / "only-reports")))
    assert outcome(closed) != outcome(answer_question(fta_retriever, question, settings=AnswerSettings(retrieval=within, ranker=tmp_path / "only-general")))
    vetting = "What did the inspector say about vetting?"
    assert outcome(answer_question(retriever, vetting)) == outcome(answer_question(retriever, vetting, settings=AnswerSettings(ranker=tmp_path / "only-general")))
