"""The declared steps' handlers, in-process: the stories step matches the story updates it
sends (stories and match are one step)."""

from __future__ import annotations

from typing import Any

from streams import codecs, schemas, topology
from streams import topics as t
from streams.models import Subscription
from streams.pipeline.match import Matcher, parse_subscription
from streams.settings import Settings
from tests.records import event_record

SUB = {"id": "ke", "themes": ["abduction"], "countries": ["KE"]}


def _matcher() -> Matcher:
    sub = parse_subscription(SUB, schemas.validator(t.SUBSCRIPTIONS.schema_file))
    assert isinstance(sub, Subscription)
    return Matcher.of([sub])


def _stories_step(matcher: Any) -> tuple[topology.Step, dict[str, dict[str, Any]]]:
    flow = topology.build(Settings(), matcher)
    step = flow.step("stories")
    return step, {spec.name: {} for spec in step.state}


def test_the_stories_step_sends_the_update_the_membership_and_the_alert() -> None:
    current = _matcher()
    step, state = _stories_step(lambda: current)
    assert step.handle is not None
    message = topology.Message(t.EVENTS, codecs.dumps(event_record("a1")))
    outs = step.handle(message, state, 1_732_600_000.0)
    emits = [o for o in outs if isinstance(o, topology.Emit)]
    assert [e.topic for e in emits] == [t.STORIES, t.STORY_MEMBERS, t.ALERTS]
    alert = emits[2]
    assert (alert.key, alert.value["kind"], alert.stage, alert.outcome) == (
        "ke",
        "new",
        "match",
        "alert",
    )
    assert alert.value["story_id"] == emits[0].value["story_id"]
    assert state["match"], "the match state is the step's own"


def test_a_match_failure_dead_letters_the_event_under_match_after_the_update() -> None:
    def broken() -> Matcher:
        raise RuntimeError("subscription index unavailable")

    step, state = _stories_step(broken)
    assert step.handle is not None
    message = topology.Message(t.EVENTS, codecs.dumps(event_record("a1")))
    outs = step.handle(message, state, 1_732_600_000.0)
    assert [type(o).__name__ for o in outs] == ["Emit", "Emit", "Reject"]
    reject = outs[2]
    assert isinstance(reject, topology.Reject)
    assert (reject.stage, reject.rejected.error_type) == ("match", "RuntimeError")
    assert state["stories"], "the story state changed: its update went out"
