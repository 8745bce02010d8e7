"""Every topic tocsin uses: name, key, compaction. ``ALL`` (and ``TABLES``) are derived from the
declared pipeline (``streams/topology.py``): a step's new topic may be declared next to it.

Names follow ``<domain>.<entity>.<stage>.v<N>``; a JSON Schema named after each topic lives in
``schemas/``. This module has no faust import so the CLI, the schema tests and the local driver
can use it; ``streams.app`` turns the specs into faust topics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streams.settings import Settings

if TYPE_CHECKING:
    from streams.topology import Topology


@dataclass(frozen=True)
class TopicSpec:
    """A topic's logical name, what its key is, and whether it is compacted."""

    name: str
    key: str
    compacted: bool = False
    local_name: str | None = None  # file stem in `tocsin run --local` output, if it has one
    # State is rebuilt from this topic (streams/agents/_index.py): it must keep the messages of
    # the dedupe window, whatever the broker's default retention (7 days).
    holds_state: bool = False
    # Its key links a record to the article it carries on the way to an alert (monitoring
    # follows end-to-end latency through such topics); False for side branches (copies).
    traced: bool = True

    def full_name(self, settings: Settings) -> str:
        return settings.topic_prefix + self.name

    @property
    def schema_file(self) -> str:
        return f"{self.name}.json"

    def configs(self, settings: Settings) -> dict[str, str]:
        """Topic-level configs tocsin creates this topic with."""
        out = dict(settings.topic_configs)
        if self.compacted:
            out["cleanup.policy"] = "compact"
        if self.holds_state:
            out["retention.ms"] = str(state_retention_ms(settings))
        return out


def state_retention_ms(settings: Settings) -> int:
    """Retention of a topic state is rebuilt from: the dedupe window and a day to spare."""
    return int((settings.dedupe_window_days + 1) * 86_400_000)


ARTICLES_RAW = TopicSpec("news.articles.raw.v1", key="none (producer's choice)")
# The exact-copy index is rebuilt from the valid topic (streams/agents/_index.py).
ARTICLES_VALID = TopicSpec(
    "news.articles.valid.v1", key="content hash", local_name="valid", holds_state=True
)
ARTICLES_UNIQUE = TopicSpec("news.articles.unique.v1", key="article id", local_name="unique")
ARTICLES_DUPLICATES = TopicSpec(
    "news.articles.duplicates.v1", key="original article id", local_name="duplicates", traced=False
)
# Events are keyed by story key (the language space, pipeline/stories.py) so every candidate
# story of an article is on one partition of the stories agent; story updates by story key
# too, so the match stage sees a story and the stories merged into it on one partition.
EVENTS = TopicSpec("news.events.v1", key="story key (language space)", local_name="events")
STORIES = TopicSpec("news.stories.v1", key="story key (language space)", local_name="stories")
# Copies join their original's story (pipeline/stories.py, "copies"): memberships and
# duplicates meet by original article id, copies go on to the stories agent by story key.
STORY_MEMBERS = TopicSpec("news.stories.members.v1", key="article id", traced=False)
STORY_COPIES = TopicSpec("news.stories.copies.v1", key="story key (language space)", traced=False)
ALERTS = TopicSpec("news.alerts.v1", key="subscription id", local_name="alerts")
DIGESTS = TopicSpec("news.digests.v1", key="subscription id", local_name="digests", traced=False)
SUBSCRIPTIONS = TopicSpec("news.subscriptions.v1", key="subscription id", compacted=True)
DEADLETTER = TopicSpec("news.deadletter.v1", key="stage", local_name="deadletter")
# Near-duplicate scatter/gather inside dedupe (issue #4): band probes routed by band key, then
# the article and its band reports gathered by article id.
DEDUPE_BANDS = TopicSpec(
    "news.dedupe.bands.v1",
    key="article id (partition chosen by band key, not by this key)",
    holds_state=True,
)
DEDUPE_VERDICTS = TopicSpec("news.dedupe.verdicts.v1", key="article id")
# Ticks that let the deliver agent close digest windows when no alert arrives (one per
# partition, co-partitioned with news.alerts.v1); internal, no consumer outside tocsin.
DELIVER_TICKS = TopicSpec("news.deliver.ticks.v1", key="none (sent to each partition)")

# Topics no step reads or writes: the dead letters every shell writes and the subscriptions the
# worker follows (``agents/subscriptions.py``) and the API writes.
SHELL_TOPICS: tuple[TopicSpec, ...] = (DEADLETTER, SUBSCRIPTIONS)
# Tables the worker's shells own besides the states the steps declare: delivery marks
# (``agents/deliver.py``) and the statistics' aggregate rows (``agents/stats.py``).
SHELL_TABLES: tuple[str, ...] = ("deliver-sent", "stats")


def topics_of(flow: Topology) -> tuple[TopicSpec, ...]:
    """Every topic of ``flow`` in flow order (each step's inputs, then its outputs), then
    :data:`SHELL_TOPICS`."""
    found = [t for step in flow.steps for t in (*step.inputs, *(o.topic for o in step.outputs))]
    return tuple(dict.fromkeys([*found, *SHELL_TOPICS]))


def tables_of(flow: Topology) -> tuple[str, ...]:
    """The worker's tables (faust names each changelog "<app id>-<table>-changelog"): every
    state ``flow`` declares, bar those rebuilt from their topic (``index``), and
    :data:`SHELL_TABLES`."""
    declared = [s.name for step in flow.steps for s in step.state if s.kind != "index"]
    return tuple(dict.fromkeys([*declared, *SHELL_TABLES]))


