"""GET /metrics, read with Prometheus's own parser: counts equal what was sent, per status, in one
process and summed over workers; the API key rule, and the open scrape port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from eval.perf.bench import free_port, process_tree, start_server
from indexer.encoding.embedding import Encoder
from indexer.storage.store import Index
from service.http.app import create_app
from service.settings import Settings
from tests.conftest import CORPUS, SEED_DOC

KEY = "metrics-key-1"
VETTING = "What did the inspector say about vetting?"


def samples(text: str, name: str) -> Counter:
    """Sample values by their labels (as a sorted tuple of pairs), for one sample name."""
    found: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] += sample.value
    return found


def delta(before: str, after: str, name: str) -> dict[tuple, float]:
    """How much each series of a sample grew between two scrapes."""
    old, new = samples(before, name), samples(after, name)
    return {labels: value - old[labels] for labels, value in new.items() if value != old[labels]}


def series(route: str, method: str, status: int) -> tuple:
    return (("method", method), ("route", route), ("status", str(status)))


def test_request_counts_equal_what_was_sent_per_status(client: TestClient) -> None:
    before = client.get("/metrics").text
    verdicts = Counter()
    for _ in range(3):
        response = client.post("/ask", json={"question": VETTING})
        assert response.status_code == 200
        verdicts[(("verdict", response.json()["verdict"]),)] += 1
    for body in (b"{oops", b'{"question": ""}'):
        assert client.post("/ask", content=body, headers={"content-type": "application/json"}).status_code == 400
    assert client.get("/search", params={"q": "detectives"}).status_code == 200
    assert client.get("/documents/no-such-report.txt").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    after = client.get("/metrics").text
    assert delta(before, after, "iqa_http_requests_total") == {
        series("/ask", "POST", 200): 3, series("/ask", "POST", 400): 2, series("/search", "GET", 200): 1,
        series("/documents/{doc_id}", "GET", 404): 1, series("unmatched", "GET", 404): 1,
        series("/metrics", "GET", 200): 1,  # the first scrape
    }
    assert delta(before, after, "iqa_http_request_duration_seconds_count")[(("route", "/ask"),)] == 5
    answers = delta(before, after, "iqa_answers_total")
    assert answers == verdicts and delta(before, after, "iqa_answer_confidence_count") == {(): 3}
    # Four questions reached the encoder (three asked, one searched), each waiting for its batch.
    assert delta(before, after, "iqa_encoder_wait_seconds_count") == {(): 4}
    assert 1 <= delta(before, after, "iqa_encoder_batch_size_count")[()] <= 4


def test_buckets_resolve_single_milliseconds(client: TestClient) -> None:
    text = client.get("/metrics").text
    bounds = {float(dict(labels)["le"]) for labels in samples(text, "iqa_http_request_duration_seconds_bucket")}
    assert {0.001, 0.002, 0.003, 0.004, 0.005, 0.01} <= bounds


def test_the_served_index_is_described_by_version(client: TestClient, index: Index) -> None:
    text = client.get("/metrics").text
    version = (("version", index.manifest.version),)
    assert samples(text, "iqa_index_documents") == {version: len(index.documents)}
    assert samples(text, "iqa_index_chunks") == {version: len(index.chunks)}
    assert samples(text, "iqa_index_sentences") == {version: len(index.sentences)}
    [info] = samples(text, "iqa_index_info")
    assert dict(info)["version"] == index.manifest.version and dict(info)["encoder"] == index.manifest.encoder


def test_reloads_uploads_and_builds_are_counted_with_their_outcome(index_dir: Path, tmp_path: Path) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(CORPUS / SEED_DOC, corpus / SEED_DOC)
    shutil.copytree(index_dir, root)
    auth = {"Authorization": f"Bearer {KEY}"}
    with TestClient(create_app(Settings(index=root, corpus=corpus, api_key=KEY, reload_poll_seconds=0))) as app:
        before = app.get("/metrics", headers=auth).text
        assert app.post("/admin/reload", headers=auth).json()["reloaded"] is False
        note = {"file": ("note.txt", b"The force has improved its custody suites since the last inspection.\n")}
        assert app.post("/documents", files=note, headers=auth).status_code == 201
        assert app.post("/documents", files={"file": ("empty.txt", b"")}, headers=auth).status_code == 400
        after = app.get("/metrics", headers=auth).text
    assert delta(before, after, "iqa_index_reloads_total") == {(("outcome", "unchanged"),): 1, (("outcome", "reloaded"),): 1}
    assert delta(before, after, "iqa_uploads_total") == {(("action", "add"), ("outcome", "published")): 1, (("action", "add"), ("outcome", "rejected")): 1}
    assert delta(before, after, "iqa_build_seconds_count") == {(): 1} and delta(before, after, "iqa_publish_seconds_count") == {(): 1}
    assert 0 < delta(before, after, "iqa_publish_seconds_sum")[()] < delta(before, after, "iqa_build_seconds_sum")[()]


def test_metrics_need_the_api_key_but_the_scrape_port_does_not(index_dir: Path, encoder: Encoder) -> None:
    port = free_port()
    process, base = start_server(index_dir, encoder.model_name, env={"IQA_API_KEY": KEY}, extra=("--metrics-port", str(port)))
    try:
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).status_code == 200
        httpx.post(f"{base}/ask", json={"question": VETTING}, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        open_scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert open_scrape.status_code == 200 and open_scrape.headers["content-type"].startswith("text/plain")
        assert samples(open_scrape.text, "iqa_http_requests_total")[series("/ask", "POST", 200)] == 1
    finally:
        process.terminate()
        process.wait(timeout=20)


def stale_figures(directory: Path) -> None:
    """A figure file left by an earlier run: 1,000 /ask requests that this run never served."""
    code = "from prometheus_client import Counter; Counter('iqa_http_requests', 'x', ['route', 'method', 'status']).labels('/ask', 'POST', '200').inc(1000)"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}, check=True)


def test_workers_figures_are_summed_and_the_directory_starts_empty(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    stale_figures(shared)
    process, base = start_server(index_dir, encoder.model_name, extra=("--workers", "2", "--metrics-dir", str(shared)))
    try:
        assert len(process_tree(process.pid)) >= 3
        # Four at a time, each on a new connection, so both workers take some.
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda _: httpx.post(f"{base}/ask", json={"question": VETTING}, timeout=30).status_code, range(20)))
        assert statuses == [200] * 20
        scrapes = [samples(httpx.get(f"{base}/metrics", timeout=10).text, "iqa_http_requests_total") for _ in range(6)]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert all(scrape[series("/ask", "POST", 200)] == 20 for scrape in scrapes)


def test_a_default_metrics_directory_is_removed_when_the_server_stops(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    process, base = start_server(index_dir, encoder.model_name, env={"TMPDIR": str(tmp_path)}, extra=("--workers", "2"))
    try:
        assert httpx.post(f"{base}/ask", json={"question": VETTING}, timeout=30).status_code == 200
        [directory] = tmp_path.glob(f"inspection-qa-metrics-{base.rsplit(':', 1)[1]}-*")
        assert any(directory.glob("*.db"))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not directory.exists()
