"""The pipeline, declared once: every step's input topics, key, state, outputs and the pure
function it calls.

``build(settings, matcher)`` returns the steps in flow order. A step's ``handle`` takes one
input message and the step's state (one ``MutableMapping`` per declared state name) and returns
what the step sends on: :class:`Emit` (a record for an output topic, with its key), :class:`Reject`
(a dead letter for the message in hand), :class:`Post` (a webhook call for the delivery
shell) and :class:`Then` (a state change made once what comes before it was sent). The local
driver (``pipeline/driver.py``) runs these handlers in-process with dict
state; the faust agents (``streams/agents/*``) call the same stage functions around the
broker. Nothing here imports faust or aiokafka.

Flow (topic -> step -> topics)::

    news.articles.raw.v1      -> validate      -> news.articles.valid.v1 | deadletter
    news.articles.valid.v1    -> dedupe        -> news.articles.duplicates.v1
                                                  | news.dedupe.bands.v1 (+ news.dedupe.verdicts.v1)
    news.dedupe.bands.v1      -> dedupe-probe  -> news.articles.unique.v1 | duplicates
                                                  | news.dedupe.verdicts.v1
    news.dedupe.verdicts.v1   -> dedupe-decide -> news.articles.unique.v1 | duplicates
    news.articles.unique.v1   -> extract       -> news.events.v1 | deadletter   (batched)
    news.events.v1 + news.stories.copies.v1
                              -> stories       -> news.stories.v1 (+ news.stories.members.v1)
                                 (then match)   | news.alerts.v1
    news.stories.members.v1 + news.articles.duplicates.v1
                              -> story-copies  -> news.stories.copies.v1 | news.stories.members.v1
    news.alerts.v1 + news.deliver.ticks.v1
                              -> deliver       -> news.digests.v1 (+ webhook posts)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from streams import codecs, schemas
from streams import topics as t
from streams.models import Article, Duplicate, EventRecord, Rejected
from streams.pipeline import dedupe, deliver, extract, match, messages, stories, validate
from streams.settings import Settings


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Message:
    """One input message of a step: its topic, partition and encoded value."""

    topic: t.TopicSpec
    value: bytes
    partition: int = 0
    # The decoded value, when the caller has it (``driver.dedupe_local``: no encode/decode
    # round trip per hop). Handlers read it through :meth:`load` and never mutate it.
    data: Any = None

    def load(self) -> Any:
        return self.data if self.data is not None else codecs.loads(self.value)


@dataclass(frozen=True)
class Emit:
    """A record for ``topic`` with ``key``; ``partition`` when the step chooses it."""

    topic: t.TopicSpec
    key: str
    value: dict[str, Any]
    partition: int | None = None
    outcome: str | None = None  # counted under the step's stage when sent
    stage: str | None = None  # counted under this stage instead (a fused step's second stage)


@dataclass(frozen=True)
class Reject:
    """The message in hand (or ``payload`` instead of its bytes) goes to the dead letters."""

    rejected: Rejected
    payload: bytes | None = None
    stage: str | None = None  # dead-lettered under this stage instead of the step's


@dataclass(frozen=True)
class Post:
    """A webhook call the delivery shell makes (nothing locally); ``replay`` is what its dead
    letter carries instead of the message in hand (a tick with the digest, to post it again)."""

    send: deliver.Send
    replay: dict[str, Any] | None = None


@dataclass(frozen=True)
class Then:
    """A state change made only once everything before it in the step's outputs was sent (a
    digest is marked delivered after its record and its webhook call: a worker killed before
    then sends it again, same id)."""

    apply: Callable[[], None]


Out = Emit | Reject | Post | Then
State = Mapping[str, MutableMapping[str, Any]]
Handler = Callable[[Message, State, float], list[Out]]


@dataclass(frozen=True)
class StateSpec:
    """A step's state: ``raw`` str -> str, ``json`` str -> JSON value (``JsonState`` on a
    worker), ``index`` rebuilt from the step's input topic instead of a changelog."""

    name: str
    kind: str = "json"


@dataclass(frozen=True)
class Output:
    topic: t.TopicSpec
    key: str


