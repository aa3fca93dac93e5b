"""Latency benchmark: the real server on 127.0.0.1 against the in-process core."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from indexer.encoding.embedding import DEFAULT_BACKEND
from service.core.answer import AnswerSettings, answer_question
from service.core.retrieval import Retriever
from service.settings import available_cores

READY_TIMEOUT_SECONDS = 120
Result = TypeVar("Result")
# The in-process answer and the encoder alone are timed in this many alternating blocks.
PAIRED_BLOCKS = 10
# Calls of the encoder alone timed before and after each load run, its baseline.
PROBE_CALLS = 250


def percentile(values: list[float], fraction: float) -> float:
    """The value below which the given fraction of values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True)
class LatencyReport:
    """Latency figures of one run, in milliseconds."""

    label: str
    requests: int
    errors: int
    seconds: float
    p50: float
    p95: float
    p99: float

    @classmethod
    def from_latencies(cls, label: str, errors: int, seconds: float, latencies_ms: list[float]) -> LatencyReport:
        """A report from every request's latency."""
        points = (percentile(latencies_ms, fraction) for fraction in (0.5, 0.95, 0.99))
        return cls(label, len(latencies_ms), errors, seconds, *points)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """One printable summary line."""
        return (
            f"{self.label:<24} n={self.requests:<6} errors={self.errors:<3} p50={self.p50:7.2f} ms "
            f"p95={self.p95:7.2f} ms p99={self.p99:7.2f} ms {self.rate:8.1f} req/s"
        )


def answer_latencies(retriever: Retriever, questions: list[str], requests: int, settings: AnswerSettings = AnswerSettings(), first: int = 0) -> list[float]:
    """Milliseconds of each of `requests` in-process answers, as the handler gives them, from question `first` on."""
    latencies = []
    for i in range(first, first + requests):
        begin = time.perf_counter()
        answer_question(retriever, questions[i % len(questions)], settings=settings)
        latencies.append((time.perf_counter() - begin) * 1000)
    return latencies


def encoder_latencies(retriever: Retriever, questions: list[str], requests: int, first: int = 0) -> list[float]:
    """Milliseconds of each of `requests` calls of the encoder alone, one question per call: the work an answer cannot avoid."""
    latencies = []
    for i in range(first, first + requests):
        begin = time.perf_counter()
        retriever.encoder.encode([questions[i % len(questions)]], 1, False)
        latencies.append((time.perf_counter() - begin) * 1000)
    return latencies


