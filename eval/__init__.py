"""Measurement of the service: quality/ (eval sets and public benchmarks) and perf/ (speed and scale)."""

from service.moved import keep_old_paths

# Where each module was before the split.
MOVED = {
    "eval.abstention": "eval.quality.abstention",
    "eval.answer_training": "eval.quality.answer_training",
    "eval.beir": "eval.quality.beir",
    "eval.bench": "eval.perf.bench",
    "eval.calibrate": "eval.quality.calibrate",
    "eval.ceiling": "eval.quality.ceiling",
    "eval.compare": "eval.quality.compare",
    "eval.dataset": "eval.quality.dataset",
    "eval.metrics": "eval.quality.metrics",
    "eval.perf_cli": "eval.perf.cli",
    "eval.quality_speed": "eval.perf.quality_speed",
    "eval.ray_bench": "eval.perf.ray_bench",
    "eval.reqa": "eval.quality.reqa",
    "eval.run": "eval.quality.run",
    "eval.scale": "eval.perf.scale",
    "eval.scale_service": "eval.perf.scale_service",
    "eval.scrape_bench": "eval.perf.scrape_bench",
    "eval.squad": "eval.quality.squad",
    "eval.squad_cli": "eval.quality.squad_cli",
    "eval.throughput": "eval.perf.throughput",
    "eval.tune": "eval.quality.tune",
    "eval.upload_bench": "eval.perf.upload_bench",
    "eval.verdict_training": "eval.quality.verdict_training",
    "eval.wrk": "eval.perf.wrk",
}
keep_old_paths(MOVED)
