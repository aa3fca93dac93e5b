"""The answer ranker's trees walked by the compiled kernel (service/core/_ranker_trees.c) instead of ONNX Runtime.

The kernel reads a compact copy of the trees in the ranker's ONNX file: 8 bytes a branch, every index
within its tree. It adds the leaves as ONNX Runtime does (float32, tree by tree), and on loading it must
give ONNX Runtime's scores bit for bit on a sample of rows, or ONNX Runtime keeps the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from service.core.onnx_nodes import graph_nodes

try:
    from service.core import _ranker_trees
except ImportError:  # built without a C compiler: ONNX Runtime walks the trees
    _ranker_trees = None

NODE = np.dtype([("threshold", "<f4"), ("feature", "u1"), ("flags", "u1"), ("yes", "u1"), ("no", "u1")])
TREE = np.dtype([("nodes", "<i4"), ("leaves", "<i4"), ("root", "<i4")])
LEAF, EQUAL, MISSING_GOES_YES = 0x80, 1, 2
# ONNX's branch modes the kernel walks; any other (BRANCH_LT, BRANCH_GT, ...) leaves the model to ONNX Runtime.
BRANCHES = {b"BRANCH_LEQ": 0, b"BRANCH_EQ": EQUAL}
# Node and leaf indexes are 7 bits, feature numbers 8.
MOST_PER_TREE, MOST_FEATURES = 0x80, 0x100


@dataclass(frozen=True)
class CompiledTrees:
    """A TreeEnsembleRegressor's trees as the kernel reads them."""

    nodes: np.ndarray
    leaves: np.ndarray
    trees: np.ndarray
    width: int

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Each row's sum of leaves (float32), as ONNX Runtime gives it."""
        rows = np.ascontiguousarray(features, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"the ranker reads rows of {self.width} features, got an array of shape {rows.shape}")
        out = np.empty(len(rows), dtype=np.float32)
        _ranker_trees.score(self.nodes, self.leaves, self.trees, rows, self.width, out)
        return out


def compile_trees(model: bytes, width: int) -> CompiledTrees | None:
    """The trees of a one-output, untransformed TreeEnsembleRegressor, or None (no kernel, or a model it cannot walk)."""
    if _ranker_trees is None:
        return None
    try:
        regressors = [attributes for op_type, attributes in graph_nodes(model) if op_type == "TreeEnsembleRegressor"]
        if len(regressors) != 1:
            return None
        attributes = regressors[0]
        if attributes.get("post_transform", b"NONE") != b"NONE" or attributes.get("n_targets", 1) != 1 or any(attributes.get("base_values", [])):
            return None
        if attributes.get("aggregate_function", b"SUM") != b"SUM" or set(attributes.get("target_ids", [])) - {0}:
            return None
        return pack_trees(attributes, width)
    except (KeyError, ValueError, DecodeError):
        return None


def pack_trees(attributes: dict, width: int) -> CompiledTrees:
    """The kernel's arrays from a regressor's node and target attributes; ValueError for what they cannot hold."""
    by_tree: dict[int, dict[int, int]] = {}
    for i, (tree, node) in enumerate(zip(attributes["nodes_treeids"], attributes["nodes_nodeids"])):
        by_tree.setdefault(tree, {})[node] = i
    weights = {(tree, node): weight for tree, node, weight in zip(attributes["target_treeids"], attributes["target_nodeids"], attributes["target_weights"])}
    nodes: list[tuple] = []
    leaves: list[float] = []
    trees = []
    for tree, where in sorted(by_tree.items()):
        modes = {node: attributes["nodes_modes"][i] for node, i in where.items()}
        branches, ends = sorted(node for node in where if modes[node] != b"LEAF"), sorted(node for node in where if modes[node] == b"LEAF")
        if len(branches) > MOST_PER_TREE or len(ends) > MOST_PER_TREE or 0 not in where:
            raise ValueError(f"tree {tree} is too large for the kernel")
        code = {node: number for number, node in enumerate(branches)} | {node: LEAF | number for number, node in enumerate(ends)}
        trees.append((len(nodes), len(leaves), code[0]))
        nodes.extend(branch(attributes, where[node], code, width) for node in branches)
        leaves.extend(weights[tree, node] for node in ends)
    return CompiledTrees(np.array(nodes, dtype=NODE), np.array(leaves, dtype=np.float32), np.array(trees, dtype=TREE), width)


def branch(attributes: dict, i: int, code: dict[int, int], width: int) -> tuple[float, int, int, int, int]:
    """Node i of the attributes as a kernel branch: threshold, feature, flags, and where yes and no lead."""
    mode, feature = attributes["nodes_modes"][i], attributes["nodes_featureids"][i]
    if mode not in BRANCHES or not 0 <= feature < min(width, MOST_FEATURES):
        raise ValueError(f"node {i} is beyond the kernel")
    flags = BRANCHES[mode] | (MISSING_GOES_YES if attributes["nodes_missing_value_tracks_true"][i] else 0)
    return attributes["nodes_values"][i], feature, flags, code[attributes["nodes_truenodeids"][i]], code[attributes["nodes_falsenodeids"][i]]


def agreement_rows(trees: CompiledTrees, count: int = 512) -> np.ndarray:
    """Rows that take the trees down many paths: each value one of the trees' own thresholds for its feature
    (or the float next to it, either side), a small whole number (a category), or missing."""
    generator = np.random.default_rng(0)
    rows = np.empty((count, trees.width), dtype=np.float32)
    for feature in range(trees.width):
        thresholds = trees.nodes["threshold"][trees.nodes["feature"] == feature]
        if not len(thresholds):
            thresholds = np.zeros(1, dtype=np.float32)
        picked = generator.choice(thresholds, count)
        nudged = np.nextafter(picked, np.where(generator.random(count) < 0.5, -np.inf, np.inf).astype(np.float32))
        rows[:, feature] = np.where(generator.random(count) < 0.5, picked, nudged)
    categories = generator.random(rows.shape) < 0.1
    rows[categories] = generator.integers(0, 12, size=int(categories.sum()))
    rows[generator.random(rows.shape) < 0.05] = np.nan
    return rows
