"""The service as users run it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eval.perf.bench import free_port, process_tree, start_server
from indexer.encoding.embedding import Encoder
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


def tcp_sockets(port: int) -> dict[int, str]:
    """Socket inode -> TCP state (hex, as /proc/net/tcp gives it: 01 established, 0A listening) of this host's
    sockets whose local port is port."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[int(fields[9])] = fields[3]
    return found


def sockets_held(pid: int, port: int, state: str) -> int:
    """How many of pid's open sockets on local port are in state."""
    wanted = {inode for inode, found in tcp_sockets(port).items() if found == state}
    held = 0
    for link in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(link)
        held += target.startswith("socket:[") and int(target[8:-1]) in wanted
    return held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="spreading connections by SO_REUSEPORT is Linux's")
def test_two_workers_share_the_connections_a_client_opens_at_once(index_dir: Path, encoder: Encoder) -> None:
    process, base = start_server(index_dir, encoder.model_name, extra=("--workers", "2"))
    port = int(base.rsplit(":", 1)[1])
    connections: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while len(listening := [pid for pid in process_tree(process.pid) if sockets_held(pid, port, "0A")]) < 2:
            assert time.monotonic() < deadline, "the second worker never listened"
            time.sleep(0.2)
        # A load generator's keep-alive connections, opened together: with one shared socket the first
        # worker to wake accepted nearly all of them (32/0, 29/3, 28/4 in three runs).
        connections = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
        for connection in connections:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert all(connection.recv(4096).startswith(b"HTTP/1.1 200") for connection in connections)
        taken = sorted(sockets_held(pid, port, "01") for pid in listening)
        # Spread by address hash: fewer than 6 of 32 on either worker has odds of about 1 in 10,000.
        assert sum(taken) == 32 and taken[0] >= 6, taken
    finally:
        for connection in connections:
            connection.close()
        process.terminate()
        process.wait(timeout=30)
