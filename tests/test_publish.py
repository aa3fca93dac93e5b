"""Versioned, atomically published indexes: rollback, pruning, and builds killed at every stage."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import build_index
from indexer.cli import cli as indexer_cli
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import list_versions, published_version, remove_leftovers, version_dir
from indexer.storage.store import open_index
from service.core.answer import answer_question
from service.core.retrieval import Retriever
from tests.conftest import CORPUS, ROOT

NEW_SENTENCE = "The inspector praised the force's new drone unit for finding missing people quickly."


def snapshot(root: Path, versions: list[str]) -> dict[str, str]:
    """sha256 of the pointer and of every file of the given versions."""
    files = [root / "CURRENT"] + [p for name in versions for p in (root / "versions" / name).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def corpus_with(tmp_path: Path, name: str, extra: str | None) -> Path:
    corpus = tmp_path / name
    shutil.copytree(CORPUS, corpus)
    if extra:
        (corpus / "drones.txt").write_text(extra + "\n", encoding="utf-8")
    return corpus


def test_each_build_is_a_new_version_and_rollback_restores_the_last(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    first = build_index(CORPUS, root, encoder)
    second = build_index(corpus_with(tmp_path, "more", NEW_SENTENCE), root, encoder)
    assert list_versions(root) == [first.version, second.version] and published_version(root) == second.version
    assert any(NEW_SENTENCE in c.text for c in open_index(root).chunks)
    result = CliRunner().invoke(indexer_cli, ["rollback", "--index", str(root)])
    assert result.exit_code == 0 and first.version in result.output
    assert not any(NEW_SENTENCE in c.text for c in open_index(root).chunks)
    listing = CliRunner().invoke(indexer_cli, ["versions", "--index", str(root)]).output
    assert f"* {first.version}" in listing and f"  {second.version}" in listing


def test_old_versions_beyond_keep_are_pruned_but_never_the_published_one(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    reports = [build_index(corpus_with(tmp_path, f"c{i}", f"Report number {i} says the force improved.") , root, encoder, keep=2) for i in range(3)]
    assert list_versions(root) == [reports[1].version, reports[2].version]


@pytest.mark.parametrize("point", ["embedding", "writing", "before-publish"])
def test_a_build_killed_at_any_stage_leaves_the_published_index_untouched(encoder: Encoder, tmp_path: Path, point: str) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    published = list_versions(root)
    before = snapshot(root, published)
    command = [sys.executable, "-m", "indexer", "build", str(corpus_with(tmp_path, "next", NEW_SENTENCE)), "--out", str(root), "--no-progress"]
    killed = subprocess.run(command, cwd=ROOT, env={**os.environ, "IQA_FAILPOINT": point}, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert snapshot(root, published) == before
    # Still servable, and still the old content.
    answer = answer_question(Retriever(open_index(root, encoder.model_name, encoder.dimension), encoder), "What did the inspector say about vetting?")
    assert "improve its vetting" in answer.evidence[0].text
    # The next build clears what the killed one left behind.
    build_index(corpus_with(tmp_path, "again", NEW_SENTENCE), root, encoder)
    assert not [p for p in (root / "versions").iterdir() if ".partial-" in p.name]
    assert any(NEW_SENTENCE in c.text for c in open_index(root).chunks)


def test_a_corrupted_published_version_is_refused_with_a_way_out(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    with (version_dir(root) / "sentences.npy").open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\xff" * 8)
    with pytest.raises(Exception, match="checksum; rebuild it or roll back"):
        open_index(root)
    # The rebuild that mends it must not trip over it.
    report = build_index(CORPUS, root, encoder)
    assert report.reused == 0 and open_index(root).manifest.version == report.version


def test_leftovers_are_removed_unless_a_running_build_holds_them(encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    published = build_index(CORPUS, root, encoder).version
    versions = root / "versions"
    # A build killed in a container that gave this process its pid: only our own partial could carry it.
    own = versions / f".20990101T000000000000Z-deadbeef.partial-{os.getpid()}"
    # A build in another PID namespace: its pid means nothing here (a finished process's), its lock does.
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    held = versions / f".20990101T000000000001Z-deadbeef.partial-{int(finished.stdout)}"
    for directory in (own, held):
        directory.mkdir()
    (root / f".CURRENT.{os.getpid()}").write_text(published + "\n", encoding="utf-8")
    holder = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        removed = remove_leftovers(root)
        # The pointer temporary named the published version, which stays.
        assert removed == [f"versions/{own.name}", f".CURRENT.{os.getpid()}"] and held.is_dir()
        assert list_versions(root) == [published]
    finally:
        os.close(holder)
    assert remove_leftovers(root) == [f"versions/{held.name}"]


def test_a_process_whose_parent_dies_ends_even_without_the_kernel_signal(tmp_path: Path) -> None:
    # The watching thread is what other platforms rely on; here it runs alone, with no prctl.
    # The parent passes its pid: read in the child, getppid() could already be init's.
    grandchild = "import sys; from indexer.storage.lifetime import watch_parent; watch_parent(int(sys.argv[1]))"
    parent = (
        "import os, subprocess, sys; "
        f"print(subprocess.Popen([sys.executable, '-c', {grandchild!r}, str(os.getpid())], stdout=subprocess.DEVNULL).pid, flush=True)"
    )
    started = subprocess.run([sys.executable, "-c", parent], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    orphan = int(started.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_running(orphan):
        time.sleep(0.1)
    assert not process_running(orphan)


def process_running(pid: int) -> bool:
    """Whether pid is a live process (not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
