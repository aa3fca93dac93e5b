"""Real inspection reports: three of the shared FTA Triennial Review PDFs indexed with the real model.

Titles come from the documents, an organisation named in a question selects its report, a "Finding:" lead
is quoted with the finding it leads into, a how-much question is not answered by a sentence with no price,
and `eval reports` scores the dev questions about these three reports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from eval.quality.reports import comparable, holds
from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from indexer.reading.loading import load_document
from indexer.reading.metadata import is_generic_title
from indexer.storage.store import open_index
from indexer.storage.templates import template_shares
from service.core.answer import AnswerSettings, answer_question, prepare_candidates
from service.core.answer_kinds import asked_kind, holds_kind
from service.core.filters import Filters
from service.core.named_documents import DocumentNames, without_words
from service.core.retrieval import RetrievalSettings, Retriever
from service.core.sentence_features import feature_matrix
from tests.conftest import ROOT

FTA = ROOT.parent / "shared" / "corpora" / "fta-triennial-2023"
REPORTS = ("colts", "bangor", "mta")
pytestmark = pytest.mark.skipif(not FTA.is_dir(), reason="../shared/corpora/fta-triennial-2023 is not beside this checkout")


@pytest.fixture(scope="module")
def fta_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real reports with their metadata sidecars, copied to a scratch folder (never into the repo)."""
    root = tmp_path_factory.mktemp("fta")
    for name in REPORTS:
        for suffix in (".pdf", ".meta.yaml"):
            shutil.copy(FTA / "reports" / f"fta-2023-{name}{suffix}", root / f"fta-2023-{name}{suffix}")
    return root


@pytest.fixture(scope="module")
def fta_index_dir(fta_corpus: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    out = tmp_path_factory.mktemp("fta-index")
    build_index(fta_corpus, out, encoder)
    return out


@pytest.fixture(scope="module")
def fta_retriever(fta_index_dir: Path, encoder: Encoder) -> Retriever:
    return Retriever(open_index(fta_index_dir, encoder.model_name, encoder.dimension, encoder.backend), encoder)


def test_a_template_name_or_final_report_never_titles_a_report(fta_corpus: Path) -> None:
    # COLTS's PDF is titled "RO State Grantee TRSMR 17 Report Template"; Bangor's has no title and opens "FINAL REPORT".
    titles = {name: load_document(fta_corpus / f"fta-2023-{name}.pdf", fta_corpus).title for name in REPORTS}
    assert "County of Lackawanna Transit System" in titles["colts"]
    assert "City of Bangor" in titles["bangor"]
    assert "Manchester Transit Authority" in titles["mta"]
    assert all(title.startswith("Fiscal Year 2023 Triennial Review") and not is_generic_title(title) for title in titles.values())


@pytest.mark.parametrize(("title", "generic"), [
    ("RO State Grantee TRSMR 17 Report Template", True), ("FINAL REPORT", True), ("Microsoft Word - peel.docx", True),
    ("Document1", True), ("", True), ("Untitled", True), ("PEEL inspection of the Metropolitan Police Service", False),
    ("Report on the vetting of police officers", False),
])
def test_generic_titles(title: str, generic: bool) -> None:
    assert is_generic_title(title) is generic


def test_template_share_is_the_share_of_three_word_runs_three_reports_use() -> None:
    texts = ["a deficiency was found here", "a deficiency was found there", "no deficiency was found at all", "the fleet is old"]
    shares = template_shares(texts, [0, 1, 2, 2])
    # Runs with counting words as #: "# deficiency was", "deficiency was found" are in reports 0, 1 and 2;
    # sentence 0 also has "was found here" (report 0 only): 2 of 3. Sentence 2: 2 of 4. Sentence 3: 0 of 2.
    assert shares.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 4, 0.0])
    assert template_shares(texts[:2], [0, 1]).tolist() == [0.0, 0.0], "fewer than three reports have no template"


