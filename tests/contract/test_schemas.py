"""Every topic has a Draft 2020-12 schema whose examples validate, and every record the
driver emits validates against its topic's schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from streams import schemas, topics
from streams.pipeline.driver import LocalRun, run_local
from streams.sources.files import iter_inputs
from tests.conftest import SAMPLES

SCHEMA_FILES = sorted(p.name for p in schemas.schema_dir().glob("*.json"))


def test_every_topic_has_exactly_one_schema() -> None:
    assert sorted(t.schema_file for t in topics.ALL) == SCHEMA_FILES


def test_topic_names_follow_the_convention() -> None:
    import re

    for spec in topics.ALL:
        assert re.fullmatch(r"[a-z]+(\.[a-z-]+)+\.v[0-9]+", spec.name), spec.name


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_and_its_examples_validate(name: str) -> None:
    schema = schemas.schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema.get("examples"), f"{name} has no examples"
    validator = schemas.validator(name)
    for example in schema["examples"]:
        errors = [e.message for e in validator.iter_errors(example)]
        assert not errors, f"{name}: {errors}"


@pytest.fixture(scope="module")
def sample_run(nlp_model: Any, sample_subscriptions: Any) -> LocalRun:
    return run_local(iter_inputs([SAMPLES]), sample_subscriptions, nlp_model)


@pytest.mark.parametrize("spec", topics.LOCAL_OUTPUTS, ids=lambda s: s.name)
def test_driver_outputs_validate(sample_run: LocalRun, spec: topics.TopicSpec) -> None:
    messages = sample_run.outputs[spec.local_name or spec.name]
    assert messages, f"the samples produce nothing on {spec.name}"
    validator = schemas.validator(spec.schema_file)
    for message in messages:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(message)]
        assert not errors, f"{spec.name}: {errors}"


def test_raw_samples_validate_against_the_raw_schema() -> None:
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    from streams import codecs

    for line in (SAMPLES / "articles.jsonl").read_text().splitlines():
        assert not list(validator.iter_errors(codecs.loads(line)))


def test_sample_subscriptions_validate() -> None:
    import yaml

    validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
    for sub in yaml.safe_load(Path(SAMPLES / "subscriptions.yaml").read_text()):
        assert not list(validator.iter_errors(sub)), sub["id"]


def test_dedupe_internal_messages_validate() -> None:
    """The scatter/gather messages inside dedupe (not local outputs) match their schemas."""
    from streams.pipeline import dedupe
    from streams.pipeline.normalize import content_hash

    text = "Police in Nairobi said four students were abducted from a hostel on Monday."
    config = dedupe.DedupeConfig()
    bands_v = schemas.validator(topics.DEDUPE_BANDS.schema_file)
    verdicts_v = schemas.validator(topics.DEDUPE_VERDICTS.schema_file)
    state: dict[str, str] = {}
    for i in range(2):
        article = dedupe.Article(
            id=f"a{i}", content_hash=content_hash(text + str(i)), text=text, url="https://x.test/"
        )
        record, probes = dedupe.scatter(article, config, 0.0)
        assert not list(verdicts_v.iter_errors(record))
        for group in dedupe.group_probes(probes, 6).values():
            assert not list(bands_v.iter_errors(group.to_dict()))
            report = dedupe.probe_group(group, state, 0.0, config)
            assert not list(verdicts_v.iter_errors(report)), report
        assert not list(bands_v.iter_errors(probes[0].to_dict()))  # the one-band format
        single = dedupe.single_group(record, dedupe.group_probes(probes, 1))
        assert single is not None and not list(bands_v.iter_errors(single[1].to_dict()))


def test_story_copy_relays_validate() -> None:
    """Aliases and forwarded copies on news.stories.members.v1 match its schema."""
    from streams.pipeline.stories import join_copy

    members = schemas.validator(topics.STORY_MEMBERS.schema_file)
    duplicate = {
        "article_id": "x2",
        "duplicate_of": "x1",
        "kind": "near",
        "similarity": 0.9,
        "matched_on": "minhash",
        "title": "T",
        "url": None,
        "source": "S",
        "published_at": None,
    }
    state: dict[str, Any] = {}
    relays = join_copy("duplicate", duplicate, state, 0.0).relays
    relays += join_copy("member", {"alias": "x1", "of": "o1"}, state, 0.0).relays
    assert [sorted(r) for _k, r in relays] == [["alias", "of"], ["forward", "hops", "to"]]
    for _key, relay in relays:
        assert not list(members.iter_errors(relay)), relay
    assert list(members.iter_errors({"forward": {"article_id": "x"}, "to": "o1", "hops": 1}))


def test_typed_internal_messages_match_their_schemas() -> None:
    """Each internal kind's to_dict is allowed by its topic's schema and reads back as itself."""
    from streams.pipeline.messages import Alias, Forward, Membership, Tick, member_from_dict

    members = schemas.validator(topics.STORY_MEMBERS.schema_file)
    duplicate = schemas.schema(topics.ARTICLES_DUPLICATES.schema_file)["examples"][0]
    for message in (
        Membership("s01", "st-0123456789abcdef01234567", "en"),
        Alias("x1", "o1"),
        Forward(duplicate, "o1", 2),
    ):
        data = message.to_dict()
        assert not list(members.iter_errors(data)), data
        assert member_from_dict(data) == message
    ticks = schemas.validator(topics.DELIVER_TICKS.schema_file)
    digest = schemas.schema(topics.DIGESTS.schema_file)["examples"][0]
    for tick in (Tick(1732600800.5), Tick(1732600800.5, digest)):
        assert not list(ticks.iter_errors(tick.to_dict())), tick
        assert Tick.from_dict(tick.to_dict()) == tick
