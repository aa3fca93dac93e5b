"""Index builds on a real local Ray cluster (127.0.0.1, two CPUs): equal to a local build, incremental,
and surviving a worker killed mid-batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.cli import cli as eval_cli
from eval.quality.dataset import load_eval_set
from indexer.build import build_index
from indexer.cli import cli as indexer_cli
from indexer.cluster.ray_build import RayOptions, WorkerPlan, plan_workers, ray_build_index
from indexer.cluster.ray_cluster import RAY_INSTALL, ray_session
from indexer.encoding.embedding import Encoder
from indexer.storage.publish import list_versions, published_version
from indexer.storage.store import Index, open_index, read_manifest
from service.core.answer import answer_question
from service.core.retrieval import Retriever
from tests.conftest import CORPUS, ROOT
from tests.test_beir import dataset  # noqa: F401 (a fixture: a small BEIR dataset of the statement's paragraphs)
from tests.test_publish import snapshot

SEED_SET = ROOT / "eval" / "sets" / "seed.jsonl"
CLUSTER_CPUS = 2
NEW_REPORT = "The inspectors found that the force's new custody suite in Exampleton met every standard they checked."


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A private Ray cluster on 127.0.0.1 for this module, as `--ray local` starts one, with two CPUs; its
    address. This process stays connected, so in-process builds use it too; it stops with the module."""
    with ray_session("local", CLUSTER_CPUS) as cpus:
        import ray

        address = ray.get_runtime_context().gcs_address
        assert cpus == CLUSTER_CPUS and address.startswith("127.0.0.1:")
        yield address


def records(index: Index) -> tuple[list[tuple], list[tuple]]:
    """Every chunk's and sentence's span, text and links."""
    chunks = [(c.doc_id, c.start, c.end, c.text, c.token_count, c.sentence_ids) for c in index.chunks]
    sentences = [(s.doc_id, s.start, s.end, s.text) for s in index.sentences]
    return chunks, sentences


def answers(index: Index, encoder: Encoder) -> list[tuple]:
    """What the service answers to every seed question over an index."""
    retriever = Retriever(index, encoder)
    replies = [answer_question(retriever, question.question) for question in load_eval_set(SEED_SET)]
    return [(a.answer, a.abstained, round(a.confidence, 4), [(e.doc_id, e.start, e.end) for e in a.evidence]) for a in replies]


def assert_same_index(built: Index, local: Index) -> None:
    """Same documents (text, metadata, layout), chunk and sentence spans, and vectors to 1e-5."""
    assert built.manifest.documents == local.manifest.documents and dict(built.documents) == dict(local.documents)
    assert records(built) == records(local)
    every = list(range(len(local.chunks)))
    np.testing.assert_allclose(built.chunk_vectors(every), local.chunk_vectors(every), atol=1e-5)
    np.testing.assert_allclose(np.asarray(built.sentence_vectors), np.asarray(local.sentence_vectors), atol=1e-5)


def test_a_ray_build_equals_a_local_build(ray_address: str, mixed_corpus: Path, mixed_index_dir: Path, encoder: Encoder, tmp_path: Path) -> None:
    report = ray_build_index(mixed_corpus, tmp_path / "index", encoder, RayOptions(ray_address))
    built, local = open_index(tmp_path / "index"), open_index(mixed_index_dir)
    # Four documents are cut into two batches, so that each of the cluster's two workers gets one.
    assert (built.manifest.engine, built.manifest.workers, local.manifest.engine) == ("ray", 2, "local")
    assert report.documents == 4 and report.embedded_chunks == len(local.chunks)
    # One node did everything; whether one or both of its encoders did depends on how the batches overlapped.
    [(node, work)] = built.manifest.nodes.items()
    assert node == "127.0.0.1" and work.texts == len(local.chunks) + len(local.sentences) and work.workers in (1, 2)
    assert local.manifest.nodes == {}
    assert_same_index(built, local)
    assert answers(built, encoder) == answers(local, encoder)


def test_an_incremental_ray_build_embeds_only_the_new_document(ray_address: str, encoder: Encoder, tmp_path: Path) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus)
    first = build_index(corpus, root, encoder)
    (corpus / "exampleton-custody.txt").write_text(NEW_REPORT + "\n", encoding="utf-8")
    report = ray_build_index(corpus, root, encoder, RayOptions(ray_address))
    assert report.changes.added == ["exampleton-custody.txt"] and report.reused == 1
    assert report.embedded_chunks == 1 and list_versions(root) == [first.version, report.version]
    # One document to embed starts one encoder, whatever the cluster could run.
    assert (report.engine, report.workers) == ("ray", 1)
    assert_same_index(open_index(root), open_index(build_index(corpus, tmp_path / "full", encoder).out_dir))


