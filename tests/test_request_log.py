"""One JSON line per request, carrying the X-Request-ID its response carried."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from eval.perf.bench import start_server
from indexer.encoding.embedding import Encoder
from indexer.storage.store import Index
from service.http import metrics
from service.http.request_log import LOGGER_NAME, LineWriter

VETTING = "What did the inspector say about vetting?"


class Lines(logging.Handler):
    """Keeps the request lines, parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture()
def logged(client: TestClient) -> Iterator[Lines]:
    """The request lines the session app writes during one test."""
    handler = Lines()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_the_line_carries_the_id_the_response_carried(client: TestClient, logged: Lines, index: Index) -> None:
    given = client.post("/ask", json={"question": VETTING}, headers={"X-Request-ID": "trace-42.a:b"})
    fresh = client.post("/ask", json={"question": "What is the capital of France?"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    assert len(fresh.headers["x-request-id"]) == 32
    first, second = logged.lines
    assert first["request_id"] == "trace-42.a:b" and second["request_id"] == fresh.headers["x-request-id"]
    assert first["route"] == "/ask" and first["method"] == "POST" and first["status"] == 200 and first["ms"] > 0
    assert first["question_chars"] == len(VETTING) and first["abstained"] is False
    assert first["confidence"] == given.json()["confidence"] and first["index_version"] == index.manifest.version
    assert second["abstained"] is True
    assert "question" not in first and VETTING not in json.dumps(logged.lines)
    assert first["time"].endswith("+00:00")


def test_errors_and_unknown_paths_get_an_id_too(client: TestClient, logged: Lines) -> None:
    responses = [
        client.post("/ask", content=b"{oops", headers={"content-type": "application/json"}),
        client.get("/no/such/path"),
        client.get("/documents/missing.txt"),
    ]
    assert [r.status_code for r in responses] == [400, 404, 404]
    assert [line["request_id"] for line in logged.lines] == [r.headers["x-request-id"] for r in responses]
    assert [line["status"] for line in logged.lines] == [400, 404, 404]


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "ünïcode", "a\tb", ""])
def test_an_unsafe_request_id_is_replaced_not_echoed(client: TestClient, logged: Lines, bad: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": bad.encode("utf-8")})
    assert response.headers["x-request-id"] != bad and len(response.headers["x-request-id"]) == 32
    assert logged.lines[-1]["request_id"] == response.headers["x-request-id"]


def test_a_real_server_logs_each_request_with_its_id_and_the_question_when_asked(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, encoder.model_name, extra=("--log-level", "info", "--log-questions"), log_path=log)
    try:
        given = httpx.post(f"{base}/ask", json={"question": VETTING}, headers={"X-Request-ID": "abc-123"}, timeout=30)
        chat = httpx.post(f"{base}/v1/chat/completions", json={"messages": [{"role": "user", "content": VETTING}]}, timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=20)
    lines = {line["request_id"]: line for line in map(json.loads, filter(lambda text: text.startswith("{"), log.read_text().splitlines()))}
    assert given.headers["x-request-id"] == "abc-123" and lines["abc-123"]["question"] == VETTING
    assert lines["abc-123"]["abstained"] is False and lines["abc-123"]["status"] == 200
    chat_line = lines[chat.headers["x-request-id"]]
    assert chat_line["route"] == "/v1/chat/completions" and chat_line["question_chars"] == len(VETTING)


def test_a_real_server_at_warning_prints_no_info_lines(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, encoder.model_name, log_path=log)  # start_server asks for --log-level warning
    try:
        assert httpx.post(f"{base}/ask", json={"question": VETTING}, timeout=30).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert [line for line in log.read_text().splitlines() if "INFO" in line] == []


def test_litestar_and_library_loggers_follow_the_server_level(index_dir: Path, encoder: Encoder) -> None:
    from service.http.app import create_app
    from service.settings import Settings

    root, litestar = logging.getLogger(), logging.getLogger("litestar")
    before = root.level, litestar.level
    try:
        app = create_app(Settings(index=index_dir, model=encoder.model_name, log_level="error"))
        assert app.logger.getEffectiveLevel() == logging.ERROR and root.level == logging.ERROR
    finally:
        root.setLevel(before[0])
        litestar.setLevel(before[1])


@pytest.mark.parametrize(("level", "written"), [("info", 1), ("INFO", 1), ("debug", 1), ("warning", 0), ("error", 0)])
def test_request_lines_follow_the_log_level(level: str, written: int) -> None:
    from service.http.request_log import RequestLog, RequestNote

    handler = Lines()
    log = RequestLog(level)
    log.logger.addHandler(handler)
    try:
        log.write("id-1", "GET", "/health", 200, 0.001, RequestNote())
    finally:
        log.logger.removeHandler(handler)
    assert len(handler.lines) == written


def test_a_server_whose_stderr_nobody_reads_keeps_answering(index_dir: Path, encoder: Encoder) -> None:
    # No log_path: stderr is a pipe this test never reads. 2,000 request lines are far more than its 64 KiB.
    process, base = start_server(index_dir, encoder.model_name, extra=("--log-level", "info"))
    try:
        with httpx.Client(timeout=10) as http:
            statuses = {http.get(f"{base}/health").status_code for _ in range(2000)}
            answer = http.post(f"{base}/ask", json={"question": VETTING})
        assert statuses == {200} and answer.status_code == 200 and answer.json()["evidence"]
    finally:
        process.kill()
        process.wait(timeout=20)


def test_lines_past_the_writers_backlog_are_dropped_and_counted() -> None:
    blocked = threading.Event()

    class StuckStream(io.StringIO):
        def write(self, text: str) -> int:
            blocked.wait(5)
            return super().write(text)

    stream = StuckStream()
    writer = LineWriter(stream)
    counted_before = metrics.PROCESS.get_sample_value("iqa_request_lines_dropped_total")
    logger = logging.getLogger("tests.stuck-stderr")
    logger.propagate = False
    logger.addHandler(writer)
    try:
        for number in range(LineWriter.MAX_WAITING + LineWriter.MAX_BATCH + 50):
            logger.warning("line %d", number)
        dropped = metrics.PROCESS.get_sample_value("iqa_request_lines_dropped_total") - counted_before
        # The writer holds one batch at most (the one it is stuck writing); every line past that and the backlog is dropped.
        assert 50 <= dropped <= LineWriter.MAX_BATCH + 49
    finally:
        blocked.set()
        writer.finish()
        logger.removeHandler(writer)
    assert stream.getvalue().splitlines()[:2] == ["line 0", "line 1"]


def test_lines_are_written_whole_in_order_and_in_batches() -> None:
    class Recording(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    stream = Recording()
    writer = LineWriter(stream)
    logger = logging.getLogger("tests.batches")
    logger.propagate = False
    logger.addHandler(writer)
    try:
        for number in range(3000):
            logger.warning("line %d", number)
    finally:
        writer.finish()
        logger.removeHandler(writer)
    assert stream.getvalue().splitlines() == [f"line {number}" for number in range(3000)]
    # A burst goes out in a few writes, not one a line.
    assert stream.writes <= 3000 // LineWriter.MAX_BATCH + 3
