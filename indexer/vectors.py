"""The chunk vector index: exact (flat) for small collections, HNSW beyond, memory-mapped when opened."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Exact search up to this many vectors. A single-threaded flat scan costs about 1 ms per 20,000
# vectors here (7.7 ms at 100k, eval/reports/scale.md), against 0.3-0.4 ms for HNSW at 100k or 1M with
# recall@10 of 0.99-0.97; past 25,000 the scan would take more than a millisecond of every answer.
FLAT_MAX_VECTORS = 25_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def choose_index(count: int, flat_max: int = FLAT_MAX_VECTORS) -> tuple[str, dict[str, int]]:
    """The FAISS factory string and search parameters for a collection of this size."""
    if count <= flat_max:
        return "IDMap2,Flat", {}
    return f"IDMap2,HNSW{HNSW_M},Flat", {"efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}


def build_vector_index(vectors: np.ndarray, factory: str, params: dict[str, int]) -> faiss.Index:
    """Inner-product index over unit vectors, ids 0..n-1."""
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if "efConstruction" in params:
        faiss.downcast_index(index.index).hnsw.efConstruction = params["efConstruction"]
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.arange(len(vectors), dtype=np.int64))
    return index


def open_vector_index(path: Path, params: dict[str, int]) -> faiss.Index:
    """A written index, its vectors memory-mapped so processes share the pages, search params applied."""
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    if "efSearch" in params:
        faiss.ParameterSpace().set_index_parameter(index, "efSearch", params["efSearch"])
    return index


def search_parameters(params: dict[str, int], allowed_ids: np.ndarray) -> faiss.SearchParameters:
    """Search parameters that keep only allowed_ids, with the index's own efSearch for HNSW."""
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
    if "efSearch" in params:
        return faiss.SearchParametersHNSW(sel=selector, efSearch=params["efSearch"])
    return faiss.SearchParameters(sel=selector)


def search_one_query_per_thread() -> None:
    """Single-threaded FAISS searches: the service runs one search per request thread, so OpenMP
    teams inside each search would only oversubscribe the cores (and spin against the encoder)."""
    faiss.omp_set_num_threads(1)
