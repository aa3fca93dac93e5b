"""Command-line options shared by the eval commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from indexer.encoding.embedding import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL

# Chosen on the SciFact train split (eval/reports/scifact-train.md): hybrid nDCG@10 0.7499 at 256/64,
# 0.7506 at 512/128, 0.7527 with each abstract one chunk. Every sentence is still embedded on its own,
# so the text past the model's 256-wordpiece window is scored through its sentences.
BEIR_CHUNK_TOKENS = 4096
BEIR_OVERLAP_TOKENS = 0
DEFAULT_SET = Path(__file__).parent / "sets" / "seed.jsonl"
backend_option = click.option(
    "--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND, envvar="IQA_BACKEND", show_default=True,
    help="Encoder backend: PyTorch fp32 or ONNX Runtime int8.",
)


def serving_options(command: Any) -> Any:
    """The options of every command that starts the server: index, questions, model, backend."""
    options = [
        click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="IQA_INDEX", help="Index root to serve."),
        click.option("--set", "set_path", default=DEFAULT_SET, show_default=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Questions to send (JSONL eval set)."),
        click.option("--model", default=DEFAULT_MODEL, envvar="IQA_MODEL", show_default=True, help="Embedding model the index was built with."),
        backend_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command
# Chosen on the SciFact train split; see eval/reports/.