@dataclass(frozen=True)
class Step:
    """One step: read ``inputs`` (co-partitioned by ``key``), own ``state``, send ``outputs``.
    A message of a topic the step does not declare (faust's test context) counts as its first
    input's."""

    name: str  # agent name
    stage: str  # stage name in dead letters and counters
    inputs: tuple[t.TopicSpec, ...]
    key: str
    state: tuple[StateSpec, ...]
    outputs: tuple[Output, ...]
    handle: Handler | None = None  # None: a batch step (see ``Topology.extracted``)
    batch: bool = False


@dataclass(frozen=True)
class Topology:
    steps: tuple[Step, ...]
    dedupe: dedupe.DedupeConfig
    stories: stories.StoryConfig
    match_keep_s: float
    _by_topic: dict[str, tuple[Step, ...]] = field(default_factory=dict)

    def readers(self, topic: t.TopicSpec) -> tuple[Step, ...]:
        """The steps that read ``topic``."""
        return self._by_topic.get(topic.name, ())

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def state_names(self) -> list[str]:
        return [spec.name for s in self.steps for spec in s.state]


# ---- the handlers: decode, call the stage, say what goes where ----------------------------


def _verdict(verdict: Article | Duplicate) -> Emit:
    if isinstance(verdict, Duplicate):
        # Keyed by the original: the story-copies step joins a copy to its original's story.
        return Emit(
            t.ARTICLES_DUPLICATES, verdict.duplicate_of, verdict.to_dict(), None, "duplicate"
        )
    return Emit(t.ARTICLES_UNIQUE, verdict.id, verdict.to_dict(), None, "unique")


def _validate() -> Handler:
    validator = schemas.validator(t.ARTICLES_RAW.schema_file)

    def handle(message: Message, state: State, now: float) -> list[Out]:
        outcome = validate.validate_article(message.value, validator)
        if isinstance(outcome, Rejected):
            return [Reject(outcome)]
        return [Emit(t.ARTICLES_VALID, outcome.content_hash, outcome.to_dict(), None, "valid")]

    return handle


def _dedupe_scatter(config: dedupe.DedupeConfig) -> Handler:
    def handle(message: Message, state: State, now: float) -> list[Out]:
        article = Article.from_dict(message.load())
        verdict = dedupe.dedupe_exact(article, state["dedupe-exact"], now, config.window_s)
        if isinstance(verdict, Duplicate):
            return [_verdict(verdict)]
        record, probes = dedupe.scatter(article, config, now)
        groups = dedupe.group_probes(probes, config.probe_partitions)
        single = dedupe.single_group(record, groups)
        out: list[Out] = []
        if single is not None:
            groups = dict([single])  # decided by the probe step: nothing to gather
        else:
            # The article first: the gather step may then finish on the last report.
            out.append(Emit(t.DEDUPE_VERDICTS, article.id, record))
        # The partition is chosen, not hashed from the key: the group's bands all live there.
        out += [
            Emit(t.DEDUPE_BANDS, article.id, group.to_dict(), partition)
            for partition, group in groups.items()
        ]
        return out

    return handle


def _dedupe_probe(config: dedupe.DedupeConfig) -> Handler:
    def handle(message: Message, state: State, now: float) -> list[Out]:
        group = dedupe.ProbeGroup.from_dict(message.load())
        report = dedupe.probe_group(group, state["dedupe-bands"], now, config)
        if group.article is not None:
            return [_verdict(dedupe.decide_group(group, report, config))]
        return [Emit(t.DEDUPE_VERDICTS, group.article_id, report)]

    return handle


def _dedupe_decide(config: dedupe.DedupeConfig) -> Handler:
    def handle(message: Message, state: State, now: float) -> list[Out]:
        verdict = dedupe.gather(message.load(), state["dedupe-gather"], now, config)
        return [] if verdict is None else [_verdict(verdict)]

    return handle


def extracted(
    articles: Sequence[Article], results: Sequence[EventRecord | Rejected]
) -> list[tuple[int, list[Out]]]:
    """What one extracted batch sends, per article (by index), in :func:`stories.order_key`
    order so story ids do not depend on the order the batch was read in."""

    def order(i: int) -> tuple[str, str]:
        result = results[i]
        return (
            stories.order_key(result) if isinstance(result, EventRecord) else ("", articles[i].id)
        )

    out: list[tuple[int, list[Out]]] = []
    for i in sorted(range(len(articles)), key=order):
        result = results[i]
        if isinstance(result, Rejected):
            out.append((i, [Reject(result)]))
        else:
            # Keyed by story key: the stories step finds every candidate story in its partition.
            out.append(
                (i, [Emit(t.EVENTS, stories.story_key(result), result.to_dict(), None, "event")])
            )
    return out


