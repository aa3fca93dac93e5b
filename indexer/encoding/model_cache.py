"""Where models live on disk: the model cache folder, and the error for a model that is not there."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "IQA_MODEL_CACHE"


class ModelNotFound(ValueError):
    """The configured model is neither a local path, a bundled package nor an installed packaged model."""


def model_cache_dir() -> Path:
    """Where assembled and exported models are kept: $IQA_MODEL_CACHE, else ~/.cache/inspection-qa/models."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "inspection-qa" / "models"