def time_answer_and_encoder(
    retriever: Retriever, questions: list[str], requests: int, settings: AnswerSettings = AnswerSettings(), blocks: int = PAIRED_BLOCKS
) -> tuple[LatencyReport, LatencyReport]:
    """The in-process answer (after a warm-up) and the encoder alone, in alternating blocks of questions (each
    block's two timed in turn, which first alternating too), so that a machine whose speed drifts from one
    minute to the next slows both alike and their ratio holds."""
    answer_latencies(retriever, questions, min(50, requests), settings)
    timings: dict[str, list[float]] = {"in-process": [], "encoder alone": []}
    spent = dict.fromkeys(timings, 0.0)
    size = -(-requests // blocks)
    for block, first in enumerate(range(0, requests, size)):
        count = min(size, requests - first)
        for label in sorted(timings, reverse=block % 2 == 1):
            started = time.perf_counter()
            if label == "in-process":
                timings[label] += answer_latencies(retriever, questions, count, settings, first)
            else:
                timings[label] += encoder_latencies(retriever, questions, count, first)
            spent[label] += time.perf_counter() - started
    return tuple(LatencyReport.from_latencies(label, 0, spent[label], latencies) for label, latencies in timings.items())


def encoder_around(retriever: Retriever, questions: list[str], load: Callable[[], Result]) -> tuple[Result, LatencyReport]:
    """A load run's result, and the encoder alone timed just before and just after it: the run's own baseline."""
    before = encoder_latencies(retriever, questions, PROBE_CALLS)
    started = time.perf_counter()
    result = load()
    # Answers still in flight when the load generator stops finish before the second look.
    time.sleep(0.5)
    after = encoder_latencies(retriever, questions, PROBE_CALLS, PROBE_CALLS)
    return result, LatencyReport.from_latencies("encoder around it", 0, time.perf_counter() - started, before + after)


def served_threads(backend: str, workers: int) -> int:
    """The encoder threads each server worker uses by default, so the encoder is timed as it is served."""
    from service.http.app import encoder_threads

    return encoder_threads(backend, workers, available_cores())


def encoder_ratios(report: LatencyReport, local: LatencyReport, encoder: LatencyReport, cores: int) -> str:
    """A load run against the encoder alone timed around it: p50 and p99 over encoder p50, answers/s over what
    the cores could do running only the encoder (cores / encoder p50), and HTTP and JSON's share of p50 over in-process."""
    ceiling = cores / (encoder.p50 / 1000)
    return (
        f"{'':<24} encoder alone around this run p50 = {encoder.p50:.2f} ms; "
        f"p50 / encoder p50 = {report.p50 / encoder.p50:.2f}; p99 / encoder p50 = {report.p99 / encoder.p50:.1f}; "
        f"answers/s / (cores / encoder p50) = {report.rate / ceiling:.2f} ({report.rate:.1f} of {ceiling:.0f}); "
        f"HTTP and JSON {report.p50 - local.p50:.2f} ms over in-process p50"
    )


def time_verdict(retriever: Retriever, questions: list[str], rounds: int = 20) -> float:
    """Mean milliseconds of the verdict step per answer: the wording signals and both scores."""
    from service.core.answer import AnswerSettings, draft_answer, judge
    from service.core.wording import wording_features

    settings = AnswerSettings()
    drafts = [(question, draft) for question in questions if (draft := draft_answer(retriever, question, 5, settings)).evidence]
    if not drafts:
        return float("nan")
    started = time.perf_counter()
    for _ in range(rounds):
        for question, draft in drafts:
            wording_features(question, draft.evidence[0].text)
            judge(draft, settings)
    return (time.perf_counter() - started) * 1000 / (rounds * len(drafts))


async def drive_http(base: str, questions: list[str], requests: int, concurrency: int) -> LatencyReport:
    """Send a bounded number of /ask requests with a fixed number in flight."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            begin = time.perf_counter()
            try:
                response = await client.post(f"{base}/ask", json={"question": questions[i % len(questions)]})
                errors += response.status_code != 200
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - begin) * 1000)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LatencyReport.from_latencies(f"httpx c={concurrency}", errors, seconds, latencies)


STREAMS = {
    "/ask stream": ("/ask", lambda question: {"question": question, "stream": True}),
    "/v1 chat stream": ("/v1/chat/completions", lambda question: {"messages": [{"role": "user", "content": question}], "stream": True}),
}


@dataclass(frozen=True)
class StreamTiming:
    """When a streamed answer's first event and its last event reached the client, in milliseconds."""

    label: str
    first_ms: list[float]
    last_ms: list[float]

    def line(self) -> str:
        """One printable summary line of medians."""
        first, last = percentile(self.first_ms, 0.5), percentile(self.last_ms, 0.5)
        return f"{self.label:<24} first event p50={first:7.2f} ms   last event p50={last:7.2f} ms"


async def time_stream(base: str, label: str, questions: list[str], requests: int) -> StreamTiming:
    """Time the first and last server-sent event of streamed answers, one request at a time."""
    path, body = STREAMS[label]
    first_ms, last_ms = [], []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(requests):
            begin, first = time.perf_counter(), None
            async with client.stream("POST", f"{base}{path}", json=body(questions[i % len(questions)])) as response:
                # Raw bytes, not aiter_lines: line decoding would add its own delay to the figures.
                async for piece in response.aiter_raw():
                    if first is None and b"data:" in piece:
                        first = (time.perf_counter() - begin) * 1000
            first_ms.append(first if first is not None else float("nan"))
            last_ms.append((time.perf_counter() - begin) * 1000)
    return StreamTiming(label, first_ms, last_ms)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    index_dir: Path, model: str, env: dict[str, str] | None = None, backend: str = DEFAULT_BACKEND, extra: tuple[str, ...] = (),
    log_path: Path | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start `python -m service` on 127.0.0.1 and wait until /ready answers. Its stderr goes to log_path when
    given, else to a pipe (once full, the server drops request lines rather than waiting for it)."""
    port = free_port()
    command = [sys.executable, "-m", "service", "--index", str(index_dir), "--model", model, "--backend", backend,
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra]
    log = log_path.open("w", encoding="utf-8") if log_path is not None else None
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log or subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    if log is not None:
        log.close()  # the child has its own copy
    base = f"http://127.0.0.1:{port}"
    api_key = (env or {}).get("IQA_API_KEY")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if answers(process, f"{base}/ready", READY_TIMEOUT_SECONDS, headers):
        return process, base
    process.kill()
    output = process.stderr.read() if process.stderr else log_path.read_text(encoding="utf-8") if log_path else ""
    raise RuntimeError(f"server did not become ready: {output}")


def answers(process: subprocess.Popen, url: str, timeout: float, headers: dict[str, str] | None = None) -> bool:
    """True as soon as url answers 200; False once the process has ended or timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(child) for child in children.read_text().split()] if children.exists() else []
    return [pid] + [descendant for kid in kids for descendant in process_tree(kid)]


def memory_kib(pid: int, field: str) -> int:
    """One field (Rss, Pss) of /proc/<pid>/smaps_rollup, in KiB; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            return next((int(line.split()[1]) for line in rollup if line.startswith(field + ":")), 0)
    except OSError:
        return 0


def server_rss_kib(process: subprocess.Popen) -> int:
    """Resident memory of the server and its workers, in KiB."""
    return sum(memory_kib(pid, "Rss") for pid in process_tree(process.pid))


def server_memory(process: subprocess.Popen) -> str:
    """RSS and PSS (pages shared between workers counted once in total) of the server and its workers."""
    pids = process_tree(process.pid)
    rss, pss = (sum(memory_kib(pid, field) for pid in pids) / 1024 for field in ("Rss", "Pss"))
    return f"server memory over {len(pids)} process(es): RSS {rss:.0f} MiB, PSS {pss:.0f} MiB"


def machine_description() -> str:
    """CPU model and count, for the record."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{os.cpu_count()} × {model}, Python {sys.version.split()[0]}"
