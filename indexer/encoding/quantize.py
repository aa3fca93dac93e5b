"""int8 ONNX copies of sentence-transformers models, exported locally and cached by source hash."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.encoding.model_cache import CACHE_ENV, model_cache_dir  # noqa: F401 (CACHE_ENV: its old home, re-exported)
from indexer.encoding.models import STAMP, verified_file_hashes

# Dynamic (calibration-free) int8 with the AVX-512 VNNI settings: this CPU's fastest int8 path.
QUANTIZATION = "avx512_vnni"
INT8_FILE = f"onnx/model_qint8_{QUANTIZATION}.onnx"
# The libraries whose loggers speak during an export.
EXPORT_LOGGERS = ("sentence_transformers", "transformers", "optimum", "torch.onnx")


def source_digest(source: Path) -> str:
    """A short hash of the model's weights and config, so a changed model gets a new export."""
    # An assembled packaged model's hashes were verified when it was built: re-reading 440 MB per start is waste.
    known = verified_file_hashes(source) or {}
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and "onnx" not in p.parts and p.name != STAMP):
        name = path.relative_to(source).as_posix()
        digest.update(name.encode())
        digest.update(bytes.fromhex(known[name]) if name in known else hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def int8_model_dir(source: Path, cache_dir: Path | None = None) -> Path:
    """A directory holding the model and its int8 ONNX export, exporting it on first use."""
    target = (cache_dir or model_cache_dir()) / f"{source.name}-{source_digest(source)}-int8"
    if (target / INT8_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Processes starting together (a server's workers) make one export: the others wait for it and use it.
    with exclusive_lock(target.with_name(f"{target.name}.lock")):
        if not (target / INT8_FILE).is_file():
            export_into(source, target)
    return target


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path (created if missing) across processes; released if the holder dies."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def export_into(source: Path, target: Path) -> None:
    """Export source to int8 in a staging copy, then move it to target whole."""
    staging = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns("onnx"))
    sys.stderr.write(f"Exporting the model in {source} to int8 ONNX, once, into {target}\n")
    export_int8(staging)
    try:
        os.replace(staging, target)
    except OSError:
        # A cache shared with a filesystem where the lock does not hold: another export finished first.
        shutil.rmtree(staging, ignore_errors=True)


def export_int8(model_dir: Path) -> None:
    """Export model_dir to ONNX, then quantize it to int8, both inside model_dir/onnx."""
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    with quiet_libraries():
        model = SentenceTransformer(str(model_dir), backend="onnx", device="cpu")
        model.save_pretrained(str(model_dir))
        export_dynamic_quantized_onnx_model(model, QUANTIZATION, str(model_dir))


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Hold back what the export prints: TorchScript tracer and deprecation warnings, "Exporting the model to
    ONNX", "saving is heavily recommended" (it is saved just after). None of it is a thing a user can act on."""
    loggers = [logging.getLogger(name) for name in EXPORT_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
