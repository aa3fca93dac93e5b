"""Filters narrow a question to some documents before ranking, on a real index of four reports."""

from __future__ import annotations

import json
from pathlib import Path

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from eval.cli import cli as eval_cli
from service.http.app import create_app
from service.settings import Settings
from tests.conftest import SEED_DOC

VETTING = "What did the inspector say about vetting?"
EXAMPLESHIRE = "Exampleshire Constabulary"


def ask(client: TestClient, filters: dict | None = None, k: int = 3, question: str = VETTING) -> dict:
    body = {"question": question, "k": k} | ({"filters": filters} if filters is not None else {})
    response = client.post("/ask", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def quoting_client(mixed_index_dir: Path) -> Iterator[TestClient]:
    """The app over the mixed index with abstention off: these tests are about where the quote comes from.

    (The SQuAD-fit confidence model abstains on the Exampleshire vetting question, 0.10-0.20 against a
    0.20 threshold: topic questions over a small, single-subject corpus sit below SQuAD's levels; README.)
    """
    with TestClient(create_app(Settings(index=mixed_index_dir, abstain_below=0.0))) as test_client:
        yield test_client


def test_the_same_question_is_answered_from_the_document_the_filter_names(quoting_client: TestClient) -> None:
    unfiltered = ask(quoting_client, k=10)
    assert {SEED_DOC, "exampleshire-peel-2019.pdf"} <= {p["doc_id"] for p in unfiltered["passages"]}
    met = ask(quoting_client, {"force": ["Metropolitan Police Service"]})
    assert "improve its vetting" in met["evidence"][0]["text"] and {p["doc_id"] for p in met["passages"]} == {SEED_DOC}
    filtered = ask(quoting_client, {"force": [EXAMPLESHIRE.lower()], "report_type": ["PEEL inspection statement"]})
    assert "inspection level of clearance" in filtered["evidence"][0]["text"]
    assert filtered["evidence"][0]["pages"] == [2]
    assert {p["doc_id"] for p in filtered["passages"]} == {"exampleshire-peel-2019.pdf"}


def test_a_filtered_question_still_gets_its_full_k(mixed_client: TestClient) -> None:
    passages = ask(mixed_client, {"force": [EXAMPLESHIRE]}, k=6)["passages"]
    assert len(passages) == 6
    assert {p["doc_id"] for p in passages} <= {"exampleshire-peel-2019.pdf", "exampleshire-leadership.docx", "exampleshire-custody.html"}
    searched = mixed_client.get("/search", params={"q": "vetting", "k": 5, "force": EXAMPLESHIRE}).json()
    assert len(searched) == 5 and all(p["doc_id"].startswith("exampleshire") for p in searched)


def test_date_ranges_and_document_ids(mixed_client: TestClient) -> None:
    recent = ask(mixed_client, {"date_from": "2020"}, k=10)["passages"]
    assert {p["doc_id"] for p in recent} == {"exampleshire-custody.html", "exampleshire-leadership.docx"}
    in_2017 = ask(mixed_client, {"date_from": "2017-01", "date_to": "2017-12-31"}, k=10)["passages"]
    assert {p["doc_id"] for p in in_2017} == {SEED_DOC}
    one = mixed_client.get("/search", params={"q": "custody", "doc_id": "exampleshire-custody.html", "k": 3}).json()
    assert one and {p["doc_id"] for p in one} == {"exampleshire-custody.html"}


def test_a_filter_matching_nothing_is_an_empty_answer_with_a_notice(mixed_client: TestClient) -> None:
    answer = ask(mixed_client, {"force": ["Kent Police"]})
    assert answer["abstained"] is True and answer["passages"] == [] and "Kent Police" in answer["notice"]
    assert answer["answer"] == answer["notice"]
    searched = mixed_client.get("/search", params={"q": "vetting", "force": "Kent Police"})
    assert searched.status_code == 200 and searched.json() == [] and "Kent Police" in searched.headers["x-notice"]
    chat = mixed_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": VETTING}], "filters": {"force": ["Kent Police"]}})
    assert chat.status_code == 200 and "Kent Police" in chat.json()["choices"][0]["message"]["content"]


def test_the_chat_endpoint_takes_filters_as_an_extra_field(quoting_client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": VETTING}], "filters": {"doc_ids": ["exampleshire-peel-2019.pdf"]}}
    reply = quoting_client.post("/v1/chat/completions", json=body).json()
    assert reply["citations"][0]["doc_id"] == "exampleshire-peel-2019.pdf"
    assert "p. 2" in reply["choices"][0]["message"]["content"]


def test_bad_filters_are_400s_naming_the_field(mixed_client: TestClient) -> None:
    for filters, field in (({"date_from": "May 2019"}, "date_from"), ({"date_from": "2020", "date_to": "2019"}, "date_to"), ({"colour": "red"}, "colour"), ({"force": "Kent"}, "force")):
        response = mixed_client.post("/ask", json={"question": VETTING, "filters": filters})
        assert response.status_code == 400 and field in response.json()["detail"], response.text
    response = mixed_client.get("/search", params={"q": "vetting", "date_to": "2019-02-30"})
    assert response.status_code == 400 and "date_to" in response.json()["detail"]


def test_eval_questions_carry_their_own_filters(mixed_index_dir: Path, tmp_path: Path) -> None:
    questions = [
        {"id": "met", "question": VETTING, "filters": {"force": ["Metropolitan Police Service"]},
         "answers": [{"doc_id": SEED_DOC, "quote": "the force needs to improve its vetting"}]},
        {"id": "exampleshire", "question": VETTING, "filters": {"force": [EXAMPLESHIRE], "report_type": ["PEEL inspection statement"]},
         "answers": [{"doc_id": "exampleshire-peel-2019.pdf", "quote": "cleared its backlog of vetting renewals"}]},
    ]
    accuracy = {}
    for name, rows in (("filtered", questions), ("unfiltered", [{k: v for k, v in q.items() if k != "filters"} for q in questions])):
        eval_set = tmp_path / f"{name}.jsonl"
        eval_set.write_text("\n".join(json.dumps(q) for q in rows) + "\n", encoding="utf-8")
        # Abstention off, as in quoting_client: the question is which document the quote comes from.
        result = CliRunner().invoke(eval_cli, ["run", "--index", str(mixed_index_dir), "--set", str(eval_set), "--abstain-below", "0", "--json"])
        assert result.exit_code == 0, result.output
        accuracy[name] = json.loads(result.output)["metrics"]["answer_accuracy@1"]
    # The same question has a different right answer per force: only the filter can get both right.
    assert accuracy == {"filtered": 1.0, "unfiltered": 0.5}
