"""Settings come from defaults, then IQA_* variables, then explicit flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings, worker_plan


def test_env_overrides_defaults_and_flags_override_env() -> None:
    env = {"IQA_INDEX": "/srv/index", "IQA_PORT": "9000", "IQA_ABSTAIN_BELOW": "0.5"}
    settings = Settings.from_env(env)
    assert settings.index == Path("/srv/index") and settings.port == 9000 and settings.abstain_below == 0.5
    assert Settings.from_env(env, port=8001, host=None).port == 8001
    assert Settings.from_env({}).host == "127.0.0.1"


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="IQA_PORT='eighty'"):
        Settings.from_env({"IQA_PORT": "eighty"})
    with pytest.raises(ValueError, match="IQA_LOG_LEVEL='verbose'"):
        Settings.from_env({"IQA_LOG_LEVEL": "verbose"})
    assert Settings.from_env({"IQA_LOG_LEVEL": "WARNING"}).log_level == "warning"


def test_cors_origins_and_api_key_come_from_env_and_flags() -> None:
    env = {"IQA_CORS_ORIGINS": "https://a.example, https://b.example,", "IQA_API_KEY": "k1"}
    settings = Settings.from_env(env)
    assert settings.cors_origins == ("https://a.example", "https://b.example") and settings.api_key == "k1"
    # An empty repeatable flag leaves the environment's origins in place; a given one wins.
    assert Settings.from_env(env, cors_origins=()).cors_origins == ("https://a.example", "https://b.example")
    assert Settings.from_env(env, cors_origins=("https://c.example",), api_key="k2").cors_origins == ("https://c.example",)
    assert Settings.from_env({}).cors_origins == () and Settings.from_env({}).api_key is None


def test_operating_settings_come_from_env() -> None:
    env = {"IQA_LOG_QUESTIONS": "yes", "IQA_METRICS_PORT": "9100", "IQA_METRICS_DIR": "/run/iqa-metrics"}
    settings = Settings.from_env(env)
    assert settings.log_questions is True and settings.metrics_port == 9100 and settings.metrics_dir == Path("/run/iqa-metrics")
    assert Settings.from_env({"IQA_LOG_QUESTIONS": "0"}).log_questions is False
    assert Settings.from_env({}).log_questions is False and Settings.from_env({}).metrics_port is None
    with pytest.raises(ValueError, match="IQA_LOG_QUESTIONS='maybe'"):
        Settings.from_env({"IQA_LOG_QUESTIONS": "maybe"})


def test_workers_default_to_one_per_core_unless_a_setting_holds_only_in_one_process() -> None:
    assert worker_plan(Settings(), 2) == (2, "one per core")
    assert worker_plan(Settings(), 64) == (8, "one per core")
    assert worker_plan(Settings(), 1) == (1, "one core")
    assert worker_plan(Settings(rate_limit_per_minute=60), 4) == (1, "a rate limit counts in one process")
    assert worker_plan(Settings(corpus=Path("corpus")), 4) == (1, "uploads are built and published by one process")
    assert worker_plan(Settings(reload_poll_seconds=0), 4)[0] == 1
    # Asked for, a number is kept whatever else is set.
    assert worker_plan(Settings(workers=3, rate_limit_per_minute=60), 2) == (3, "as given")
    assert worker_plan(Settings.from_env({"IQA_WORKERS": "1"}), 4) == (1, "as given")
