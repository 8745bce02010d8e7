"""What the worker and `tocsin topics create` call a topic that differs from its declaration,
and the one line that names the fix."""

from __future__ import annotations

from streams import topics
from streams.settings import Settings

SETTINGS = Settings.from_env(
    {
        "TOCSIN_REPLICATION_FACTOR": "3",
        "TOCSIN_MIN_INSYNC_REPLICAS": "2",
        "TOCSIN_TOPIC_PREFIX": "t.",
    }
)


def as_made(name: str) -> topics.TopicState:
    """The state `tocsin topics create` leaves ``name`` in."""
    configs = dict(topics.wanted(SETTINGS)[name])
    configs.setdefault("cleanup.policy", "delete")
    configs.setdefault("retention.ms", "604800000")
    return topics.TopicState(SETTINGS.topic_partitions, SETTINGS.replication_factor, configs)


def test_every_topic_and_changelog_is_wanted_with_its_configs() -> None:
    wanted = topics.wanted(SETTINGS)
    assert len(wanted) == len(topics.ALL) + len(topics.TABLES)
    assert wanted["t.news.subscriptions.v1"]["cleanup.policy"] == "compact"
    assert wanted["tocsin-stories-changelog"]["cleanup.policy"] == "compact"
    assert wanted["t.news.dedupe.bands.v1"]["retention.ms"] == str(
        topics.state_retention_ms(SETTINGS)
    )
    assert all(c["min.insync.replicas"] == "2" for c in wanted.values())


def test_a_topic_as_made_does_not_differ() -> None:
    for name, configs in topics.wanted(SETTINGS).items():
        assert topics.drift(SETTINGS, name, configs, as_made(name)) == []


def test_an_auto_created_topic_differs_in_partitions_replication_isr_and_compaction() -> None:
    """What a broker with auto.create.topics.enable makes: its defaults, none of ours."""
    name = "t.news.subscriptions.v1"
    auto = topics.TopicState(1, 1, {"cleanup.policy": "delete", "min.insync.replicas": "1"})
    found = topics.drift(SETTINGS, name, topics.wanted(SETTINGS)[name], auto)
    assert [str(d) for d in found] == [
        "t.news.subscriptions.v1 partitions 1 (expected 6)",
        "t.news.subscriptions.v1 replication factor 1 (expected 3)",
        "t.news.subscriptions.v1 cleanup.policy delete (expected compact)",
        "t.news.subscriptions.v1 min.insync.replicas 1 (expected 2)",
    ]
    assert [d.fixable for d in found] == [False, False, True, True]


def test_state_retention_is_a_minimum() -> None:
    name = "t.news.dedupe.bands.v1"
    configs = topics.wanted(SETTINGS)[name]
    state = as_made(name)
    for value, differs in (("3600000", True), ("-1", False), ("99999999999", False)):
        changed = topics.TopicState(
            state.partitions, state.replication, {**state.configs, "retention.ms": value}
        )
        found = topics.drift(SETTINGS, name, configs, changed)
        assert bool(found) == differs, value
    short = topics.TopicState(6, 3, {**state.configs, "retention.ms": "3600000"})
    [problem] = topics.drift(SETTINGS, name, configs, short)
    assert problem.what == "retention.ms" and problem.expected == ">= 1296000000"


def test_min_isr_is_not_checked_when_left_to_the_broker() -> None:
    settings = Settings.from_env({})
    name = "news.alerts.v1"
    state = topics.TopicState(6, 1, {"min.insync.replicas": "1", "cleanup.policy": "delete"})
    assert topics.drift(settings, name, topics.wanted(settings)[name], state) == []


def test_a_missing_topic() -> None:
    assert [str(d) for d in topics.drift(SETTINGS, "t.x", {}, None)] == ["t.x missing"]


def test_the_refusal_is_one_line_naming_topics_and_the_fix() -> None:
    missing = [topics.Drift(f"t.news.{i}", "missing") for i in range(6)]
    line = topics.refusal(missing, "127.0.0.1:9092", worker=True)
    assert "\n" not in line
    assert line.startswith("topics on 127.0.0.1:9092 are not as tocsin needs them: 6 missing")
    assert "t.news.0, t.news.1, t.news.2, t.news.3 and 2 more" in line
    assert line.endswith(
        "run `tocsin topics create` (or start the worker with TOCSIN_CREATE_TOPICS=true)"
    )
    assert "TOCSIN_CREATE_TOPICS" not in topics.refusal(missing, "b:1", worker=False)


def test_the_fix_for_partitions_and_replication() -> None:
    fewer = topics.Drift("t.a", "partitions", "1", "6")
    more = topics.Drift("t.b", "partitions", "12", "6")
    replicas = topics.Drift("t.c", "replication factor", "1", "3")
    assert topics.fix_for([fewer], worker=True) == (
        "add the missing partitions with `tocsin topics create --add-partitions` (records "
        "already there keep their partition)"
    )
    for problem in (more, replicas):
        fix = topics.fix_for([problem], worker=False)
        assert fix.startswith("set TOCSIN_TOPIC_PARTITIONS and TOCSIN_REPLICATION_FACTOR")
        assert "--add-partitions" not in fix
    line = topics.refusal([fewer, replicas, topics.Drift("t.d", "missing")], "b:1", worker=True)
    assert "1 missing (t.d); t.a partitions 1 (expected 6); t.c replication factor 1" in line
    assert line.count("`tocsin topics create") == 3
