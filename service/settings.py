"""Service settings: one object, built from environment variables and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.embedding import DEFAULT_MODEL

ENV_PREFIX = "IQA_"


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start; env var IQA_<NAME> sets field <name>."""

    index: Path = Path(".index")
    model: str = DEFAULT_MODEL
    host: str = "127.0.0.1"
    port: int = 8000
    # Abstention model; None means the one shipped with the service.
    calibration: Path | None = None
    # Confidence below which to abstain; None means the calibration's own threshold.
    abstain_below: float | None = None
    log_level: str = "info"
    # Origins allowed to call the API from a browser (CORS); empty means no cross-origin access.
    cors_origins: tuple[str, ...] = ()
    # Bearer token required on every endpoint but /health and the page shell; None means open.
    api_key: str | None = None

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


PARSERS: dict[str, Callable[[str], Any]] = {
    "index": Path,
    "model": str,
    "host": str,
    "port": int,
    "calibration": Path,
    "abstain_below": float,
    "log_level": str,
    "cors_origins": lambda raw: tuple(origin.strip() for origin in raw.split(",") if origin.strip()),
    "api_key": str,
}


def parse_setting(name: str, raw: str, parse: Callable[[str], Any]) -> Any:
    """Convert an environment string, naming the variable on failure."""
    try:
        return parse(raw)
    except ValueError as error:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {name.replace('_', ' ')}") from error
