"""The int8 ONNX model run directly with ONNX Runtime and the fast tokenizer: the same vectors as
sentence-transformers' ONNX backend, without importing PyTorch or transformers, so a service using it
starts in about a second and holds a few hundred MB less."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm


class UnsupportedModel(ValueError):
    """A model whose pipeline this runner does not reproduce (it falls back to sentence-transformers)."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict, or an empty one if it is missing."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def pipeline_settings(model_dir: Path) -> tuple[int, bool]:
    """The token limit and whether vectors are normalised; UnsupportedModel unless the pipeline is
    transformer, mean pooling, optional normalisation (as all-MiniLM-L6-v2's is)."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
    pooling = read_json(model_dir / "1_Pooling" / "config.json")
    mean = pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True
    if kinds[:2] != ["Transformer", "Pooling"] or not mean or set(kinds[2:]) - {"Normalize"}:
        raise UnsupportedModel(f"{model_dir}: pipeline {kinds} with pooling {pooling} is not transformer + mean pooling")
    limit = read_json(model_dir / "sentence_bert_config.json").get("max_seq_length")
    limit = limit or read_json(model_dir / "tokenizer_config.json").get("model_max_length")
    if not isinstance(limit, int):
        raise UnsupportedModel(f"{model_dir}: no max_seq_length or model_max_length")
    return limit, "Normalize" in kinds


class OnnxSentenceEncoder:
    """Tokenise, run the ONNX transformer, mean-pool over real tokens, normalise."""

    def __init__(self, model_dir: Path, onnx_file: str, threads: int, one_text_per_run: bool = False) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.max_seq_length, self.normalize = pipeline_settings(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json carries the hub's own truncation (128 for this model); sentence-transformers uses max_seq_length.
        self.tokenizer.enable_truncation(self.max_seq_length)
        # Pad with the model's own token (MPNet's is <pad>=1, not [PAD]=0): int8 models quantize each
        # batch's activations over the whole tensor, padding included, so the pad id changes the vectors.
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        # Idle pool threads must sleep, not spin: the HTTP event loop shares these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(model_dir / onnx_file), options, providers=["CPUExecutionProvider"])
        self.input_names = {graph_input.name for graph_input in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        # A dynamically quantized model scales each run's activations by the whole input tensor, so a
        # text batched with others gets a vector that depends on them (cosine down to 0.97 for MiniLM):
        # run it alone and its vector is its own, whatever else is being encoded, for 8-26% more time.
        self.one_text_per_run = one_text_per_run

    def get_embedding_dimension(self) -> int:
        """Width of the vectors."""
        return self.dimension

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Pooled (and normalised) vectors of one batch."""
        encodings = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        tokens = self.session.run(None, {name: value for name, value in feeds.items() if name in self.input_names})[0]
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        # np.maximum rather than np.clip: the same values, without np.clip's Python-level checks.
        pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        if self.normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def encode(self, texts: list[str], batch_size: int = 32, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        """Vectors for texts, longest first in batches (less padding), returned in input order."""
        if len(texts) == 1:
            # A question: nothing to order or report progress on (the bookkeeping cost 3% of its encode).
            return self.embed_batch(texts)
        batch_size = 1 if self.one_text_per_run else batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="embedding", disable=not show_progress_bar):
            chosen = order[start : start + batch_size]
            out[chosen] = self.embed_batch([texts[i] for i in chosen])
        return out
