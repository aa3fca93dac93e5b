"""The first start on a fresh machine prints what a person needs, and no library noise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from eval.perf.bench import free_port
from indexer.encoding.model_cache import CACHE_ENV
from indexer.storage.store import read_manifest
from service.settings import Settings, available_cores, worker_plan
from tests.conftest import CORPUS, ROOT

START_SECONDS = 300
# What library noise looks like: Python warnings, logging's level prefixes, a traceback.
NOISE = ("Warning", "warnings.warn", "warn(", "WARNING", "DEBUG", "Traceback", "heavily recommended", "deprecated")


def first_start(cache: Path, index: Path, corpus: Path, *extra: str) -> tuple[str, str]:
    """Start the server as the README does, wait until it answers, stop it; its stdout and stderr."""
    port = free_port()
    command = [sys.executable, "-m", "service", "--build-from", str(corpus), "--index", str(index), "--host", "127.0.0.1", "--port", str(port), *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, CACHE_ENV: str(cache)})
    deadline = time.monotonic() + START_SECONDS
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    return out, err


def test_the_first_start_with_a_fresh_model_cache_is_quiet(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    out, err = first_start(tmp_path / "models", tmp_path / "index", corpus)
    workers, why = worker_plan(Settings(), available_cores())
    processes = f"{workers} worker process{'es' if workers > 1 else ''}"
    assert f"Model sentence-transformers/all-MiniLM-L6-v2 on onnx-int8, {processes} ({why})" in out, out + err
    manifest = read_manifest(tmp_path / "index")
    counts = manifest.counts
    assert f"Index {tmp_path / 'index'}, version {manifest.version}: 1 documents, {counts['chunks']} chunks, {counts['sentences']} sentences" in out
    assert "Uvicorn running on http://127.0.0.1:" in err
    assert "to int8 ONNX, once, into" in err
    noisy = [line for line in err.splitlines() if any(word in line for word in NOISE)]
    assert noisy == []
    info = [line for line in err.splitlines() if line.startswith("INFO") and "Uvicorn running on" not in line]
    assert info == []
    # The export was saved into the cache: a second start neither exports again nor says so.
    _, again = first_start(tmp_path / "models", tmp_path / "index", corpus)
    assert "Uvicorn running on" in again and "int8 ONNX" not in again


def test_workers_started_with_an_empty_model_cache_share_one_export(tmp_path: Path, index_dir: Path) -> None:
    out, err = first_start(tmp_path / "models", index_dir, CORPUS, "--workers", "2")
    assert "2 worker processes" in out, out + err
    # Made once, by whichever worker takes the export lock first; the other waits for it and uses it.
    assert err.count("to int8 ONNX, once, into") == 1, err
    assert "Uvicorn running on" in err