@functools.cache
def _derived() -> dict[str, tuple[Any, ...]]:
    from streams import topology  # it imports this module

    flow = topology.declared()
    every = topics_of(flow)
    return {
        "ALL": every,
        "TABLES": tables_of(flow),
        "LOCAL_OUTPUTS": tuple(t for t in every if t.local_name),
    }


def __getattr__(name: str) -> Any:
    """``ALL``, ``TABLES`` and ``LOCAL_OUTPUTS``, derived from the declaration
    (``streams/topology.py``) when first asked for.

    ``TABLES`` are created with the topics, before any worker starts: a changelog that faust
    creates itself is missing from its consumer's metadata for a while, and a table write in
    that window fails (PartitionsMismatch: "the changelog topic has 0 partitions"), a dead
    letter for no fault of the input. tests/unit/test_topics_changelogs.py keeps them equal
    to the worker's tables. ``LOCAL_OUTPUTS`` are the outputs of `tocsin run --local`, in
    flow order."""
    derived = _derived()
    if name not in derived:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return derived[name]


def changelog_name(settings: Settings, table: str) -> str:
    return f"{settings.app_id}-{table}-changelog"


# -- what the brokers must have: every topic and changelog, and how they drift -------------


def wanted(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic a worker reads or writes and every table changelog, with the topic-level
    configs tocsin creates it with (all with ``TOCSIN_TOPIC_PARTITIONS`` partitions and
    ``TOCSIN_REPLICATION_FACTOR`` replicas)."""
    derived = _derived()
    out = {spec.full_name(settings): spec.configs(settings) for spec in derived["ALL"]}
    changelog = {**settings.topic_configs, "cleanup.policy": "compact"}
    out |= {changelog_name(settings, table): dict(changelog) for table in derived["TABLES"]}
    return out


@dataclass(frozen=True)
class TopicState:
    """What the brokers say about one topic."""

    partitions: int
    replication: int  # the fewest replicas any of its partitions has
    configs: Mapping[str, str]  # effective values of the configs tocsin sets


@dataclass(frozen=True)
class Drift:
    """One way a topic differs from what tocsin needs (``what`` "missing": it does not exist)."""

    topic: str
    what: str
    found: str = ""
    expected: str = ""

    def __str__(self) -> str:
        if self.what == "missing":
            return f"{self.topic} missing"
        return f"{self.topic} {self.what} {self.found} (expected {self.expected})"

    @property
    def fixable(self) -> bool:
        """`tocsin topics create` repairs it: it creates topics and sets configs, but cannot
        change a partition count or a replication factor without moving keys or replicas."""
        return self.what not in ("partitions", "replication factor")


def drift(
    settings: Settings, name: str, configs: Mapping[str, str], state: TopicState | None
) -> list[Drift]:
    """How topic ``name`` (None: absent) differs from what tocsin creates: partition count,
    replication factor, min.insync.replicas (when set), retention of a topic state is rebuilt
    from (at least the state's window; -1 is forever) and compaction."""
    if state is None:
        return [Drift(name, "missing")]
    out = []
    if state.partitions != settings.topic_partitions:
        out.append(Drift(name, "partitions", str(state.partitions), str(settings.topic_partitions)))
    if state.replication != settings.replication_factor:
        out.append(
            Drift(
                name,
                "replication factor",
                str(state.replication),
                str(settings.replication_factor),
            )
        )
    for key, value in sorted(configs.items()):
        found = state.configs.get(key)
        if key == "retention.ms":
            ok = found is not None and (int(found) < 0 or int(found) >= int(value))
            expected = f">= {value}"
        elif key == "cleanup.policy":
            ok = found is not None and value in found.split(",")
            expected = value
        else:
            ok = found == value
            expected = value
        if not ok:
            out.append(Drift(name, key, found or "(unset)", expected))
    return out


def refusal(problems: Iterable[Drift], where: str, *, worker: bool, shown: int = 4) -> str:
    """One line: which topics are missing or differ, and the command that fixes them."""
    problems = list(problems)
    missing = [p.topic for p in problems if p.what == "missing"]
    other = [p for p in problems if p.what != "missing"]
    parts = []
    if missing:
        names = ", ".join(missing[:shown])
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        parts.append(f"{len(missing)} missing ({names}{more})")
    for problem in other[:shown]:
        parts.append(str(problem))
    if len(other) > shown:
        parts.append(f"{len(other) - shown} more differences")
    return f"topics on {where} are not as tocsin needs them: {'; '.join(parts)}: " + fix_for(
        problems, worker=worker
    )


def fix_for(problems: Iterable[Drift], *, worker: bool) -> str:
    """The command(s) that repair ``problems``."""
    problems = list(problems)
    fixes = []
    if any(p.fixable for p in problems):
        fixes.append(
            "run `tocsin topics create`"
            + (" (or start the worker with TOCSIN_CREATE_TOPICS=true)" if worker else "")
        )
    fewer = [p for p in problems if p.what == "partitions" and int(p.found) < int(p.expected)]
    if fewer:
        fixes.append(
            "add the missing partitions with `tocsin topics create --add-partitions` (records "
            "already there keep their partition)"
        )
    if any(not p.fixable and p not in fewer for p in problems):
        fixes.append(
            "set TOCSIN_TOPIC_PARTITIONS and TOCSIN_REPLICATION_FACTOR to what the topics have, "
            "or delete those topics and run `tocsin topics create` (docs/operations.md, "
            '"Topics")'
        )
    return "; ".join(fixes)
