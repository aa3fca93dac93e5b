"""Service settings: one object, built from environment variables and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.encoding.embedding import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL
from service.core.answer import AnswerSettings
from service.core.confidence import configured_calibration
from service.core.retrieval import RetrievalSettings

ENV_PREFIX = "IQA_"


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start; env var IQA_<NAME> sets field <name>."""

    index: Path = Path(".index")
    model: str = DEFAULT_MODEL
    # Encoder backend for questions; must be the one that embedded the index.
    backend: str = DEFAULT_BACKEND
    host: str = "127.0.0.1"
    port: int = 8000
    # Coverage model of one's own (`eval calibrate`); None means the one shipped with the service.
    calibration: Path | None = None
    # Coverage below which the verdict is "none"; None means the coverage model's own threshold.
    abstain_below: float | None = None
    # Answer probability from which the verdict is "answer" (else "uncertain"); None means the shipped threshold.
    answer_from: float | None = None
    log_level: str = "info"
    # Server processes; each loads the model and maps the same index files. None: one per core (see worker_plan).
    workers: int | None = None
    # Most questions one encoder call takes, and how long a lone question waits for company.
    max_batch: int = 32
    # Requests answered at once per process (worker threads); the rest wait their turn in order.
    answer_threads: int = 2
    # Encoder threads per process; None means the cores divided among the workers.
    threads: int | None = None
    # Largest request body accepted (413 beyond), and requests per minute per client (0: no limit).
    max_body_bytes: int = 1_048_576
    rate_limit_per_minute: int = 0
    batch_wait_ms: float = 0.0
    # Origins allowed to call the API from a browser (CORS); empty means no cross-origin access.
    cors_origins: tuple[str, ...] = ()
    # Bearer token required on every endpoint but /health and the page shell; None means open.
    api_key: str | None = None
    # The corpus the index was built from: set it to allow POST and DELETE /documents.
    corpus: Path | None = None
    # Largest document upload (the indexer's own per-file limit by default).
    max_upload_bytes: int = 20 * 2**20
    # How often to look for a newly published index version and load it (0: only on /admin/reload).
    reload_poll_seconds: float = 2.0
    # Put the question text in the request log (it is left out by default: questions may be personal).
    log_questions: bool = False
    # Also serve /metrics without the API key on this port, for a scraper (None: only /metrics on the API port).
    metrics_port: int | None = None
    # Where workers share their figures when --workers > 1 (emptied at start; default: a per-port temp directory).
    metrics_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        """Defaults, overridden by IQA_* variables, overridden by non-None keyword arguments."""
        values: dict[str, Any] = {}
        for name, parse in PARSERS.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = parse_setting(name, raw, parse)
        # An empty tuple from a repeatable CLI flag means "not given", like None.
        values.update({name: value for name, value in overrides.items() if value is not None and value != ()})
        return cls(**values)


# Each worker holds its own model and answer caches (about 250 MB with MiniLM): more only when asked.
MOST_AUTOMATIC_WORKERS = 8


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which a container may narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_plan(settings: Settings, cores: int) -> tuple[int, str]:
    """Server processes to run and why: as given, else one per core (at most 8), except one when a
    setting only holds within one process."""
    if settings.workers is not None:
        return settings.workers, "as given"
    if cores <= 1:
        return 1, "one core"
    if settings.rate_limit_per_minute > 0:
        return 1, "a rate limit counts in one process"
    if settings.corpus is not None:
        return 1, "uploads are built and published by one process"
    if settings.reload_poll_seconds <= 0:
        return 1, "other processes would never load a reloaded version without polling"
    return min(cores, MOST_AUTOMATIC_WORKERS), "one per core"


def boolean(raw: str) -> bool:
    """A yes/no environment value."""
    lowered = raw.strip().lower()
    if lowered not in TRUE + FALSE:
        raise ValueError(f"{raw!r} is not one of {', '.join(TRUE + FALSE)}")
    return lowered in TRUE


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
PARSERS: dict[str, Callable[[str], Any]] = {
    "index": Path,
    "model": str,
    "backend": lambda raw: one_of(raw, BACKENDS),
    "host": str,
    "port": int,
    "calibration": Path,
    "abstain_below": float,
    "answer_from": float,
    "log_level": lambda raw: one_of(raw.lower(), LOG_LEVELS),
    "workers": int,
    "max_batch": int,
    "answer_threads": int,
    "threads": int,
    "max_body_bytes": int,
    "rate_limit_per_minute": int,
    "batch_wait_ms": float,
    "cors_origins": lambda raw: tuple(origin.strip() for origin in raw.split(",") if origin.strip()),
    "api_key": str,
    "corpus": Path,
    "max_upload_bytes": int,
    "reload_poll_seconds": float,
    "log_questions": boolean,
    "metrics_port": int,
    "metrics_dir": Path,
}


def parse_setting(name: str, raw: str, parse: Callable[[str], Any]) -> Any:
    """Convert an environment string, naming the variable on failure."""
    try:
        return parse(raw)
    except ValueError as error:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {name.replace('_', ' ')}") from error


def one_of(raw: str, choices: tuple[str, ...]) -> str:
    """raw itself when it is one of choices."""
    if raw not in choices:
        raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
    return raw


def answer_settings_from(settings: Settings, retrieval: RetrievalSettings | None = None) -> AnswerSettings:
    """How to answer and judge, as the settings say."""
    return AnswerSettings(
        retrieval=retrieval or RetrievalSettings(), calibration=configured_calibration(settings.calibration),
        abstain_below=settings.abstain_below, answer_from=settings.answer_from,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """IQA_* variables that rebuild these settings in another process (server workers)."""
    env = {}
    for name in PARSERS:
        value = getattr(settings, name)
        if value is None:
            continue
        env[ENV_PREFIX + name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env
