"""Kafka connections: how every client connects (TLS, SASL), and small aiokafka helpers for
the CLI and tests: create topics, produce, consume.

Every aiokafka client tocsin makes, and the faust app, connects with :func:`client_options`
(or :func:`faust_credentials`), built from the ``TOCSIN_BROKER*`` settings; so a deployment
whose brokers want TLS and SASL sets it once, for workers and CLI alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams import topics
from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of broker connections (None without TLS): the brokers' certificates
    checked against ``TOCSIN_BROKER_CA_FILE`` (else the system's CAs), a client certificate
    when one is configured."""
    if not settings.broker_tls:
        return None
    context = ssl.create_default_context(
        cafile=str(settings.broker_ca_file) if settings.broker_ca_file else None
    )
    context.check_hostname = settings.broker_check_hostname
    if settings.broker_cert_file:
        context.load_cert_chain(
            str(settings.broker_cert_file),
            str(settings.broker_key_file) if settings.broker_key_file else None,
        )
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection arguments of every aiokafka client: bootstrap servers and security."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.brokers,
        "security_protocol": settings.broker_security_protocol,
    }
    if settings.broker_tls:
        options["ssl_context"] = ssl_context(settings)
    if settings.broker_sasl:
        options["sasl_mechanism"] = settings.broker_sasl_mechanism
        options["sasl_plain_username"] = settings.broker_username
        options["sasl_plain_password"] = settings.broker_password
    return options