def test_names_select_reports_only_when_rare_and_whole() -> None:
    names = DocumentNames({0: ["County of Lackawanna Transit System", "COLTS", "PA"], 1: ["City of Bangor", "Bangor", "ME"],
                           2: ["Manchester Transit Authority", "MTA", "NH"], 3: ["Monroe County Transportation Authority", "PA"],
                           4: ["Estuary Transit District", "CT"]})
    assert names.named("What did the FTA find at COLTS?").positions == (0,)
    assert names.named("What is the City of Bangor's bus fleet?").positions == (1,)
    assert names.named("Which transit agencies had procurement deficiencies?") is None
    assert names.named("What did reviewers find in PA?") is None, "a name two of five reports share selects none"
    named = names.named("What maintenance deficiency did the FTA find at Manchester Transit Authority?")
    assert named.positions == (2,)
    assert without_words("maintenance deficiency at Manchester Transit Authority?", named.words) == "maintenance deficiency at"


def test_a_named_organisation_is_answered_from_its_own_report(fta_retriever: Retriever) -> None:
    for question, doc_id in (("What is the service area population of COLTS?", "fta-2023-colts.pdf"),
                             ("What did the reviewers say about the City of Bangor's milestone progress reports?", "fta-2023-bangor.pdf"),
                             ("What maintenance deficiency did the FTA find at Manchester Transit Authority?", "fta-2023-mta.pdf")):
        answer = answer_question(fta_retriever, question)
        assert answer.evidence and {item.doc_id for item in answer.evidence} == {doc_id}, question
        assert {passage.doc_id for passage in answer.passages} == {doc_id}
    # The reader's own filters still win: naming COLTS within Bangor's report searches Bangor's.
    settings = RetrievalSettings(filters=Filters(doc_ids=["fta-2023-bangor.pdf"]))
    assert {p.doc_id for p in fta_retriever.search("COLTS maintenance", 5, settings)} == {"fta-2023-bangor.pdf"}


def test_a_finding_lead_is_quoted_with_the_finding(fta_retriever: Retriever) -> None:
    answer = answer_question(fta_retriever, "What maintenance deficiency did the FTA find at COLTS?")
    quote = answer.quote
    assert quote is not None and quote.doc_id == "fta-2023-colts.pdf"
    text = fta_retriever.index.documents[quote.doc_id].text
    assert text[quote.start : quote.end] == quote.text, "the passage is the report's exact text"
    assert (quote.key_start, quote.key_end) == (answer.evidence[0].start, answer.evidence[0].end)
    assert quote.start <= quote.key_start < quote.key_end <= quote.end
    assert quote.text.startswith("Finding:") and "one (1) deficiency was found" in quote.text
    assert holds(quote.text, "COLTS does not require MARTZ to provide a facility maintenance plan")
    assert answer.answer.startswith(f"“{quote.text}”")


def test_a_particular_sentence_is_quoted_alone(fta_retriever: Retriever) -> None:
    answer = answer_question(fta_retriever, "What is the service area population of COLTS?")
    assert answer.quote is not None and answer.quote.text == answer.evidence[0].text
    assert "366,713" in answer.quote.text


@pytest.mark.parametrize(("question", "kind"), [
    ("How much does a COLTS 31-day unlimited bus pass cost?", "amount"), ("What is AMTRAN's annual operating budget?", "amount"),
    ("How many riders does AMTRAN carry per year?", "count"), ("What is LCTA's annual ridership?", "count"),
    ("When did Estuary Transit District take over the service?", "date"), ("What did the inspector say about vetting?", None),
    ("Who runs the day-to-day bus operations for the Borough of Pottstown?", None),
])
def test_what_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_kind(question) == kind


def test_a_quote_holds_what_was_asked_for() -> None:
    assert holds_kind("The ZipLine fare is $5.00.", "amount")
    assert not holds_kind("COLTS offers a 31-consecutive day unlimited fare pass.", "amount")
    assert holds_kind("A fleet of 86 paratransit vehicles.", "count") and not holds_kind("A fleet of paratransit vehicles.", "count")
    assert holds_kind("On July 1, 2022, the towns joined.", "date") and not holds_kind("The towns joined the district.", "date")
    assert holds_kind("Anything at all.", None)


