"""A killed build or server leaves no process running and nothing half-written in the index root."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from eval.perf.bench import process_tree, start_server
from indexer.build import PARALLEL_MIN_DOCUMENTS, build_index
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import VERSION_NAME, list_versions, published_version
from indexer.storage.store import open_index, verify_version
from service.cli import remove_orphaned_metrics_dirs
from tests.conftest import ROOT

# Every stage of a build at which a supervisor's SIGKILL may land.
STAGES = ("extraction", "chunking", "embedding", "writing", "before-publish")
# How long the dead build's workers get to follow it.
GRACE_SECONDS = 5.0


@pytest.fixture(scope="module")
def large_corpus(tmp_path_factory: pytest.TempPathFactory, seed_text: str) -> Path:
    """More documents than the build chunks in one process, so chunking runs in worker processes."""
    corpus = tmp_path_factory.mktemp("large")
    paragraphs = [p for p in seed_text.split("\n\n") if p.strip()]
    for number in range(PARALLEL_MIN_DOCUMENTS + 44):
        first = number % len(paragraphs)
        body = "\n\n".join((paragraphs[first:] + paragraphs[:first])[:3])
        (corpus / f"note-{number:03d}.txt").write_text(f"Inspection note {number}\n\n{body}\n", encoding="utf-8")
    return corpus


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of a session, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command's closing parenthesis: state, ppid, pgrp, session.
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def survivors(pids: list[int] | None = None, session: int | None = None) -> list[int]:
    """The given processes (or the session's) still alive GRACE_SECONDS after their parent was killed."""
    deadline = time.monotonic() + GRACE_SECONDS
    while True:
        alive = session_members(session) if session is not None else [pid for pid in pids or [] if is_running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def reap(pids: list[int]) -> list[int]:
    """SIGKILL survivors so that a failing test leaves none running; the pids."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def is_running(pid: int) -> bool:
    """Whether pid names a live process that is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def build_command(corpus: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "indexer", "build", str(corpus), "--out", str(root), "--no-progress", "--full"]


def pool_workers(pid: int) -> list[int]:
    """The chunking pool's worker processes of a build (spawned: their command line runs spawn_main)."""
    workers = []
    for child in process_tree(pid)[1:]:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
        except OSError:
            continue
    return workers


def kill_mid_chunking(corpus: Path, root: Path) -> tuple[int, list[int]]:
    """Start a build, SIGKILL it from outside once its chunking workers run; its session and those workers."""
    build = subprocess.Popen(build_command(corpus, root), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, workers = time.monotonic() + 120, []
    while not workers and build.poll() is None and time.monotonic() < deadline:
        workers = pool_workers(build.pid)
        time.sleep(0.02)
    os.kill(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    return build.pid, workers


def leftovers(root: Path) -> list[str]:
    """What in an index root is neither the pointer nor a complete version."""
    names = [path.name for path in root.iterdir() if path.name not in ("CURRENT", "versions")]
    return sorted(names + [f"versions/{name}" for name in (p.name for p in (root / "versions").iterdir()) if not VERSION_NAME.match(name)])


def test_builds_killed_at_every_stage_leave_no_process_and_the_next_build_cleans_up(encoder: Encoder, large_corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    first = build_index(large_corpus, root, encoder)
    (large_corpus / "late-addition.txt").write_text("The force opened a new custody suite in the spring.\n", encoding="utf-8")
    session, workers = kill_mid_chunking(large_corpus, root)
    assert workers, "the build never started its chunking workers"
    alive_after = {"outside SIGKILL mid-chunking": reap(survivors(session=session))}
    left_behind = {}
    for stage in STAGES:
        # A file, not a pipe: a surviving worker would hold a pipe open and stall the test.
        log = tmp_path / f"{stage}.log"
        with log.open("w") as errors:
            killed = subprocess.Popen(
                build_command(large_corpus, root), cwd=ROOT, env={**os.environ, "IQA_FAILPOINT": stage},
                stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
            )
        killed.wait(timeout=600)
        assert killed.returncode == -signal.SIGKILL, f"{stage}: {log.read_text()[-2000:]}"
        # start_new_session made the build its session's leader: the session id is its pid, its workers' too.
        alive_after[stage] = reap(survivors(session=killed.pid))
        left_behind[stage] = leftovers(root)
    assert alive_after == {name: [] for name in alive_after}
    assert any(".partial-" in name for name in left_behind["writing"]) and any(".CURRENT." in name for name in left_behind["before-publish"])
    assert published_version(root) == first.version
    report = build_index(large_corpus, root, encoder)
    # The last kill left a pointer temporary and the complete version it was about to publish.
    [orphan, pointer] = report.cleaned
    assert orphan.startswith("versions/") and pointer.startswith(".CURRENT."), report.cleaned
    assert sorted(path.name for path in root.iterdir()) == ["CURRENT", "versions"] and leftovers(root) == []
    assert list_versions(root) == [first.version, report.version] and published_version(root) == report.version
    verify_version(root / "versions" / report.version)
    assert any("new custody suite" in chunk.text for chunk in open_index(root).chunks)


def test_a_server_killed_with_sigkill_takes_its_workers_with_it(index_dir: Path, encoder: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    process, _ = start_server(index_dir, encoder.model_name, env={"TMPDIR": str(tmp_path)}, extra=("--workers", "2"))
    tree = process_tree(process.pid)
    assert len(tree) >= 3, f"expected a supervisor and two workers, found {tree}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert reap(survivors(tree[1:])) == []
    # The supervisor had no chance to remove its metrics directory: the next server's start does.
    [orphan] = tmp_path.glob("inspection-qa-metrics-*")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert remove_orphaned_metrics_dirs() == [orphan] and not orphan.exists()
