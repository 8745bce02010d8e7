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
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code

from streams import topics
from streams.errors import TopicsNotReady
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


@dataclass
class TopicsReport:
    """What :func:`ensure_topics` found and did, topic by topic."""

    created: list[str] = field(default_factory=list)
    # topic -> what was repaired in place (configs set, partitions added)
    fixed: dict[str, list[topics.Drift]] = field(default_factory=dict)
    drift: list[topics.Drift] = field(default_factory=list)  # what still differs


async def _topic_states(
    admin: AIOKafkaAdminClient, names: Iterable[str]
) -> dict[str, topics.TopicState]:
    """Partitions, replication and tocsin's configs of those of ``names`` that exist."""
    names = set(names)
    # Metadata of every topic: a request naming topics would create the missing ones with the
    # broker's defaults on brokers that allow auto-creation (Kafka's default), the trap this
    # check is there to avoid.
    described = {
        t["topic"]: t["partitions"]
        for t in await admin.describe_topics()
        if t["topic"] in names and not t["error_code"]
    }
    keys = ("cleanup.policy", "retention.ms", "min.insync.replicas")
    configs: dict[str, dict[str, str]] = {name: {} for name in described}
    if described:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys))
            for name in sorted(described)
        ]
        for response in await admin.describe_configs(resources):
            for code, message, _type, name, entries in response.resources:
                if code:
                    # Not "missing configs": a user without DescribeConfigs would be told to
                    # create topics that exist.
                    error = for_code(code).__name__
                    raise TopicsNotReady(
                        f"cannot read the configs of topic {name} ({error}: {message or '-'}); "
                        "tocsin's user needs DescribeConfigs on its topics"
                    )
                for entry in entries:
                    if name in configs and entry[1] is not None:
                        configs[name][entry[0]] = str(entry[1])
    return {
        name: topics.TopicState(
            partitions=len(partitions),
            replication=min((len(p["replicas"]) for p in partitions), default=0),
            configs=configs[name],
        )
        for name, partitions in described.items()
    }


async def check_topics(settings: Settings, patience: float = 5.0) -> list[topics.Drift]:
    """Every way the brokers' topics differ from what tocsin needs (empty: all is well).

    A broker applies a topic's creation or change to the metadata it answers from a moment
    after the controller accepted it (seconds on a loaded machine), so differences are asked
    about again for ``patience`` seconds before they count."""
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    deadline = time.monotonic() + patience
    try:
        wanted = topics.wanted(settings)
        while True:
            problems = await _differences(admin, settings, wanted)
            if not problems or time.monotonic() >= deadline:
                return problems
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _differences(
    admin: AIOKafkaAdminClient, settings: Settings, wanted: dict[str, dict[str, str]]
) -> list[topics.Drift]:
    states = await _topic_states(admin, wanted)
    return [
        d
        for name, conf in wanted.items()
        for d in topics.drift(settings, name, conf, states.get(name))
    ]


async def ensure_topics(settings: Settings, *, add_partitions: bool = False) -> TopicsReport:
    """Create every missing topic and changelog, set the configs tocsin gives them where they
    differ and, with ``add_partitions``, add partitions to topics that have too few; report
    what was done and what still differs (a partition count or replication factor tocsin
    does not change by itself)."""
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    report = TopicsReport()
    try:
        wanted = topics.wanted(settings)
        states = await _topic_states(admin, wanted)
        new = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.replication_factor,
                topic_configs=configs,
            )
            for name, configs in wanted.items()
            if name not in states
        ]
        if new:
            # A concurrent creator may win the race; the topics then exist, which is the goal.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            report.created = [t.name for t in new]
        for name, state in states.items():
            problems = topics.drift(settings, name, wanted[name], state)
            done = await _repair(admin, name, wanted[name], state, problems, add_partitions)
            if done:
                report.fixed[name] = done
            report.drift += [p for p in problems if p not in done]
        # A worker or consumer started right after this must find every topic, and what was
        # repaired, in the metadata.
        await _until_visible(admin, report.created)
        await _until_repaired(admin, settings, {n: wanted[n] for n in report.fixed}, report)
        return report
    finally:
        await admin.close()


async def _repair(
    admin: AIOKafkaAdminClient,
    name: str,
    configs: dict[str, str],
    state: topics.TopicState,
    problems: list[topics.Drift],
    add_partitions: bool,
) -> list[topics.Drift]:
    """Fix what can be fixed in place; return the problems fixed."""
    done = []
    config_problems = [p for p in problems if p.fixable]
    if config_problems:
        # AlterConfigs (aiokafka has no incremental variant) replaces a topic's own configs:
        # give all tocsin sets, keeping a longer retention someone gave a state topic.
        full = dict(configs)
        found = state.configs.get("retention.ms")
        if "retention.ms" in full and not any(p.what == "retention.ms" for p in problems):
            full["retention.ms"] = found or full["retention.ms"]
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, full)])
        done += config_problems
    fewer = [p for p in problems if p.what == "partitions" and int(p.found) < int(p.expected)]
    if add_partitions and fewer:
        await admin.create_partitions({name: NewPartitions(total_count=int(fewer[0].expected))})
        done += fewer
    return done


