"""The service as users run it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from eval.perf.bench import free_port, start_server
from indexer.embedding import Encoder
from tests.conftest import ROOT


def test_real_server_answers_over_http(server: str) -> None:
    response = httpx.post(f"{server}/ask", json={"question": "Are there enough trained detectives?"}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert not body["abstained"]
    assert "shortage of trained detectives" in body["evidence"][0]["text"]


def test_real_server_rejects_bad_input_with_400(server: str) -> None:
    response = httpx.post(f"{server}/ask", content=b"{oops", headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400


def test_service_refuses_a_missing_index_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--index", str(tmp_path / "none"), "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "no index at" in result.stderr and "python -m indexer build" in result.stderr


def test_service_refuses_an_index_built_with_another_model(index_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--index", str(index_dir), "--model", "some/other-model", "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "was built with model" in result.stderr


def test_a_second_server_on_a_busy_port_refuses_and_leaves_the_first_one_serving(index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    first, base = start_server(index_dir, encoder.model_name, env={"TMPDIR": str(tmp_path)}, extra=("--workers", "2"))
    port = base.rsplit(":", 1)[1]
    try:
        second = subprocess.run(
            [sys.executable, "-m", "service", "--index", str(index_dir), "--model", encoder.model_name, "--port", port, "--workers", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "TMPDIR": str(tmp_path)},
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use (is another server running there?)" in second.stderr
        assert [any(directory.glob("*.db")) for directory in tmp_path.glob("inspection-qa-metrics-*")] == [True]
        assert httpx.post(f"{base}/ask", json={"question": "What did the inspector say about vetting?"}, timeout=30).status_code == 200
    finally:
        first.terminate()
        first.wait(timeout=30)
