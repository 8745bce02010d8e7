"""Every stage in-process over lists, with dict state: the test driver and ``tocsin run --local``.

It calls exactly the functions the faust agents call, in the same order, so a local run and a
worker produce the same records for the same input (bar which of two near copies arrives
first on Kafka, see ``docs/architecture.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spacy.language import Language

from streams import codecs, schemas, topics
from streams.models import (
    Article,
    DeadLetter,
    Duplicate,
    EventRecord,
    Rejected,
    SourceRef,
    Subscription,
)
from streams.pipeline import dedupe, deliver, extract, match, stories, validate


@dataclass
class LocalRun:
    """Messages per output topic (by local name) plus the dedupe state left behind."""

    outputs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {t.local_name or t.name: [] for t in topics.LOCAL_OUTPUTS}
    )
    state: dict[str, str] = field(default_factory=dict)
    story_state: dict[str, Any] = field(default_factory=dict)
    match_state: dict[str, Any] = field(default_factory=dict)
    copies_state: dict[str, Any] = field(default_factory=dict)
    deliver_state: dict[str, Any] = field(default_factory=dict)

    def emit(self, topic: topics.TopicSpec, value: dict[str, Any]) -> None:
        self.outputs[topic.local_name or topic.name].append(value)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter(
    stage: str, source: SourceRef, payload: bytes, rejected: Rejected, key: bytes | None = None
) -> DeadLetter:
    """The record every rejection becomes, on Kafka and locally."""
    payload, rejected = bounded_payload(payload, rejected)
    return DeadLetter(
        stage=stage,
        error_type=rejected.error_type,
        error=rejected.error,
        source=source,
        payload=payload,
        failed_at=now_rfc3339(),
        key=key,
    )


# A dead letter must fit one Kafka message (1 MiB) even when its payload is base64 (4/3 larger).
DEAD_LETTER_PAYLOAD_MAX = 700_000


def bounded_payload(payload: bytes, rejected: Rejected) -> tuple[bytes, Rejected]:
    """The payload cut to what a dead letter can carry; the error says when it was cut."""
    if len(payload) <= DEAD_LETTER_PAYLOAD_MAX:
        return payload, rejected
    note = f" [payload truncated to its first {DEAD_LETTER_PAYLOAD_MAX} of {len(payload)} bytes]"
    return payload[:DEAD_LETTER_PAYLOAD_MAX], Rejected(
        rejected.error_type, rejected.error[:1900] + note
    )


def run_local(
    inputs: Iterable[tuple[SourceRef, bytes]],
    subscriptions: Sequence[Subscription],
    nlp: Language,
    batch_size: int = 64,
    dedupe_config: dedupe.DedupeConfig | None = None,
    clock: Callable[[], float] = time.time,
    story_config: stories.StoryConfig | None = None,
) -> LocalRun:
    """Validate, dedupe, extract, group into stories and match ``inputs``; every input ends
    in exactly one of ``unique``/``duplicates``/``deadletter`` (and each unique article in
    ``events`` and ``stories``). Digest windows still open at the end are closed then (a
    local run has no later hour to wait for); webhooks are the workers' job.

    Each extracted batch reaches the stories stage in :func:`stories.order_key` order, as
    on a worker (``agents/extract.py``), so story ids do not depend on the order of the
    input within a batch."""
    run = LocalRun()
    matcher = match.Matcher.of(subscriptions)
    story_config = story_config or stories.StoryConfig()
    raw_validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    pending: list[tuple[SourceRef, Article]] = []
    for source, payload in inputs:
        outcome = validate.validate_article(payload, raw_validator)
        if isinstance(outcome, Rejected):
            run.emit(
                topics.DEADLETTER, dead_letter(validate.STAGE, source, payload, outcome).to_dict()
            )
            continue
        run.emit(topics.ARTICLES_VALID, outcome.to_dict())
        verdict = dedupe_local(outcome, run.state, dedupe_config or dedupe.DedupeConfig(), clock())
        if isinstance(verdict, Duplicate):
            run.emit(topics.ARTICLES_DUPLICATES, verdict.to_dict())
            # Held until the original's story is known (after its extraction below).
            join_copies(run, "duplicate", verdict.to_dict(), matcher, story_config, clock())
            continue
        run.emit(topics.ARTICLES_UNIQUE, verdict.to_dict())
        pending.append((source, verdict))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        results = extract.extract_batch(nlp, [a for _s, a in batch])
        extracted = []
        for (source, article), result in zip(batch, results, strict=True):
            if isinstance(result, Rejected):
                payload = codecs.dumps(article.to_dict())
                run.emit(
                    topics.DEADLETTER, dead_letter(extract.STAGE, source, payload, result).to_dict()
                )
                continue
            extracted.append(result)
        for record in sorted(extracted, key=stories.order_key):
            group_and_match(run, record, matcher, story_config, clock())
    for digest in deliver.due(run.deliver_state, float("inf")):
        run.emit(topics.DIGESTS, digest.to_dict())
        deliver.delivered(run.deliver_state, digest)
    return run


def dedupe_local(
    article: Article, state: dict[str, str], config: dedupe.DedupeConfig, now: float
) -> Article | Duplicate:
    """Exact check, scatter, probe every band, gather: the dedupe agents' steps in one call.

    One dict holds all three steps' state; their keys do not overlap (``c:``, band hashes and
    ``u:``, ``p:``/``d:``). Every article is decided before the next starts, so locally the
    first arrival is always the original (the sequential case in ``pipeline/dedupe.py``).
    """
    exact = dedupe.dedupe_exact(article, state, now, config.window_s)
    if isinstance(exact, Duplicate):
        return exact
    record, probes = dedupe.scatter(article, config, now)
    groups = dedupe.group_probes(probes, config.probe_partitions)
    single = dedupe.single_group(record, groups)
    if single is not None:
        _partition, group = single
        return dedupe.decide_group(group, dedupe.probe_group(group, state, now, config), config)
    verdict = dedupe.gather(record, state, now, config)
    for group in groups.values():
        report = dedupe.probe_group(group, state, now, config)
        verdict = dedupe.gather(report, state, now, config) or verdict
    assert verdict is not None, "every band reported: the gather step has decided"
    return verdict


def group_and_match(
    run: LocalRun,
    record: EventRecord,
    matcher: match.Matcher,
    story_config: stories.StoryConfig,
    now: float,
) -> None:
    """One extracted article through the stories and match stages (and delivery routing)."""
    run.emit(topics.EVENTS, record.to_dict())
    update = stories.assign(record, run.story_state, now, story_config)
    _alerts(run, update, matcher, now)
    join_copies(run, "member", stories.membership(update), matcher, story_config, now)


def join_copies(
    run: LocalRun,
    kind: str,
    data: dict[str, Any],
    matcher: match.Matcher,
    story_config: stories.StoryConfig,
    now: float,
) -> None:
    """The story-copies step, its relays (members-topic messages) fed back at once."""
    queue = [(kind, data)]
    while queue:
        joined = stories.join_copy(*queue.pop(0), run.copies_state, now)
        queue += [("member", relay) for _key, relay in joined.relays]
        for copy in joined.copies:
            _alerts(run, stories.add_copy(copy, run.story_state, now, story_config), matcher, now)


def _alerts(run: LocalRun, update: stories.StoryUpdate, matcher: match.Matcher, now: float) -> None:
    run.emit(topics.STORIES, update.to_dict())
    for alert in match.match_story(update, matcher, run.match_state, now_rfc3339(), now):
        data = alert.to_dict()
        run.emit(topics.ALERTS, data)
        sub = matcher.subscriptions.get(alert.subscription_id)
        deliver.route(data, sub, run.deliver_state, now)