async def _until_visible(
    admin: AIOKafkaAdminClient, names: list[str], timeout: float = 15.0
) -> None:
    """Wait (a little) until every partition of ``names`` has a leader in the metadata."""
    deadline = time.monotonic() + timeout
    wanted = set(names)
    while wanted and time.monotonic() < deadline:
        ready = {
            t["topic"]
            for t in await admin.describe_topics()
            if t["topic"] in wanted
            and not t["error_code"]
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
        }
        wanted -= ready
        if wanted:
            await asyncio.sleep(0.2)


async def _until_repaired(
    admin: AIOKafkaAdminClient,
    settings: Settings,
    wanted: dict[str, dict[str, str]],
    report: TopicsReport,
    timeout: float = 15.0,
) -> None:
    """Wait (a little) until the brokers answer with what was repaired."""
    deadline = time.monotonic() + timeout
    fixed = {p for problems in report.fixed.values() for p in problems}
    while wanted and time.monotonic() < deadline:
        if not fixed.intersection(await _differences(admin, settings, wanted)):
            return
        await asyncio.sleep(0.2)


async def create_topics(settings: Settings) -> list[str]:
    """Create every missing topic and changelog (and fix their configs); return those created."""
    return (await ensure_topics(settings)).created


async def require_topics(settings: Settings, names: Iterable[str], patience: float = 3.0) -> None:
    """Raise :class:`TopicsNotReady` (one line: which, and the command that makes them) unless
    every topic of ``names`` exists. A topic created a moment ago may not be in every broker's
    metadata yet: absent ones are asked for again for ``patience`` seconds."""
    names = sorted(set(names))
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    deadline = time.monotonic() + patience
    try:
        while True:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise _not_ready(settings, missing)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def _not_ready(settings: Settings, missing: list[str]) -> TopicsNotReady:
    drifts = [topics.Drift(name, "missing") for name in missing]
    return TopicsNotReady(topics.refusal(drifts, ",".join(settings.brokers), worker=False))


async def produce(
    settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs with acks=all and idempotence; return how many were sent. A
    missing topic is an error (:func:`require_topics`), never created by the send."""
    await require_topics(settings, [topic])
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


async def partitions_of(
    settings: Settings,
    topic: str,
    *,
    on_wait: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> list[TopicPartition]:
    """Every partition of ``topic``. Missing: with ``on_wait``, call it once and wait until
    the topic appears (or ``timeout`` s have passed: then []); without, raise
    :class:`TopicsNotReady`."""
    admin = await start_client(AIOKafkaAdminClient(**client_options(settings)))
    now = time.monotonic()
    deadline = None if timeout is None else now + timeout
    patience = now + 3.0  # a topic created a moment ago, not yet known to every broker
    told = False
    try:
        while True:
            # Every topic's metadata: naming the topic would auto-create it on brokers that
            # allow it (with their default partition count).
            for t in await admin.describe_topics():
                if t["topic"] == topic and not t["error_code"] and t["partitions"]:
                    return sorted(TopicPartition(topic, p["partition"]) for p in t["partitions"])
            now = time.monotonic()
            if on_wait is None and now >= patience:
                raise _not_ready(settings, [topic])
            if on_wait is not None and not told:
                on_wait(topic)
                told = True
            if deadline is not None and now >= deadline:
                return []
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def consume(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = True,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> AsyncIterator[Any]:
    """Yield records of ``topic`` (all partitions, no consumer group) until ``timeout``
    seconds in total, or ``idle_timeout`` seconds without a record, have passed. A missing
    topic is :class:`TopicsNotReady`, or with ``on_wait`` waited for (it counts in
    ``timeout``) and then read from its beginning."""
    started = time.monotonic()
    waited = False

    def waiting(name: str) -> None:
        nonlocal waited
        waited = True
        if on_wait is not None:
            on_wait(name)

    partitions = await partitions_of(
        settings, topic, on_wait=waiting if on_wait else None, timeout=timeout
    )
    if not partitions:
        return
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        # A topic made while we waited holds only what came after we started: all of it.
        auto_offset_reset="earliest" if from_beginning or waited else "latest",
    )
    await start_client(consumer)
    # Assigned, not subscribed: a group-less subscription takes a topic into its assignment
    # only on a metadata refresh (every 5 minutes by default), so a topic missing from the
    # first answer (created a moment ago, not yet known to that broker) stayed unread for
    # minutes, silently; an assigned partition without a known leader makes the fetcher ask
    # for metadata again at once.
    consumer.assign(partitions)
    last = time.monotonic()
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
    """The latest value per key of ``topic`` as of now (a null value deletes the key); a
    missing topic is :class:`TopicsNotReady`."""
    partitions = await partitions_of(settings, topic)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await start_client(consumer)
    consumer.assign(partitions)  # every partition (see consume)
    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    try:
        end = await consumer.end_offsets(partitions)
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                return latest
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    if record.key is None:
                        continue
                    if record.value:
                        latest[record.key] = record.value
                    else:
                        latest.pop(record.key, None)
        raise TimeoutError(f"could not read {topic} to its end in {timeout:.0f} s")
    finally:
        await consumer.stop()
