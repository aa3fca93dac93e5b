"""The load generators and the multi-worker server, driven for a second or two against 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from eval.perf.bench import drive_http, process_tree, start_server
from eval.perf.wrk import drive_wrk, wrk_available
from indexer.encoding.embedding import Encoder
from indexer.storage.store import Index, open_index
from service.core.retrieval import Retriever

QUESTIONS = ["What did the inspector say about vetting?", "Are there enough trained detectives?"]


def test_httpx_driver_counts_requests_and_errors(server: str) -> None:
    report = asyncio.run(drive_http(server, QUESTIONS, requests=20, concurrency=4))
    assert report.requests == 20 and report.errors == 0
    assert 0 < report.p50 <= report.p95 <= report.p99


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_driver_reports_figures_from_a_bounded_run(server: str) -> None:
    report = drive_wrk(server, QUESTIONS, concurrency=2, seconds=1)
    assert report.requests > 0 and report.errors == 0
    assert 0 < report.p50 <= report.p95 <= report.p99 and report.seconds < 5


def test_wrk_driver_refuses_other_hosts() -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        drive_wrk("http://example.org:80", QUESTIONS, concurrency=1, seconds=1)


def test_two_workers_serve_the_same_index(index_dir: Path, encoder: Encoder) -> None:
    process, base = start_server(index_dir, encoder.model_name, extra=("--workers", "2"))
    try:
        assert len(process_tree(process.pid)) >= 3  # the supervisor and its two workers
        for question in QUESTIONS * 5:
            response = httpx.post(f"{base}/ask", json={"question": question}, timeout=30)
            assert response.status_code == 200 and response.json()["evidence"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_scale_copies_are_a_servable_index_with_renamed_documents(index: Index, encoder: Encoder, tmp_path: Path) -> None:
    from eval.perf.scale_service import replicate_index

    manifest = replicate_index(index, tmp_path / "big", 3 * len(index.chunks), 0.5, tmp_path / "work")
    assert manifest.counts["chunks"] == 3 * len(index.chunks) and manifest.counts["documents"] == 3 * len(index.documents)
    copies = open_index(tmp_path / "big", encoder.model_name, encoder.dimension)
    for chunk_id in (0, len(copies.chunks) - 1):
        chunk = copies.chunks[chunk_id]
        assert chunk.doc_id.startswith("copy000") and copies.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
    found = Retriever(copies, encoder).search("What did the inspector say about vetting?", 3)
    # The copies' vectors carry noise (0.5 here), so the vetting chunk need not come first, but BM25 keeps it near the top.
    assert any("vetting" in passage.text for passage in found)


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_drained_wrk_run_and_metrics_count_the_same_requests(server: str) -> None:
    from eval.perf.scrape_bench import Scraper, ask_counts, wrk_run

    before = ask_counts(server, {})
    with Scraper(server, {}, interval=0.2) as scraper:
        figures = wrk_run(server, QUESTIONS, concurrency=4, seconds=1, drain=5)
    after = ask_counts(server, {})
    assert figures["sent"] > 0 and figures["statuses"] == {"200": figures["sent"]} and scraper.scrapes >= 3
    assert after["200"] - before.get("200", 0) == figures["sent"] and 0.9 < figures["seconds"] < 6


def test_the_stage_profile_accounts_for_every_millisecond_and_leaves_the_code_unwrapped(retriever: Retriever) -> None:
    from eval.perf.profile import OTHER, profile_answers
    from service.core import answer as answer_module
    from service.core.answer import answer_question

    before = (Encoder.encode, answer_module.feature_matrix)
    questions = ["What did the inspector say about vetting?", "Is the Met efficient?"]
    rows = {stage: (ms, share) for stage, ms, share in profile_answers(lambda q: answer_question(retriever, q), questions, 20)}
    assert {"encoder", "dense search", "lexical search", "fusion", "candidate gathering", "sentence features", "ranker", "confidence", "composing", OTHER} <= set(rows)
    assert abs(sum(share for _, share in rows.values()) - 1) < 1e-9
    assert all(ms > 0 for stage, (ms, _) in rows.items() if stage != OTHER)
    # Exclusive time: the encoder is charged once, not again to the retrieval stage that calls it.
    assert rows["encoder"][1] > 0.15
    assert (Encoder.encode, answer_module.feature_matrix) == before


def test_answers_and_the_encoder_are_timed_in_alternating_blocks(retriever: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.perf import bench

    order: list[str] = []
    answer_latencies, encoder_latencies = bench.answer_latencies, bench.encoder_latencies
    monkeypatch.setattr(bench, "answer_latencies", lambda *args, **kwargs: order.append("answer") or answer_latencies(*args, **kwargs))
    monkeypatch.setattr(bench, "encoder_latencies", lambda *args, **kwargs: order.append("encoder") or encoder_latencies(*args, **kwargs))
    local, encoder = bench.time_answer_and_encoder(retriever, QUESTIONS, 12, blocks=3)
    assert (local.label, local.requests, encoder.label, encoder.requests) == ("in-process", 12, "encoder alone", 12)
    # The warm-up, then each block's two in turn, the first alternating; every latency the encoder's or more.
    assert order == ["answer", "encoder", "answer", "answer", "encoder", "encoder", "answer"]
    assert 0 < encoder.p50 < local.p50


def test_a_load_run_gets_the_encoder_timed_just_around_it(retriever: Retriever) -> None:
    from eval.perf import bench

    result, around = bench.encoder_around(retriever, QUESTIONS, lambda: "ran")
    assert result == "ran" and around.requests == 2 * bench.PROBE_CALLS and around.p50 > 0
