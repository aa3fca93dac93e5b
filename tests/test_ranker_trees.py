"""The answer ranker's compiled trees give ONNX Runtime's scores bit for bit, and ONNX Runtime keeps the work
whenever they cannot or do not."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import onnx
import pytest

from service.core import onnx_nodes, ranker_trees
from service.core.answer import AnswerSettings, prepare_candidates
from service.core.ranker import AnswerRanker, ranker_directory
from service.core.retrieval import Retriever
from service.core.sentence_features import FEATURES, feature_matrix

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
needs_trees = pytest.mark.skipif(ranker_trees._ranker_trees is None, reason="the C kernel was not built (no C compiler at install)")


@pytest.fixture(scope="module")
def ranker() -> AnswerRanker:
    return AnswerRanker(ranker_directory(MODEL))


def shipped_model() -> onnx.ModelProto:
    return onnx.load(ranker_directory(MODEL) / "ranker.onnx")


@needs_trees
def test_the_shipped_ranker_walks_its_trees_compiled(ranker: AnswerRanker) -> None:
    assert ranker.trees is not None
    assert ranker.trees.width == len(FEATURES)


@needs_trees
@pytest.mark.parametrize(
    "question",
    ("What did the inspector say about vetting?", "How many officers were dismissed in Exampleshire?", "Who is the chief constable?", "zzz"),
)
def test_compiled_scores_of_real_candidates_are_onnx_runtimes(retriever: Retriever, ranker: AnswerRanker, question: str) -> None:
    prepared = prepare_candidates(retriever, question, 5, AnswerSettings(), ranked=True)
    matrix = feature_matrix(prepared.text, prepared.candidates, retriever.index.sentence_lexical)
    assert len(matrix) > 1
    assert ranker.scores(matrix).tobytes() == ranker.onnx_scores(matrix).tobytes()


@needs_trees
def test_missing_values_categories_and_thresholds_themselves_score_as_onnx_runtime_does(ranker: AnswerRanker) -> None:
    rows = ranker_trees.agreement_rows(ranker.trees, 2000)
    assert np.isnan(rows).any() and (rows == np.round(rows)).any()
    # More rows than the kernel walks side by side, and a single row.
    assert ranker.scores(rows).tobytes() == ranker.onnx_scores(rows).tobytes()
    assert ranker.scores(rows[:1]).tobytes() == ranker.onnx_scores(rows[:1]).tobytes()


@needs_trees
def test_trees_that_disagree_with_onnx_runtime_are_not_used(ranker: AnswerRanker, caplog: pytest.LogCaptureFixture) -> None:
    leaves = ranker.trees.leaves.copy()
    leaves[::7] += np.float32(1e-3)
    with caplog.at_level(logging.WARNING):
        assert ranker.agreeing_trees(replace(ranker.trees, leaves=leaves)) is None
    assert "disagrees with ONNX Runtime" in caplog.text


@needs_trees
def test_a_branch_the_kernel_does_not_walk_leaves_the_model_to_onnx_runtime() -> None:
    model = shipped_model()
    regressor = model.graph.node[0]
    modes = next(attribute for attribute in regressor.attribute if attribute.name == "nodes_modes")
    modes.strings[0] = b"BRANCH_LT"
    assert ranker_trees.compile_trees(model.SerializeToString(), len(FEATURES)) is None
    # A feature beyond the rows the service gives is refused too, rather than read past a row's end.
    assert ranker_trees.compile_trees(shipped_model().SerializeToString(), 10) is None
    transformed = shipped_model()
    next(attribute for attribute in transformed.graph.node[0].attribute if attribute.name == "post_transform").s = b"LOGISTIC"
    assert ranker_trees.compile_trees(transformed.SerializeToString(), len(FEATURES)) is None


@needs_trees
def test_rows_of_the_wrong_width_are_refused(ranker: AnswerRanker) -> None:
    with pytest.raises(ValueError, match=f"rows of {len(FEATURES)} features"):
        ranker.trees.scores(np.zeros((3, len(FEATURES) - 1), dtype=np.float32))


def test_attributes_read_from_the_wire_format_equal_onnxs_packed_or_not() -> None:
    for value in ([1, -2, 300], [0.5, -1.25], -7, 2.5, b"BRANCH_LEQ", [b"LEAF", b"BRANCH_EQ"]):
        made = onnx.helper.make_attribute("x", value)
        assert onnx_nodes.attribute(made.SerializeToString()) == ("x", onnx.helper.get_attribute_value(made))
    # Writers may pack repeated numbers: field 8 (ints) and 7 (floats) as one length-delimited run.
    packed_ints = b"\x0a\x01x" + b"\x42\x0d" + b"\x01\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01" + b"\xac\x02"
    packed_floats = b"\x0a\x01x" + b"\x3a\x08" + np.array([0.5, -1.25], dtype="<f4").tobytes()
    assert onnx_nodes.attribute(packed_ints) == ("x", [1, -2, 300])
    assert onnx_nodes.attribute(packed_floats) == ("x", [0.5, -1.25])


def test_the_wire_format_reader_sees_the_shipped_models_nodes_as_onnx_does() -> None:
    model = shipped_model()
    read = onnx_nodes.graph_nodes(model.SerializeToString())
    assert [op_type for op_type, _ in read] == [node.op_type for node in model.graph.node]
    expected = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in model.graph.node[0].attribute}
    assert {name: list(value) if isinstance(value, (list, tuple)) else value for name, value in expected.items()} == read[0][1]