def faust_credentials(settings: Settings) -> Any:
    """The same security for the faust app (its ``broker_credentials``), or None."""
    import faust

    context = ssl_context(settings)
    if settings.broker_sasl:
        return faust.SASLCredentials(
            username=settings.broker_username,
            password=settings.broker_password,
            ssl_context=context,
            mechanism=settings.broker_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class _Reasons(logging.Handler):
    """aiokafka's own account of why a connection failed, kept for the one error line (it
    raises a bare "Unable to bootstrap" and logs the cause: refused, bad credentials, TLS)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def start_client(client: Any) -> Any:
    """``await client.start()`` for a command: a broker that cannot be reached or refuses us
    is the caller's one error (:func:`connection_problem`, with aiokafka's reason attached as
    a note), not also a log line per attempt; a client that failed to start is stopped
    (aiokafka would warn about it at exit)."""
    log = logging.getLogger("aiokafka")
    reasons = _Reasons()
    propagate = log.propagate
    log.addHandler(reasons)
    log.propagate = False
    try:
        await client.start()
    except BaseException as exc:
        for message in reasons.messages[-1:]:
            exc.add_note(message)
        with contextlib.suppress(Exception):
            await (client.stop() if hasattr(client, "stop") else client.close())
        raise
    finally:
        log.removeHandler(reasons)
        log.propagate = propagate
    return client


def connection_problem(exc: BaseException, settings: Settings) -> str | None:
    """One line for a terminal when ``exc`` means the brokers could not be reached or refused
    us; None for other errors."""
    if not isinstance(exc, KafkaError | ssl.SSLError | ssl.CertificateError):
        return None
    where = ",".join(settings.brokers) or "(none)"
    security = settings.broker_security_protocol
    if settings.broker_sasl:
        security += f" {settings.broker_sasl_mechanism} as {settings.broker_username!r}"
    reason = " ".join(getattr(exc, "__notes__", [])) + f" {type(exc).__name__} {exc}"
    if "authentication" in reason.lower() or "sasl" in reason.lower():
        return (
            f"the Kafka broker at {where} refused the credentials ({security}): check "
            "TOCSIN_BROKER_USERNAME, TOCSIN_BROKER_PASSWORD and TOCSIN_BROKER_SASL_MECHANISM"
        )
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "certificate" in reason.lower():
        detail = _certificate_detail(reason)
        return (
            f"TLS with the Kafka broker at {where} failed{detail}: check TOCSIN_BROKER_CA_FILE "
            "(the CA that signed the brokers' certificates) and TOCSIN_BROKER_CHECK_HOSTNAME"
        )
    if isinstance(exc, KafkaConnectionError):
        host, _sep, port = (settings.brokers or [""])[0].rpartition(":")
        local = host in ("127.0.0.1", "localhost", "::1", "[::1]")
        start = "tocsin kafka up" if port == "9092" else f"TOCSIN_KAFKA_PORT={port} tocsin kafka up"
        fix = (
            f"start the local one with `{start}`, or set TOCSIN_BROKER to your brokers"
            if local
            else "check that they run and that this machine reaches them"
        )
        if security != "PLAINTEXT":
            fix += f" (if one runs there, check that this is its {security.split()[0]} port)"
        detail = "" if security == "PLAINTEXT" else f", {security}"
        return f"no Kafka broker answers at {where} (TOCSIN_BROKER{detail}): {fix}"
    return None


def _certificate_detail(reason: str) -> str:
    for words in ("certificate verify failed", "hostname mismatch", "IP address mismatch"):
        if words.lower() in reason.lower():
            return f" ({words})"
    return ""


async def check_broker(settings: Settings) -> None:
    """Connect to the brokers once and fetch their metadata; raises what a client would."""
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    await admin.close()


async def create_topics(settings: Settings) -> list[str]:
    """Create every topic in ``topics.ALL`` and every table changelog that does not exist yet;
    return those created. A topic state is rebuilt from that exists with a shorter retention
    than the state's window gets the window's."""
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    try:
        existing = set(await admin.list_topics())
        # Topics, then the tables' changelogs (compacted, as faust makes them).
        configs = {spec.full_name(settings): spec.configs(settings) for spec in topics.ALL}
        changelog = {**settings.topic_configs, "cleanup.policy": "compact"}
        configs |= {topics.changelog_name(settings, t): changelog for t in topics.TABLES}
        wanted = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            for name, config in configs.items()
            if name not in existing
        ]
        if wanted:
            # A concurrent creator may win the race; the topics then exist, which is the goal.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        for spec in topics.ALL:
            if spec.holds_state and spec.full_name(settings) in existing:
                await _keep_state_retention(admin, spec.full_name(settings), settings)
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def _keep_state_retention(admin: AIOKafkaAdminClient, name: str, settings: Settings) -> None:
    """Raise ``name``'s retention to the state window's if it is shorter (a topic made before
    state was rebuilt from it, or by hand)."""
    wanted = topics.state_retention_ms(settings)
    resource = ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": None})
    (response,) = await admin.describe_configs([resource])
    for _code, _msg, _type, _name, entries in response.resources:
        for entry in entries:
            if entry[0] == "retention.ms" and 0 <= int(entry[1]) < wanted:
                # AlterConfigs replaces the topic's own configs: give all tocsin sets.
                configs = {**settings.topic_configs, "retention.ms": str(wanted)}
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs)])


async def produce(
    settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs with acks=all and idempotence; return how many were sent."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        max_request_size=2_000_000,
    )
    await start_client(producer)
    sent = 0
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        for future in futures:
            await future
            sent += 1
    finally:
        await producer.stop()
    return sent


async def consume(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = True,
    timeout: float | None = None,
    idle_timeout: float | None = None,
) -> AsyncIterator[Any]:
    """Yield records of ``topic`` (all partitions, no consumer group) until ``timeout``
    seconds in total, or ``idle_timeout`` seconds without a record, have passed."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await start_client(consumer)
    started = last = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if timeout is not None and now - started > timeout:
                return
            if idle_timeout is not None and now - last > idle_timeout:
                return
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    last = time.monotonic()
                    yield record
            await asyncio.sleep(0)
    finally:
        await consumer.stop()


async def read_compacted(
    settings: Settings, topic: str, timeout: float = 30.0
) -> dict[bytes, bytes]:
    """The latest value per key of ``topic`` as of now (a null value deletes the key)."""
    # Without a group id aiokafka assigns this consumer every partition of the topic.
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await start_client(consumer)
    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    try:
        if topic not in await consumer.topics():
            return latest
        end: dict[Any, int] | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    if record.key is None:
                        continue
                    if record.value:
                        latest[record.key] = record.value
                    else:
                        latest.pop(record.key, None)
            assigned = consumer.assignment()
            if not assigned:
                continue
            if end is None:
                end = await consumer.end_offsets(list(assigned))
            positions = [await consumer.position(tp) for tp in assigned]
            if all(pos >= end[tp] for pos, tp in zip(positions, assigned, strict=True)):
                return latest
        raise TimeoutError(f"could not read {topic} to its end in {timeout:.0f} s")
    finally:
        await consumer.stop()
