"""Hot reload: new versions published while a client keeps asking, with no failed request."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
from litestar.testing import TestClient

from eval.perf.bench import process_tree, start_server
from indexer.build import build_index
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import published_version
from service.http.app import create_app
from service.settings import Settings, available_cores, worker_plan
from tests.conftest import CORPUS

KEY = "reload-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
NEW_REPORTS = [
    ("What did the inspector say about drones?", "The inspector praised the force's new drone unit for finding missing people quickly."),
    ("What did the inspector say about horses?", "The mounted branch keeps too many horses for the patrols it actually runs."),
]


def publish_with(encoder: Encoder, root: Path, corpus: Path, name: str, sentence: str) -> str:
    """Publish, under root, the test corpus plus one report (name, one sentence) copied to corpus; its version."""
    shutil.copytree(CORPUS, corpus)
    (corpus / name).write_text(sentence + "\n", encoding="utf-8")
    return build_index(corpus, root, encoder).version


def keep_asking(base: str, stop: threading.Event, failures: list[str], answered: list[int]) -> None:
    with httpx.Client(timeout=30, headers=AUTH) as client:
        while not stop.is_set():
            try:
                response = client.post(f"{base}/ask", json={"question": "What did the inspector say about vetting?"})
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as error:
                failures.append(repr(error))
            answered.append(1)


def test_reload_switches_versions_under_load_without_a_failed_request(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    # Reloads here come from /admin/reload only, so each one can be checked.
    process, base = start_server(root, encoder.model_name, env={"IQA_API_KEY": KEY, "IQA_RELOAD_POLL_SECONDS": "0"})
    stop, failures, answered = threading.Event(), [], []
    clients = [threading.Thread(target=keep_asking, args=(base, stop, failures, answered)) for _ in range(4)]
    try:
        for client in clients:
            client.start()
        for i, (question, sentence) in enumerate(NEW_REPORTS):
            publish_with(encoder, root, tmp_path / f"corpus{i}", "new.txt", sentence)
            reloaded = httpx.post(f"{base}/admin/reload", headers=AUTH, timeout=60).json()
            assert reloaded["reloaded"] and reloaded["version"] == published_version(root)
            assert httpx.get(f"{base}/ready", headers=AUTH, timeout=10).json()["version"] == published_version(root)
            answer = httpx.post(f"{base}/ask", json={"question": question}, headers=AUTH, timeout=30).json()
            assert answer["evidence"][0]["text"] == sentence
        again = httpx.post(f"{base}/admin/reload", headers=AUTH, timeout=60).json()
        assert again["reloaded"] is False
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
        process.terminate()
        process.wait(timeout=20)
    assert failures == [] and len(answered) > 20


def test_admin_is_disabled_without_an_api_key(client: TestClient) -> None:
    response = client.post("/admin/reload")
    assert response.status_code == 404 and "IQA_API_KEY" in response.json()["detail"]


def test_a_corrupt_new_version_is_refused_and_the_old_one_keeps_serving(encoder: Encoder, tmp_path: Path) -> None:
    from indexer.storage.publish import version_dir
    from service.http.app import create_app
    from service.settings import Settings

    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    with TestClient(create_app(Settings(index=root, api_key=KEY, reload_poll_seconds=0))) as app:
        served = app.get("/ready", headers=AUTH).json()["version"]
        corpus = tmp_path / "corpus"
        shutil.copytree(CORPUS, corpus)
        (corpus / "new.txt").write_text(NEW_REPORTS[0][1] + "\n", encoding="utf-8")
        build_index(corpus, root, encoder)
        (version_dir(root) / "chunk_spans.npy").write_text("[]")
        refused = app.post("/admin/reload", headers=AUTH)
        assert refused.status_code == 409 and f"kept serving {served}" in refused.json()["detail"]
        assert app.get("/ready", headers=AUTH).json()["version"] == served
        assert app.post("/ask", json={"question": "vetting"}, headers=AUTH).status_code == 200
        assert app.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_version_published_by_another_process_is_picked_up_without_asking(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    with TestClient(create_app(Settings(index=root, reload_poll_seconds=0.2))) as app:
        served = app.get("/ready").json()["version"]
        question, sentence = NEW_REPORTS[1]
        published = publish_with(encoder, root, tmp_path / "corpus", "horses.txt", sentence)
        deadline = time.monotonic() + 20
        while app.get("/ready").json()["version"] == served and time.monotonic() < deadline:
            time.sleep(0.1)
        assert app.get("/ready").json()["version"] == published
        assert sentence in app.post("/ask", json={"question": question}).json()["answer"]


def ready_versions(base: str, connections: int = 16) -> set[str]:
    """The version /ready reports over as many new connections (spread among the workers by the kernel)."""
    versions = set()
    for _ in range(connections):
        with httpx.Client(timeout=10) as client:
            versions.add(client.get(f"{base}/ready").json()["version"])
    return versions


def test_every_default_worker_serves_a_version_published_by_another_process(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    process, base = start_server(root, encoder.model_name, env={"IQA_RELOAD_POLL_SECONDS": "0.2"})
    try:
        # The supervisor and one worker per core (on one core, the one process).
        workers = worker_plan(Settings(), available_cores())[0]
        assert len(process_tree(process.pid)) >= (workers + 1 if workers > 1 else 1)
        served = ready_versions(base)
        question, sentence = NEW_REPORTS[0]
        published = publish_with(encoder, root, tmp_path / "corpus", "drones.txt", sentence)
        deadline = time.monotonic() + 30
        while (versions := ready_versions(base)) != {published} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served != {published} and versions == {published}
        assert httpx.post(f"{base}/ask", json={"question": question}, timeout=30).json()["evidence"][0]["text"] == sentence
    finally:
        process.terminate()
        process.wait(timeout=20)
