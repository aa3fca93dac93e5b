"""Scale benchmark: vector indexes of 100k and 1M chunks, searched as the service searches them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.storage.vectors import FLAT_MAX_VECTORS, build_vector_index, choose_index, open_vector_index, search_one_query_per_thread

K = 10


def synthetic_vectors(real: np.ndarray, count: int, noise: float, seed: int = 0) -> np.ndarray:
    """Unit vectors scattered around real embeddings, so the set keeps real topical clusters."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        rows = min(100_000, count - start)
        block = real[rng.integers(0, len(real), rows)] + rng.normal(0, noise / np.sqrt(real.shape[1]), (rows, real.shape[1]))
        out[start : start + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The true top-K ids of each query by inner product."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat.search(queries, K)[1]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-K found in the returned top-K: |found ∩ truth| / K."""
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


@dataclass(frozen=True)
class ScaleRow:
    """One index at one size."""

    count: int
    factory: str
    build_seconds: float
    disk_mib: float
    probe: dict[str, float]
    recall: float

    def line(self) -> str:
        """A Markdown table row."""
        p = self.probe
        return (
            f"| {self.count:,} | {self.factory} | {self.build_seconds:.1f} | {self.disk_mib:.0f} | {p['open_seconds']:.2f} | "
            f"{p['startup_seconds']:.2f} | {p['rss_mib']:.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {self.recall:.4f} |"
        )


def measure(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, factory: str, params: dict[str, int], path: Path, backend: str) -> ScaleRow:
    """Build, write and probe one index; recall is measured in the probe's own searches."""
    started = time.perf_counter()
    index = build_vector_index(vectors, factory, params)
    build_seconds = time.perf_counter() - started
    faiss.write_index(index, str(path))
    del index
    np.save(path.with_suffix(".queries.npy"), queries)
    probe = run_probe(path, params, backend)
    found = np.load(path.with_suffix(".found.npy"))
    return ScaleRow(len(vectors), factory, build_seconds, path.stat().st_size / 2**20, probe, recall_at_k(found, truth))


def run_probe(path: Path, params: dict[str, int], backend: str) -> dict[str, float]:
    """Start a fresh process that loads the encoder and the mapped index as the service does."""
    command = [sys.executable, "-m", "eval.perf.scale", str(path), json.dumps(params), backend]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"scale probe failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def rss_mib() -> float:
    """This process's resident memory."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def probe(path: Path, params: dict[str, int], backend: str) -> dict[str, float]:
    """Startup (encoder + mapped index), then one query at a time: encode-free search latency and RSS."""
    started = time.perf_counter()
    from indexer.encoding.embedding import load_encoder

    encoder = load_encoder(backend=backend)
    encoder.encode(["warm up"])
    opened = time.perf_counter()
    search_one_query_per_thread()
    index = open_vector_index(path, params)
    open_seconds = time.perf_counter() - opened
    startup = time.perf_counter() - started
    queries = np.load(path.with_suffix(".queries.npy"))
    latencies, found = [], []
    for query in queries:
        begin = time.perf_counter()
        found.append(index.search(query[None, :], K)[1][0])
        latencies.append((time.perf_counter() - begin) * 1000)
    np.save(path.with_suffix(".found.npy"), np.array(found))
    latencies.sort()
    return {
        "open_seconds": open_seconds,
        "startup_seconds": startup,
        "rss_mib": rss_mib(),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def candidates() -> list[tuple[str, dict[str, int]]]:
    """Exact search, HNSW over float vectors, and the HNSW configuration the build switches to past
    FLAT_MAX_VECTORS (fp16 storage)."""
    chosen, params = choose_index(FLAT_MAX_VECTORS + 1)
    return [choose_index(0), (chosen.rsplit(",", 1)[0] + ",Flat", params), (chosen, params)]


def report(rows: list[ScaleRow], description: str) -> str:
    """The Markdown report of a scale run."""
    header = (
        "| vectors | index | build s | disk MiB | open s | startup s | RSS MiB | search p50 ms | search p99 ms | recall@10 |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    return "\n".join([f"# Vector index at scale\n\n{description}\n", header, *(row.line() for row in rows), ""])


if __name__ == "__main__":
    print(json.dumps(probe(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])))
