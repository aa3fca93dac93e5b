"""The learned answer ranker: LightGBM trees over sentence features, run by ONNX Runtime.

Each encoder has its own rankers (its cosines are features): a general one, and in reports/ one for questions
asked within a few reports. Each is kept in service/core/rankers/<model slug>/[reports/] as
`ranker.onnx` (the LightGBM model converted by onnxmltools, so serving needs neither LightGBM nor
scikit-learn), `ranker.json` (its manifest: features, version, sha256, what it was fit on, and the
logistic map from ranker score to the probability a sentence answers) and `verdict.json` (the coverage
and answer scores fit on its ranking, service/confidence.py VerdictModel).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from pathlib import Path

import msgspec
import numpy as np

from service.core.ranker_trees import CompiledTrees, agreement_rows, compile_trees
from service.core.sentence_features import FEATURES

logger = logging.getLogger(__name__)

RANKERS = Path(__file__).with_name("rankers")
MODEL_FILE = "ranker.onnx"
MANIFEST_FILE = "ranker.json"
# The verdict models fit on this ranker's scores (service/confidence.py VerdictModel).
VERDICT_FILE = "verdict.json"
# Beside the general ranker, the one for questions asked within a few reports: fit on SQuAD and on questions
# about real reports, whose candidates (forty chunks of one long report) the general one never saw.
REPORTS_RANKER = "reports"


class RankerError(ValueError):
    """A ranker whose files are missing, altered or built for other features."""


class RankerManifest(msgspec.Struct, frozen=True):
    """What a ranker is: its features, file hash, fit, and score-to-probability map."""

    version: str
    model: str
    features: list[str]
    sha256: str
    # P(sentence answers) = sigmoid(slope * score + intercept), fit out of fold.
    slope: float
    intercept: float
    # An extra sentence is quoted only when its probability reaches this.
    extra_evidence_probability: float
    fitted_on: dict[str, object] = {}
    cross_validation: dict[str, object] = {}


def model_slug(model: str) -> str:
    """A directory name for a model name."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", model.removeprefix("sentence-transformers/"))


class AnswerRanker:
    """Scores candidate sentences; higher is more likely the answer."""

    def __init__(self, directory: Path) -> None:
        import onnxruntime

        manifest_path, model_path = directory / MANIFEST_FILE, directory / MODEL_FILE
        try:
            self.manifest = msgspec.json.decode(manifest_path.read_bytes(), type=RankerManifest)
            text = model_path.read_bytes()
        except (OSError, msgspec.DecodeError) as error:
            raise RankerError(f"cannot read the answer ranker in {directory}: {error}") from error
        if hashlib.sha256(text).hexdigest() != self.manifest.sha256:
            raise RankerError(f"{model_path} does not match the sha256 in {manifest_path}; reinstall the package")
        if self.manifest.features != list(FEATURES):
            raise RankerError(f"the ranker in {directory} reads features {self.manifest.features}, this version computes {list(FEATURES)}")
        options = onnxruntime.SessionOptions()
        # One thread: requests already run in parallel, and a pool per call costs more than 30 rows take.
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        self.session = onnxruntime.InferenceSession(text, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.version = self.manifest.version
        self.verdict_path = directory / VERDICT_FILE
        self.trees = self.agreeing_trees(compile_trees(text, len(FEATURES)))

    def agreeing_trees(self, trees: CompiledTrees | None) -> CompiledTrees | None:
        """The compiled trees if they give ONNX Runtime's scores bit for bit on rows down many paths, else None."""
        if trees is None:
            return None
        rows = agreement_rows(trees)
        if trees.scores(rows).tobytes() != self.onnx_scores(rows).astype(np.float32).tobytes():
            logger.warning("the compiled answer ranker disagrees with ONNX Runtime on a test row; ONNX Runtime scores the answers")
            return None
        return trees

    def onnx_scores(self, features: np.ndarray) -> np.ndarray:
        """Raw ranker scores from ONNX Runtime."""
        scores = self.session.run(None, {self.input_name: np.ascontiguousarray(features, dtype=np.float32)})[0]
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Raw ranker scores of the rows of a FEATURES matrix (the compiled trees' when they agree with ONNX Runtime)."""
        if not len(features):
            return np.zeros(0, dtype=np.float64)
        if self.trees is not None:
            return self.trees.scores(features).astype(np.float64)
        return self.onnx_scores(features)

    def probability(self, score: float) -> float:
        """P(the sentence answers the question) for a ranker score."""
        return 1.0 / (1.0 + math.exp(-(self.manifest.slope * score + self.manifest.intercept)))


def ranker_directory(model: str) -> Path:
    """Where the ranker for an encoder model lives."""
    return RANKERS / model_slug(model)


def load_ranker(model: str, directory: Path | None = None) -> AnswerRanker | None:
    """The ranker for a model, or None when none ships for it (answers then fall back to fused scores)."""
    directory = directory or ranker_directory(model)
    if not (directory / MANIFEST_FILE).is_file():
        return None
    return AnswerRanker(directory)
