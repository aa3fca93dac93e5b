"""The chunk vector index: exact (flat) for small collections, HNSW beyond, memory-mapped when opened."""

from __future__ import annotations

import os
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
# OpenMP's thread count for this process as started (OMP_NUM_THREADS, else the cores it may use),
# read before any search lowers it for the importing thread.
BUILD_THREADS = faiss.omp_get_max_threads()


def choose_index(count: int, flat_max: int = FLAT_MAX_VECTORS) -> tuple[str, dict[str, int]]:
    """The FAISS factory string and search parameters for a collection of this size."""
    if count <= flat_max:
        return "IDMap2,Flat", {}
    # fp16 storage halves the vectors a process keeps resident (730 MiB instead of 1.5 GiB at 1M),
    # with recall unchanged at this precision (eval/reports/scale.md).
    return f"IDMap2,HNSW{HNSW_M},SQfp16", {"efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}


def build_vector_index(vectors: np.ndarray, factory: str, params: dict[str, int]) -> faiss.Index:
    """Inner-product index over unit vectors, ids 0..n-1."""
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if "efConstruction" in params:
        faiss.downcast_index(index.index).hnsw.efConstruction = params["efConstruction"]
        # HNSW construction is parallel; this thread may have searched before (the service's rebuild
        # after an upload), and searching leaves OpenMP at one thread for it.
        faiss.omp_set_num_threads(BUILD_THREADS)
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
    """Single-threaded FAISS searches from the calling thread: the service runs one search per request
    thread, so OpenMP teams inside each search would only oversubscribe the cores (and spin against the
    encoder). OpenMP keeps this setting per thread, so it is made by the searching thread, at each
    search (70 ns): set once at start-up, request threads still forked two-thread teams (server CPU per
    answer 6.5 ms, not 3.7)."""
    faiss.omp_set_num_threads(1)


class RowReader:
    """Rows of a .npy matrix read by id with pread. Unlike a memory map, the rows read stay out of
    the process's resident memory (the kernel's page cache keeps the hot ones), so a matrix larger
    than the memory budget can serve a few thousand rows per question."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, self.dtype = header(handle)
            self.offset = handle.tell()
        if fortran_order or len(shape) != 2:
            raise ValueError(f"{path} is not a C-ordered matrix")
        self.rows, self.width = shape
        self.row_bytes = self.width * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The rows of ids, in the order given; runs of consecutive ids are read in one call."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.rows):
            raise IndexError(f"row ids must be in 0..{self.rows - 1}")
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        out = np.empty((len(ids), self.width), dtype=self.dtype)
        for run in np.split(np.arange(len(ids)), np.flatnonzero(np.diff(ordered) != 1) + 1):
            if len(run):
                data = os.pread(self.fd, len(run) * self.row_bytes, self.offset + int(ordered[run[0]]) * self.row_bytes)
                out[order[run]] = np.frombuffer(data, dtype=self.dtype).reshape(len(run), self.width)
        return out

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)