def test_a_price_asked_and_not_given_is_never_a_sure_answer(fta_retriever: Retriever) -> None:
    answer = answer_question(fta_retriever, "How much does a COLTS 31-day unlimited bus pass cost?")
    assert answer.verdict != "answer"
    assert answer.quote is None or not holds_kind(answer.quote.text, "amount")


def test_eval_reports_scores_the_dev_questions_of_these_reports(fta_index_dir: Path, tmp_path: Path, encoder: Encoder) -> None:
    lines = [line for line in (FTA / "questions-dev.jsonl").read_text(encoding="utf-8").splitlines() if any(f'"fta-2023-{name}"' in line for name in REPORTS)]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(eval_cli, ["reports", str(questions), "--index", str(fta_index_dir), "--model", encoder.model_name, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    rows = report["questions"]
    assert len(rows) == len(lines) == 21
    answerable = [row for row in rows if row["gold"]]
    assert report["figures"]["all"]["first_right"] == pytest.approx(np.mean([row["first_right"] for row in answerable]))
    assert all(row["first_right"] == (holds(row["first_quote"] or "", row["gold"])) for row in answerable)
    assert report["figures"]["all"]["first_right"] >= 0.3, "5 of these 15 answerable questions were right when this was written"
    text = CliRunner().invoke(eval_cli, ["reports", str(questions), "--index", str(fta_index_dir), "--model", encoder.model_name, "--closed"])
    assert text.exit_code == 0 and "closed" in text.output and "first_right" in text.output


def test_comparing_quotes_ignores_case_spacing_quotes_and_dashes() -> None:
    assert comparable("Technical Capacity – Award  Management’s") == comparable("technical capacity - award management's")
    assert holds("Before. The City’s MPR narratives were blank. After.", "The City's MPR narratives were blank.")
    assert not holds("Nothing here.", "")


def test_index_bench_times_reading_a_folder_beside_the_bare_encoder(fta_corpus: Path, tmp_path: Path) -> None:
    refused = CliRunner().invoke(eval_cli, ["index-bench", str(fta_corpus), "--limit", "1"])
    assert refused.exit_code == 2 and "a folder is read whole" in refused.output
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(fta_corpus / "fta-2023-mta.pdf", folder / "report.pdf")
    result = CliRunner().invoke(eval_cli, ["index-bench", str(folder)])
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines() if ":" in line}
    assert "1 documents" in lines["machine"]
    reading = float(lines["reading files"].split()[2])
    ratio = float(lines["read + build"].split("=")[1].split("x")[0])
    assert reading > 0 and ratio > 1, "reading a real PDF and building cost more than encoding its texts alone"


def test_a_sentences_section_is_found_by_bisection_as_by_walking_the_headings(fta_retriever: Retriever) -> None:
    from indexer.reading.structure import section_path

    records = fta_retriever.index.records
    position = records.position("fta-2023-colts.pdf")
    headings = records.layout(position)[1]
    spans = np.asarray(records.sentence_spans)
    starts = [int(start) for doc, start, _ in spans if doc == position]
    assert len(starts) > 500 and len(headings) > 20
    assert all(records.section(position, start) == section_path(headings, start) for start in starts)


def test_heading_terms_read_the_innermost_headings_or_the_whole_path() -> None:
    from service.core.sections import heading_terms

    assert heading_terms(("Review Background", "8.  Maintenance"), 2) == heading_terms(("Findings", "Review Background", "8.  Maintenance"), 2)
    assert "find" in heading_terms(("Findings", "Review Background", "8.  Maintenance"), 0)
    assert "mainten" in heading_terms(("8.  Maintenance",), 2) and heading_terms((), 0) == frozenset()


def test_structure_columns_see_the_section_a_question_names_and_the_series_template(fta_retriever: Retriever) -> None:
    from service.core.sentence_features import FEATURES

    prepared = prepare_candidates(fta_retriever, "What maintenance deficiency did the FTA find at COLTS?", 5, AnswerSettings(), ranked=True)
    matrix = feature_matrix(prepared.text, prepared.candidates, fta_retriever.index.sentence_lexical)
    column = {name: matrix[:, FEATURES.index(name)] for name in ("template_share", "section_terms", "section_path_terms", "section_place", "section_depth")}
    sections = [fta_retriever.index.records.context(fta_retriever.index.sentences[i].doc_id, fta_retriever.index.sentences[i].start, fta_retriever.index.sentences[i].end)[1] for i in prepared.candidates.sentence_ids]
    in_maintenance = np.array([any("Maintenance" in heading for heading in path[-2:]) for path in sections])
    assert in_maintenance.any() and (column["section_terms"][in_maintenance] > 0).all()
    unsectioned = np.array([not path for path in sections])
    assert (column["section_terms"][unsectioned] == 0).all() and (column["section_depth"] == [len(path) for path in sections]).all()
    assert (column["section_path_terms"] >= column["section_terms"]).all()
    assert ((0 <= column["section_place"]) & (column["section_place"] <= 1)).all() and (column["section_place"][~unsectioned] > 0).all()
    assert 0 <= column["template_share"].min() and column["template_share"].max() <= 1


def test_the_maintenance_question_is_answered_from_the_maintenance_section(fta_retriever: Retriever) -> None:
    answer = answer_question(fta_retriever, "What maintenance deficiency did the FTA find at COLTS?")
    assert any("Maintenance" in heading for heading in answer.quote.section)


def test_a_chat_reply_quotes_the_passage(fta_retriever: Retriever) -> None:
    from service.chat.replies import chat_reply

    answer = answer_question(fta_retriever, "What maintenance deficiency did the FTA find at COLTS?")
    reply = chat_reply(answer)
    first = reply.citations[0]
    assert (first.text, first.start, first.end) == (answer.quote.text, answer.quote.start, answer.quote.end)
    assert "COLTS does not require MARTZ" in "".join(reply.pieces)


def test_a_line_the_pdf_wrapped_is_quoted_whole_but_a_heading_is_not_taken_for_its_rest() -> None:
    from service.core.quotes import wraps_into

    assert wraps_into("•  Purchased five (5) new heavy-duty, CNG-powered buses in August 2021 with FTA &", "PennDOT funding")
    assert wraps_into("•  Rehabilitating three MCI coaches transferred to MTA from the Merrimack Valley Transit", "Authority.")
    assert not wraps_into("•  Built an auxiliary garage storage building with FTA and PennDOT funding", "Ongoing Projects")
    assert not wraps_into("The force must improve its vetting.", "Next.")
    assert not wraps_into("The plan covers buses and", "•  Vans")


def test_a_wrapped_list_item_is_quoted_with_its_rest_and_the_first_item_with_its_lead_in(fta_retriever: Retriever) -> None:
    from service.core.quotes import passage_end, passage_start

    index = fta_retriever.index
    item = next(i for i in range(len(index.sentences)) if index.sentences[i].text.startswith("•  Rehabilitating three MCI coaches"))
    assert index.sentences[passage_end(index, item)].text == "Authority."
    first = next(i for i in range(len(index.sentences)) if index.sentences[i].text.startswith("•  Procuring propane powered revenue vehicles"))
    assert index.sentences[passage_start(index, first)].text.endswith("the following noteworthy projects:")
    assert passage_start(index, item) == item, "only the first item is quoted with the lead-in"


def test_a_list_number_is_a_fragment_and_never_joins_a_passage() -> None:
    from service.core.quotes import is_fragment

    # "This is DRBA's first Triennial Review." was quoted with the "2." of the list item after it.
    assert is_fragment("2.") and is_fragment("9.") and is_fragment("14 | 16")
    assert not is_fragment("This is DRBA’s first Triennial Review.") and is_fragment("Ongoing Projects")