def _stories(config: stories.StoryConfig) -> Handler:
    def handle(message: Message, state: State, now: float) -> list[Out]:
        data = message.load()
        view = state["stories"]
        if message.topic == t.STORY_COPIES:
            copied = stories.add_copy(data, view, now, config)
            return [Emit(t.STORIES, copied.key, copied.to_dict(), None, "copy")]
        record = EventRecord.from_dict(data)
        update = stories.assign(record, view, now, config)
        return [
            Emit(
                t.STORIES, update.key, update.to_dict(), None, "new" if update.is_new else "joined"
            ),
            Emit(t.STORY_MEMBERS, record.article_id, stories.membership(update)),
        ]

    return handle


def _story_copies(message: Message, state: State, now: float) -> list[Out]:
    kind = "member" if message.topic == t.STORY_MEMBERS else "duplicate"
    joined = stories.join_copy(kind, message.load(), state["story-copies"], now)
    out: list[Out] = [Emit(t.STORY_COPIES, c["key"], c, None, "joined") for c in joined.copies]
    out += [
        Emit(
            t.STORY_MEMBERS,
            key,
            relay,
            None,
            "forwarded" if isinstance(messages.member_from_dict(relay), messages.Forward) else None,
        )
        for key, relay in joined.relays
    ]
    return out


def _stories_match(config: stories.StoryConfig, matcher: Callable[[], match.Matcher]) -> Handler:
    """The stories step, then match on each story update it sends, in one handler: both are
    keyed by story key, so the match state of a story (and of the stories merged into it) is on
    the partition of the event in hand, and the update needs no second hop through Kafka."""
    group = _stories(config)

    def handle(message: Message, state: State, now: float) -> list[Out]:
        outs = group(message, state, now)
        for update in [o for o in outs if isinstance(o, Emit) and o.topic == t.STORIES]:
            try:
                outs += _alerts(update.value, matcher(), state["match"], now)
            except Exception as exc:  # noqa: BLE001 - rejection is data
                # The story state has changed already: the update and membership still go
                # out, and the event in hand goes to the dead letters under the match stage
                # (replaying it matches the story again; the alert ids are deterministic).
                rejected = Rejected(type(exc).__name__, str(exc)[:2000])
                outs.append(Reject(rejected, None, match.STAGE))
        return outs

    return handle


def _alerts(
    data: dict[str, Any], current: match.Matcher, view: MutableMapping[str, Any], now: float
) -> list[Out]:
    update = stories.StoryUpdate.from_dict(data)
    alerts = match.match_story(update, current, view, now_rfc3339(), now)
    return [
        Emit(
            t.ALERTS,
            a.subscription_id,
            a.to_dict(),
            None,
            "alert" if a.kind == "new" else "update",
            match.STAGE,
        )
        for a in alerts
    ]


def _deliver(matcher: Callable[[], match.Matcher]) -> Handler:
    def handle(message: Message, state: State, now: float) -> list[Out]:
        view, scope = state["deliver"], str(message.partition)
        data = message.load()
        subs = matcher().subscriptions
        if message.topic == t.DELIVER_TICKS:
            replayed = messages.Tick.from_dict(data).digest
            if replayed:  # a replayed dead letter: post that digest again
                sub = subs.get(replayed["subscription_id"])
                if sub is None or sub.webhook is None:
                    return []
                digest = deliver.Digest(
                    **{k: v for k, v in replayed.items() if k not in ("omitted", "alerts")},
                    alerts=tuple(replayed["alerts"]),
                )
                return [Post(deliver.digest_send(digest))]
            out: list[Out] = []
            for digest in deliver.due(view, now, scope):
                out.append(
                    Emit(t.DIGESTS, digest.subscription_id, digest.to_dict(), None, "digest")
                )
                sub = subs.get(digest.subscription_id)
                if sub is not None and sub.webhook is not None:
                    tick = messages.Tick(now, digest.to_dict()).to_dict()
                    out.append(Post(deliver.digest_send(digest), tick))
                out.append(Then(functools.partial(deliver.delivered, view, digest, scope)))
            return out
        sub = subs.get(data["subscription_id"])
        return [Post(send) for send in deliver.route(data, sub, view, now, scope)]

    return handle


