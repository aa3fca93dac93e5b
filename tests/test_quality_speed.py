"""The quality-speed table, measured end to end on small real data: a SQuAD-format file, a BEIR set, a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.perf.quality_speed import COLUMNS, markdown, measure
from eval.perf.wrk import wrk_available
from tests.conftest import CORPUS
from tests.squad_files import write_squad_dir
from tests.test_beir import dataset  # noqa: F401  (the small BEIR set, a module fixture)


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_every_column_is_measured_for_the_default_encoder(dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    squad_dir = write_squad_dir(tmp_path / "squad")
    rows = measure(("sentence-transformers/all-MiniLM-L6-v2",), ("onnx-int8",), squad_dir, dataset, CORPUS, tmp_path / "cache", tmp_path / "work", 1.0, lambda _: None)
    # The default encoder ships a ranker, so both answer steps get a row.
    assert [row["combination"] for row in rows] == ["all-MiniLM-L6-v2 · onnx-int8 · ranker", "all-MiniLM-L6-v2 · onnx-int8 · fused"]
    for row in rows:
        assert all(key in row for key, _, _ in COLUMNS)
        assert 0.0 <= row["reqa_r@1_report"] <= 1.0 and 0.0 < row["scifact_ndcg@10"] <= 1.0
        assert row["ask_p50_ms_c1"] > 0 and row["answers_per_s_c32"] > 0 and row["texts_per_s"] > 0
        # An answer encodes its question, so it cannot take less time than the encoder alone.
        assert row["answer_over_encoder"] > 1.0
    table = markdown(rows)
    assert table.count("\n| all-MiniLM-L6-v2") == 2 and "answers/s c=32" in table and "in-process p50 / encoder p50" in table
