"""What the server prints at start: the URL from uvicorn, and none of its other INFO lines."""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class OnlyTheAddress(logging.Filter):
    """At INFO, only uvicorn's "running on <URL>" line passes; warnings and errors always do."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record is printed."""
        return record.levelno >= logging.WARNING or str(record.msg).startswith("Uvicorn running on")


def uvicorn_log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's own logging config; at the default level (info) its start and stop lines other than the
    address are left out, since the CLI has already said what was loaded. debug keeps every line."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if log_level == "info":
        config["filters"] = {"only_the_address": {"()": "service.http.server_log.OnlyTheAddress"}}
        config["handlers"]["default"]["filters"] = ["only_the_address"]
    return config
