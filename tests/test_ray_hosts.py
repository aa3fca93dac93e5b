"""Builds on a Ray cluster of two hosts started as an operator starts them (tests/ray_hosts.py): with the
cluster's token both nodes embed and the index equals a local build; a wrong or missing token fails
in seconds; a cluster without authentication is reached too; losing the worker node mid-build leaves
the published version whole."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.cluster.ray_auth import fingerprint
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import list_versions, published_version
from indexer.storage.store import open_index
from tests.conftest import CORPUS
from tests.ray_hosts import HEAD_IP, WORKER_IP, TwoHosts, namespaces_unavailable, two_hosts
from tests.test_publish import snapshot
from tests.test_ray_build import answers, assert_same_index

# Four batches of at most 16 documents: both nodes' encoders are busy at once.
NOTES = 48
WRONG_TOKEN_SECONDS = 10
LOOPBACK_PORT = 6392


@pytest.fixture(scope="module")
def hosts() -> Iterator[TwoHosts]:
    """The two hosts, for this module; skipped only where network namespaces cannot be made."""
    if (reason := namespaces_unavailable()) is not None:
        pytest.skip(reason)
    with two_hosts() as running:
        yield running


@pytest.fixture(scope="module")
def notes_corpus(mixed_corpus: Path, seed_text: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed corpus and 48 notes of three of the statement's paragraphs each."""
    root = tmp_path_factory.mktemp("notes") / "corpus"
    shutil.copytree(mixed_corpus, root)
    paragraphs = [p for p in seed_text.split("\n\n") if p.strip()]
    for number in range(NOTES):
        first = number % len(paragraphs)
        body = "\n\n".join((paragraphs[first:] + paragraphs[:first])[:3])
        (root / f"note-{number:03d}.txt").write_text(f"Inspection note {number}\n\n{body}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def notes_index(notes_corpus: Path, encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local build of the notes corpus."""
    out = tmp_path_factory.mktemp("notes-index") / "index"
    build_index(notes_corpus, out, encoder)
    return out


def test_a_build_on_two_hosts_embeds_on_both_and_equals_a_local_build(hosts: TwoHosts, notes_corpus: Path, notes_index: Path, encoder: Encoder, tmp_path: Path) -> None:
    # The build finds the cluster's token where `ray get-auth-token --generate` put it on the head host.
    built = hosts.build(str(notes_corpus), "--out", str(tmp_path / "index"))
    assert built.returncode == 0, built.stdout[-3000:]
    index, local = open_index(tmp_path / "index"), open_index(notes_index)
    nodes = index.manifest.nodes
    assert (index.manifest.engine, index.manifest.workers, sorted(nodes)) == ("ray", 2, [HEAD_IP, WORKER_IP])
    assert all(work.workers == 1 and work.texts > 0 for work in nodes.values()), nodes
    assert sum(work.texts for work in nodes.values()) == len(local.chunks) + len(local.sentences)
    assert f"node {WORKER_IP}: 1 worker(s), {nodes[WORKER_IP].texts} texts embedded" in built.stdout
    assert_same_index(index, local)
    assert answers(index, encoder) == answers(local, encoder)


def test_a_wrong_or_missing_token_fails_in_seconds_saying_which_was_tried(hosts: TwoHosts, tmp_path: Path) -> None:
    token = secrets.token_hex(32)
    wrong = tmp_path / "wrong-token"
    wrong.write_text(token + "\n", encoding="utf-8")
    started = time.monotonic()
    refused = hosts.build(str(CORPUS), "--out", str(tmp_path / "index"), "--ray-auth-token-file", str(wrong), timeout=60)
    seconds = time.monotonic() - started
    assert refused.returncode == 1 and seconds < WRONG_TOKEN_SECONDS, (seconds, refused.stdout[-3000:])
    assert f"refused the token from --ray-auth-token-file {wrong} (sha256 {fingerprint(token)}...)" in refused.stdout
    assert "ray get-auth-token" in refused.stdout and token not in refused.stdout
    # A host with no token at all: none in the environment, none in its home.
    missing = hosts.build(str(CORPUS), "--out", str(tmp_path / "index"), env=hosts.environment("no-token-home"), timeout=60)
    assert missing.returncode == 1 and "wants an authentication token, and none was found" in missing.stdout, missing.stdout[-3000:]
    assert not (tmp_path / "index").exists()


def test_a_cluster_without_authentication_is_reached_with_a_token_at_hand(hosts: TwoHosts, tmp_path: Path) -> None:
    # One machine's cluster on loopback, authentication off, on the head host (whose home holds a token).
    hosts.start_loopback_head(LOOPBACK_PORT, RAY_AUTH_MODE="disabled")
    built = hosts.build(str(CORPUS), "--out", str(tmp_path / "index"), address=f"127.0.0.1:{LOOPBACK_PORT}")
    assert built.returncode == 0, built.stdout[-3000:]
    assert list(open_index(tmp_path / "index").manifest.nodes) == ["127.0.0.1"]


def test_losing_the_worker_node_mid_build_leaves_the_published_version_whole(
    hosts: TwoHosts, notes_corpus: Path, notes_index: Path, encoder: Encoder, tmp_path: Path
) -> None:
    root, fired = tmp_path / "index", hosts.root / "fired"
    first = build_index(CORPUS, root, encoder)
    before = snapshot(root, [first.version])
    # Armed on the worker node only: its first encoder to embed a batch SIGKILLs that node's raylet.
    hosts.restart_worker(IQA_FAILPOINT="ray-embedding", IQA_FAILPOINT_TARGET="parent", IQA_FAILPOINT_ONCE=str(fired))
    built = hosts.build(str(notes_corpus), "--out", str(root))
    assert fired.exists(), "no encoder on the worker node reached the failpoint"
    hosts.wait_for_nodes([HEAD_IP])
    if built.returncode == 0:
        # Ray restarted the lost encoder and its batches on the head: the head alone embedded everything.
        assert list(open_index(root).manifest.nodes) == [HEAD_IP], built.stdout[-3000:]
        assert_same_index(open_index(root), open_index(notes_index))
        assert published_version(root) != first.version and len(list_versions(root)) == 2
    else:
        assert built.returncode == 1 and "Error: " in built.stdout, built.stdout[-3000:]
        assert snapshot(root, [first.version]) == before and published_version(root) == first.version