def dedupe_handlers(config: dedupe.DedupeConfig) -> dict[str, Handler]:
    """The three dedupe steps' handlers, by step name."""
    return {
        "dedupe": _dedupe_scatter(config),
        "dedupe-probe": _dedupe_probe(config),
        "dedupe-decide": _dedupe_decide(config),
    }


@functools.cache
def declared() -> Topology:
    """The pipeline with default settings: which steps, topics and states there are (their
    names do not depend on settings; ``topics.ALL`` and ``topics.TABLES`` come from here)."""
    return build(Settings(), lambda: match.Matcher())


def build(
    settings: Settings,
    matcher: Callable[[], match.Matcher],
    story_config: stories.StoryConfig | None = None,
) -> Topology:
    """The pipeline for ``settings``; ``matcher`` gives the current subscriptions.
    ``story_config`` replaces the one from settings (the story tuning bench)."""
    dd = dedupe.DedupeConfig.from_settings(settings)
    dh = dedupe_handlers(dd)
    story_config = story_config or stories.StoryConfig.from_settings(settings)
    steps = (
        Step(
            "validate",
            validate.STAGE,
            (t.ARTICLES_RAW,),
            "none",
            (),
            (Output(t.ARTICLES_VALID, "content hash"),),
            _validate(),
        ),
        Step(
            "dedupe",
            dedupe.STAGE,
            (t.ARTICLES_VALID,),
            "content hash",
            (StateSpec("dedupe-exact", "index"),),
            (
                Output(t.ARTICLES_DUPLICATES, "original article id"),
                Output(t.DEDUPE_BANDS, "article id (partition chosen: the bands')"),
                Output(t.DEDUPE_VERDICTS, "article id"),
            ),
            dh["dedupe"],
        ),
        Step(
            "dedupe-probe",
            dedupe.STAGE,
            (t.DEDUPE_BANDS,),
            "band partition",
            (StateSpec("dedupe-bands", "index"),),
            (
                Output(t.ARTICLES_UNIQUE, "article id"),
                Output(t.ARTICLES_DUPLICATES, "original article id"),
                Output(t.DEDUPE_VERDICTS, "article id"),
            ),
            dh["dedupe-probe"],
        ),
        Step(
            "dedupe-decide",
            dedupe.STAGE,
            (t.DEDUPE_VERDICTS,),
            "article id",
            (StateSpec("dedupe-gather", "raw"),),
            (
                Output(t.ARTICLES_UNIQUE, "article id"),
                Output(t.ARTICLES_DUPLICATES, "original article id"),
            ),
            dh["dedupe-decide"],
        ),
        Step(
            "extract",
            extract.STAGE,
            (t.ARTICLES_UNIQUE,),
            "article id",
            (),
            (Output(t.EVENTS, "story key"),),
            None,
            batch=True,
        ),
        Step(
            "stories",
            stories.STAGE,
            (t.EVENTS, t.STORY_COPIES),
            "story key",
            (StateSpec("stories"), StateSpec("match")),
            (
                Output(t.STORIES, "story key"),
                Output(t.STORY_MEMBERS, "article id"),
                Output(t.ALERTS, "subscription id"),
            ),
            _stories_match(story_config, matcher),
        ),
        Step(
            "story-copies",
            "story_copies",
            (t.ARTICLES_DUPLICATES, t.STORY_MEMBERS),
            "original article id",
            (StateSpec("story-copies"),),
            (Output(t.STORY_COPIES, "story key"), Output(t.STORY_MEMBERS, "article id")),
            _story_copies,
        ),
        Step(
            "deliver",
            deliver.STAGE,
            (t.ALERTS, t.DELIVER_TICKS),
            "subscription id",
            (StateSpec("deliver"),),
            (Output(t.DIGESTS, "subscription id"),),
            _deliver(matcher),
        ),
    )
    return extend(
        Topology(
            (),
            dd,
            story_config,
            # Twice the story window: a story's alert can be updated until its last article is
            # a window old.
            2 * settings.story_window_hours * 3600,
        ),
        *steps,
    )


def extend(flow: Topology, *steps: Step) -> Topology:
    """``flow`` with ``steps`` after its own (each topic's readers indexed)."""
    every = (*flow.steps, *steps)
    by_topic: dict[str, list[Step]] = {}
    for step in every:
        for topic in step.inputs:
            by_topic.setdefault(topic.name, []).append(step)
    return replace(flow, steps=every, _by_topic={n: tuple(s) for n, s in by_topic.items()})