def build_command(corpus: Path, root: Path, address: str) -> list[str]:
    """`python -m indexer build` on the test cluster with two encoder workers."""
    return [sys.executable, "-m", "indexer", "build", str(corpus), "--out", str(root), "--no-progress", "--ray", address, "--ray-workers", "2"]


def test_a_worker_killed_mid_batch_is_retried_and_the_build_publishes(
    ray_address: str, mixed_corpus: Path, mixed_index_dir: Path, encoder: Encoder, tmp_path: Path
) -> None:
    root, marker = tmp_path / "index", tmp_path / "killed"
    build_index(CORPUS, root, encoder)
    # The first encoder worker to embed a batch SIGKILLs itself between its chunks and its sentences.
    env = {**os.environ, "IQA_FAILPOINT": "ray-embedding", "IQA_FAILPOINT_ONCE": str(marker)}
    built = subprocess.run(build_command(mixed_corpus, root, ray_address), check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert marker.exists() and "built on:  ray, 2 encoder worker(s)" in built.stdout
    assert_same_index(open_index(root), open_index(mixed_index_dir))


def test_a_ray_build_whose_writer_dies_leaves_the_published_index_untouched(ray_address: str, mixed_corpus: Path, encoder: Encoder, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index(CORPUS, root, encoder)
    published = list_versions(root)
    before = snapshot(root, published)
    env = {**os.environ, "IQA_FAILPOINT": "writing"}
    killed = subprocess.run(build_command(mixed_corpus, root, ray_address), check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert snapshot(root, published) == before and published_version(root) == published[0]


def test_more_workers_than_cluster_cpus_is_refused(ray_address: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(indexer_cli, ["build", str(CORPUS), "--out", str(tmp_path / "index"), "--ray", ray_address, "--ray-workers", "3"])
    assert result.exit_code == 1 and "3 Ray workers need a CPU each, and the cluster has 2" in result.output
    assert not (tmp_path / "index").exists()


def test_index_bench_keeps_a_ray_index_that_scores_as_the_local_one(ray_address: str, dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    cache = tmp_path / "cache"
    bench = CliRunner().invoke(eval_cli, ["index-bench", str(dataset), "--ray", ray_address, "--ray-workers", "2", "--cache", str(cache)])
    assert bench.exit_code == 0, bench.output
    assert "local build" in bench.output and "ray, 2 workers" in bench.output and "of local" in bench.output
    assert "  node 127.0.0.1: " in bench.output and "texts/s over the embedding stage" in bench.output
    local = CliRunner().invoke(eval_cli, ["beir", str(dataset), "--json", "--cache", str(cache)])
    on_ray = CliRunner().invoke(eval_cli, ["beir", str(dataset), "--json", "--cache", str(cache), "--ray", ray_address])
    # stdout only: Ray may log a line to stderr as the build's actors are killed, and click mixes it into output.
    assert json.loads(local.stdout) | {"seconds": 0} == json.loads(on_ray.stdout) | {"seconds": 0}
    engines = sorted((m.engine, m.workers) for m in (read_manifest(path) for path in cache.iterdir() if path.is_dir() and path.name != "embeddings"))
    assert engines == [("local", 1), ("ray", 2)]


@pytest.mark.parametrize(
    ("node_cpus", "workers", "plan"),
    [([2], None, WorkerPlan(2, 1)), ([2], 1, WorkerPlan(1, 2)), ([1, 1], 1, WorkerPlan(1, 1)), ([4, 4], 2, WorkerPlan(2, 4)), ([3, 1], 2, WorkerPlan(2, 1))],
)
def test_an_encoder_gets_no_more_cpus_than_one_node_has(node_cpus: list[int], workers: int | None, plan: WorkerPlan) -> None:
    # One worker on two one-CPU nodes once asked for two CPUs that no node has, and never started.
    assert plan_workers(node_cpus, workers) == plan


def test_without_ray_the_build_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A None entry makes `import ray` fail as it does where the extra is not installed.
    monkeypatch.setitem(sys.modules, "ray", None)
    result = CliRunner().invoke(indexer_cli, ["build", str(CORPUS), "--out", str(tmp_path / "index"), "--ray", "auto"])
    assert result.exit_code == 1 and RAY_INSTALL in result.output
    assert not (tmp_path / "index").exists()
