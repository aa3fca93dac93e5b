"""Prometheus figures of one service process (or, with workers, of all of them): requests, answers,
encoder batches, reloads, uploads and builds, and the served index."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from threading import Thread
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

# prometheus-client picks single- or multi-process storage when it is first imported, from
# PROMETHEUS_MULTIPROC_DIR: with workers, the CLI sets it before anything imports this module.
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from indexer.build import BuildReport
from indexer.storage.store import Index

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Answers take 3-20 ms alone and ~100 ms queued at concurrency 32: fine steps below 10 ms, coarse above.
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONFIDENCE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))
BUILD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

# No *_created sample beside every series: it doubles the scrape and no dashboard here reads it.
disable_created_metrics()

# Every figure below lives in this registry (or, with workers, in the shared directory's files).
PROCESS = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("iqa_http_requests", "HTTP requests by route template, method and status.", ["route", "method", "status"], registry=PROCESS)
LATENCY = Histogram("iqa_http_request_duration_seconds", "Time from request to the last byte of the response, by route template.", ["route"], buckets=LATENCY_BUCKETS, registry=PROCESS)
ANSWERS = Counter("iqa_answers", "Questions answered (/ask, chat, MCP), by verdict: answer, uncertain or none.", ["verdict"], registry=PROCESS)
CONFIDENCE = Histogram("iqa_answer_confidence", "Calibrated probability that the first evidence answers, for every verdict.", buckets=CONFIDENCE_BUCKETS, registry=PROCESS)
BATCH_SIZE = Histogram("iqa_encoder_batch_size", "Questions per encoder call.", buckets=BATCH_BUCKETS, registry=PROCESS)
BATCH_WAIT = Histogram("iqa_encoder_wait_seconds", "Time a question waits before the encoder call that takes it starts.", buckets=WAIT_BUCKETS, registry=PROCESS)
RELOADS = Counter("iqa_index_reloads", "Index reloads by outcome: reloaded, unchanged or failed.", ["outcome"], registry=PROCESS)
UPLOADS = Counter("iqa_uploads", "Document uploads (add) and removals (remove) by outcome: published, rejected or failed.", ["action", "outcome"], registry=PROCESS)
BUILD_SECONDS = Histogram("iqa_build_seconds", "Index builds run by the service, from reading the corpus to the published version.", buckets=BUILD_BUCKETS, registry=PROCESS)
PUBLISH_SECONDS = Histogram("iqa_publish_seconds", "The part of each build that writes, verifies and publishes the new version.", buckets=BUILD_BUCKETS, registry=PROCESS)
DROPPED_LINES = Counter("iqa_request_lines_dropped", "Request log lines dropped because stderr was not being read fast enough.", registry=PROCESS)


def record_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """One finished HTTP request; unknown paths and methods share one label so clients cannot add series."""
    route = route or UNMATCHED
    key = (route, method if method in METHODS else "other", status)
    # labels() takes a lock and builds its key on every call; the children themselves never change.
    series = SERIES.get(key)
    if series is None:
        series = SERIES.setdefault(key, (REQUESTS.labels(key[0], key[1], str(status)), LATENCY.labels(route)))
    series[0].inc()
    series[1].observe(seconds)


SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_answer(verdict: str, confidence: float) -> None:
    """One answered question."""
    ANSWERS.labels(verdict).inc()
    CONFIDENCE.observe(confidence)


def record_dropped_line() -> None:
    """A request line the log writer had no room for."""
    DROPPED_LINES.inc()


def record_batch(size: int, waits: list[float]) -> None:
    """One encoder call and how long each of its questions waited for it."""
    BATCH_SIZE.observe(size)
    for wait in waits:
        BATCH_WAIT.observe(wait)


def record_reload(outcome: str) -> None:
    """A reload attempt: reloaded, unchanged or failed."""
    RELOADS.labels(outcome).inc()


def record_upload(action: str, outcome: str) -> None:
    """A document added or removed: published, rejected or failed."""
    UPLOADS.labels(action, outcome).inc()


def record_build(report: BuildReport) -> None:
    """A build the service ran, and its write-verify-publish part."""
    BUILD_SECONDS.observe(report.seconds)
    PUBLISH_SECONDS.observe(report.publish_seconds)


class IndexGauges(Collector):
    """The served index's size, read when scraped (so a reload never leaves a stale version's series)."""

    def __init__(self, served: Callable[[], Index | None]) -> None:
        self.served = served

    def collect(self) -> Iterator[Metric]:
        index = self.served()
        if index is None:
            return
        manifest = index.manifest
        info = GaugeMetricFamily("iqa_index_info", "The served index version (value 1), its model and encoder.", labels=["version", "model", "encoder"])
        info.add_metric([manifest.version, manifest.model, manifest.encoder], 1)
        yield info
        figures = (("documents", len(index.documents)), ("chunks", len(index.chunks)), ("sentences", len(index.sentences)))
        for name, value in figures:
            family = GaugeMetricFamily(f"iqa_index_{name}", f"{name.capitalize()} in the served index version.", labels=["version"])
            family.add_metric([manifest.version], value)
            yield family


class Forward(Collector):
    """Another registry's metrics, as one collector of a scrape registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return self.registry.collect()


def scrape_registry(served: Callable[[], Index | None]) -> CollectorRegistry:
    """What /metrics shows: this process's figures, or every worker's summed, plus the served index."""
    registry = CollectorRegistry(auto_describe=True)
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory:
        MultiProcessCollector(registry, directory)
    else:
        registry.register(Forward(PROCESS))
        ProcessCollector(registry=registry)
    registry.register(IndexGauges(served))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


class MetricsServer(ThreadingMixIn, WSGIServer):
    """A small threaded HTTP server for /metrics; workers share its port, so any of them answers."""

    daemon_threads = True
    allow_reuse_port = True


class QuietHandler(WSGIRequestHandler):
    """No access line on stderr for each scrape."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_metrics_server(host: str, port: int, registry: CollectorRegistry) -> MetricsServer:
    """Serve the registry on host:port in a daemon thread, without any API key; stop with shutdown()."""
    server = make_server(host, port, make_wsgi_app(registry), MetricsServer, handler_class=QuietHandler)
    Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
