"""The declared pipeline (``streams/topology.py``) in-process with dict state: the test driver
and ``tocsin run --local``.

Every step's handler is the one the declaration gives the workers, so a local run and a worker
produce the same records for the same input (bar which of two near copies arrives first on
Kafka, see ``docs/architecture.md``). Each message is followed to the end of the flow before
the next (depth first); unique articles wait for the batched extract step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacy.language import Language

from streams import codecs, topics, topology
from streams.models import Article, DeadLetter, Duplicate, Rejected, SourceRef, Subscription
from streams.pipeline import dedupe, extract, match
from streams.settings import Settings
from streams.topology import now_rfc3339

__all__ = ["LocalRun", "dead_letter", "dedupe_local", "now_rfc3339", "run_local"]


@dataclass
class LocalRun:
    """Messages per output topic (by local name) plus the state each step left behind."""

    outputs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {t.local_name or t.name: [] for t in topics.LOCAL_OUTPUTS}
    )
    states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def emit(self, topic: topics.TopicSpec, value: dict[str, Any]) -> None:
        if topic.local_name:  # a topic of a step not in the declaration's (a test's flow) too
            self.outputs.setdefault(topic.local_name, []).append(value)


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


class Local:
    """Runs a topology's steps over messages, depth first, with dict state."""

    def __init__(
        self,
        flow: topology.Topology,
        run: LocalRun | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.flow = flow
        self.run = run or LocalRun()
        self.clock = clock
        for name in flow.state_names():
            self.run.states.setdefault(name, {})
        # Messages for a batch step, with the raw input they came from.
        self.pending: list[tuple[SourceRef, topology.Message]] = []

    def feed(self, message: topology.Message, source: SourceRef) -> None:
        """``message`` and everything it causes, through every step that reads its topic."""
        stack = [message]
        while stack:
            current = stack.pop()
            follow: list[topology.Message] = []
            for step in self.flow.readers(current.topic):
                if step.batch or step.handle is None:
                    self.pending.append((source, current))
                    continue
                outs = step.handle(current, self.run.states, self.clock())
                follow += self.apply(step, current, outs, source)
            stack += reversed(follow)

    def apply(
        self,
        step: topology.Step,
        message: topology.Message,
        outs: Iterable[topology.Out],
        source: SourceRef,
    ) -> list[topology.Message]:
        """Record a step's outputs; the messages they are for the next steps."""
        follow = []
        for out in outs:
            if isinstance(out, topology.Emit):
                self.run.emit(out.topic, out.value)
                follow.append(
                    topology.Message(out.topic, codecs.dumps(out.value), out.partition or 0)
                )
            elif isinstance(out, topology.Reject):
                payload = message.value if out.payload is None else out.payload
                letter = dead_letter(out.stage or step.stage, source, payload, out.rejected)
                self.run.emit(topics.DEADLETTER, letter.to_dict())
            elif isinstance(out, topology.Then):
                out.apply()
            # A Post is a webhook call: the workers' job.
        return follow

    def extract(self, nlp: Language, batch_size: int) -> None:
        """Run the held messages through the batched extract step, and on."""
        step = self.flow.step("extract")
        pending, self.pending = self.pending, []
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            articles = [Article.from_dict(codecs.loads(m.value)) for _s, m in batch]
            results = extract.extract_batch(nlp, articles)
            for i, outs in topology.extracted(articles, results):
                source, message = batch[i]
                for follow in self.apply(step, message, outs, source):
                    self.feed(follow, source)


def run_local(
    inputs: Iterable[tuple[SourceRef, bytes]],
    subscriptions: Sequence[Subscription],
    nlp: Language,
    settings: Settings | None = None,
    batch_size: int = 64,
    clock: Callable[[], float] = time.time,
    declare: Callable[[Settings, Callable[[], match.Matcher]], topology.Topology] = topology.build,
) -> LocalRun:
    """Validate, dedupe, extract, group into stories and match ``inputs`` with the steps
    ``streams/topology.py`` declares for ``settings`` (``TOCSIN_*``, as a worker reads them);
    every input ends in exactly one of ``unique``/``duplicates``/``deadletter`` (and each
    unique article in ``events`` and ``stories``). Digest windows still open at the end are
    closed then (a local run has no later hour to wait for); webhooks are the workers' job.

    Each extracted batch reaches the stories step in :func:`stories.order_key` order, as on a
    worker, so story ids do not depend on the order of the input within a batch. ``declare``
    gives the pipeline (a test passes a changed copy of ``topology.build``)."""
    matcher = match.Matcher.of(subscriptions)
    local = Local(declare(settings or Settings(), lambda: matcher), clock=clock)
    for source, payload in inputs:
        local.feed(topology.Message(topics.ARTICLES_RAW, payload), source)
    local.extract(nlp, batch_size)
    # No later hour will come: close every digest window now.
    end = SourceRef(topics.DELIVER_TICKS.name, 0, 0)
    tick = topology.Message(topics.DELIVER_TICKS, codecs.dumps({"sent_at": 0}))
    local.apply(
        local.flow.step("deliver"),
        tick,
        local.flow.step("deliver").handle(tick, local.run.states, float("inf")),  # type: ignore[misc]
        end,
    )
    return local.run


def dedupe_local(
    article: Article, state: MutableMapping[str, Any], config: dedupe.DedupeConfig, now: float
) -> Article | Duplicate:
    """The dedupe steps of the declaration over one article, until it is decided.

    One dict holds all three steps' state; their keys do not overlap (``c:``, band hashes and
    ``u:``, ``p:``/``d:``). Every article is decided before the next starts, so locally the
    first arrival is always the original (the sequential case in ``pipeline/dedupe.py``).
    """
    handlers = topology.dedupe_handlers(config)
    readers = {
        topics.ARTICLES_VALID.name: handlers["dedupe"],
        topics.DEDUPE_BANDS.name: handlers["dedupe-probe"],
        topics.DEDUPE_VERDICTS.name: handlers["dedupe-decide"],
    }
    states: Mapping[str, MutableMapping[str, Any]] = dict.fromkeys(
        ("dedupe-exact", "dedupe-bands", "dedupe-gather"), state
    )
    # Decoded values passed on as they are, as the dedupe steps' functions were always called.
    stack = [topology.Message(topics.ARTICLES_VALID, b"", data=article.to_dict())]
    while stack:
        message = stack.pop()
        outs = readers[message.topic.name](message, states, now)
        for out in outs:
            if isinstance(out, topology.Emit) and out.topic == topics.ARTICLES_UNIQUE:
                return Article.from_dict(out.value)
            if isinstance(out, topology.Emit) and out.topic == topics.ARTICLES_DUPLICATES:
                return Duplicate.from_dict(out.value)
        follow = [
            topology.Message(o.topic, b"", o.partition or 0, data=o.value)
            for o in outs
            if isinstance(o, topology.Emit)
        ]
        stack += reversed(follow)
    raise AssertionError("every band reported: the gather step has decided")
