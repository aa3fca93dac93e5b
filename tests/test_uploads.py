"""Adding and removing documents over HTTP: stored safely, indexed, published and answered without a restart."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from service.http.app import create_app
from service.settings import Settings
from tests.conftest import CORPUS, SEED_DOC
from tests.generated import MARINE_FINDING, MARINE_PAGE, write_long_pdf, write_pdf

KEY = "upload-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A corpus copy and its index, which the tests change."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(CORPUS, root / "corpus")
    build_index(root / "corpus", root / "index", encoder)
    return root


@pytest.fixture(scope="module")
def client(library: Path) -> Iterator[TestClient]:
    settings = Settings(index=library / "index", corpus=library / "corpus", api_key=KEY, max_upload_bytes=2 * 2**20, reload_poll_seconds=0)
    with TestClient(create_app(settings), timeout=300) as test_client:
        yield test_client


def upload(client: TestClient, name: str, data: bytes, **fields: str) -> object:
    return client.post("/documents", files={"file": (name, data, "application/octet-stream")}, data=fields, headers=AUTH)


def test_a_50_page_pdf_is_indexed_and_answered_with_its_page_without_a_restart(client: TestClient, library: Path, tmp_path: Path) -> None:
    before = client.get("/ready", headers=AUTH).json()
    data = write_long_pdf(tmp_path / "force-wide.pdf").read_bytes()
    response = upload(client, "force-wide.pdf", data, force="Exampleshire Constabulary", date="2022-06")
    assert response.status_code == 201, response.text
    added = response.json()
    assert added["doc_id"] == "force-wide.pdf" and added["format"] == "pdf" and added["pages"] == 50
    assert added["index_seconds"] > 0 and added["version"] != before["version"]
    assert client.get("/ready", headers=AUTH).json()["version"] == added["version"]
    answer = client.post("/ask", json={"question": "When were the marine unit's boats last serviced?"}, headers=AUTH).json()
    assert answer["evidence"][0]["text"] == MARINE_FINDING
    assert answer["evidence"][0]["doc_id"] == "force-wide.pdf" and answer["evidence"][0]["pages"] == [MARINE_PAGE]
    stored = client.get("/documents/force-wide.pdf", headers=AUTH).json()
    assert stored["metadata"]["force"] == "Exampleshire Constabulary" and stored["metadata"]["date"] == "2022-06"
    assert (library / "corpus" / "force-wide.pdf").read_bytes() == data


def test_file_names_are_sanitized_so_nothing_lands_outside_the_corpus(client: TestClient, library: Path, tmp_path: Path) -> None:
    data = write_pdf(tmp_path / "x.pdf").read_bytes()
    response = upload(client, "../../../etc/.hidden report?.pdf", data)
    assert response.status_code == 201, response.text
    assert response.json()["doc_id"] == "hidden-report-.pdf"
    assert (library / "corpus" / "hidden-report-.pdf").is_file()
    assert not (library / "etc").exists() and not Path("/etc/.hidden report?.pdf").exists()
    assert upload(client, "hidden-report-.pdf", data).status_code == 409  # already there, no replace
    assert upload(client, "hidden-report-.pdf", data, replace="true").status_code == 201


def test_bad_uploads_are_clear_4xx_and_leave_the_corpus_alone(client: TestClient, library: Path) -> None:
    files_before = sorted(p.name for p in (library / "corpus").iterdir())
    cases = [
        (upload(client, "tool.exe", b"MZ\x90\x00binary"), 415, ".exe is not supported"),
        (upload(client, "notes.txt", b"\x00\x01\x02binary"), 422, "binary"),
        (upload(client, "scan.pdf", b"%PDF-1.7\ngarbage"), 422, "unreadable PDF"),
        (upload(client, "empty.txt", b""), 400, "empty"),
        (upload(client, "big.txt", b"word " * (2**20)), 413, "IQA_MAX_UPLOAD_BYTES"),
        (upload(client, "ok.txt", b"A short report.", date="last spring"), 400, "date"),
        (upload(client, "metadata.csv", b"path,force\n"), 415, "not supported"),
        (upload(client, ".pdf", b"%PDF-1.7"), 400, "no usable name"),
        (client.post("/documents", files={"title": (None, "no file")}, headers=AUTH), 400, "missing required field `file`"),
        (client.post("/documents", data={"title": "not multipart"}, headers=AUTH), 400, "'file' part"),
    ]
    for response, status, message in cases:
        assert response.status_code == status and message in response.text, (status, response.text)
    assert sorted(p.name for p in (library / "corpus").iterdir()) == files_before
    # Above the 1 MiB limit on other requests, within this service's 2 MiB upload limit: accepted.
    padding = "<script>" + "x" * 1_500_000 + "</script>"
    page = f"<html><body>{padding}<main><p>The stables were inspected in the spring and found in good order.</p></main></body></html>"
    assert upload(client, "stables.html", page.encode()).status_code == 201


def test_document_changes_need_the_api_key(client: TestClient) -> None:
    assert client.post("/documents", files={"file": ("a.txt", b"A report.", "text/plain")}).status_code == 401
    assert client.delete("/documents/hmic-met-peel-2017.txt").status_code == 401


def test_delete_removes_a_document_from_answers(client: TestClient, library: Path) -> None:
    assert upload(client, "short.md", b"# Dogs\n\nThe dog section has eleven handlers and fourteen dogs.\n").status_code == 201
    question = {"question": "How many dogs does the dog section have?", "filters": {"doc_ids": ["short.md"]}}
    assert "fourteen dogs" in client.post("/ask", json=question, headers=AUTH).json()["passages"][0]["text"]
    removed = client.delete("/documents/short.md", headers=AUTH)
    assert removed.status_code == 200 and removed.json()["action"] == "removed"
    assert not (library / "corpus" / "short.md").exists()
    assert "notice" in client.post("/ask", json=question, headers=AUTH).json()
    assert client.delete("/documents/short.md", headers=AUTH).status_code == 404
    assert client.delete("/documents/../corpus/" + SEED_DOC, headers=AUTH).status_code == 404


def test_without_a_corpus_document_changes_are_off(index_dir: Path) -> None:
    with TestClient(create_app(Settings(index=index_dir, reload_poll_seconds=0))) as plain:
        response = plain.post("/documents", files={"file": ("a.txt", b"A report.", "text/plain")})
        assert response.status_code == 404 and "--corpus" in response.text


def test_a_file_the_build_leaves_out_is_refused_and_the_served_version_published_again(client: TestClient, library: Path) -> None:
    from indexer.storage.publish import published_version

    served = client.get("/ready", headers=AUTH).json()["version"]
    response = upload(client, "front-matter-only.md", b"---\ntitle: Nothing else\n---\n")
    assert response.status_code == 422 and "no text after the front matter" in response.text
    assert not (library / "corpus" / "front-matter-only.md").exists()
    assert published_version(library / "index") == served == client.get("/ready", headers=AUTH).json()["version"]
