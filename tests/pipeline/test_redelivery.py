"""Every step survives the redelivery a crash makes: on a worker, a step's state changes and its
output records reach Kafka separately, so a worker killed between the two reads the message
again with the change made. Handled again then, a step must send at least what it sent the
first time, or what it sent is lost (at-least-once, with deterministic ids downstream)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from bench.corpus import generate
from streams import codecs, topics, topology
from streams.models import SourceRef, Subscription
from streams.pipeline import match
from streams.pipeline.driver import LocalRun, run_local
from streams.schemas import validator
from streams.settings import Settings

# Originals, exact and near copies (copies come before their originals' memberships, as on a
# worker: extraction runs after dedupe), invalid records.
ITEMS = generate(240, seed=5, prefix="r", exact=0.15, near=0.15)
# Subscriptions the generated stories match: instant alerts, and digests for the deliver step.
THEMES = ("abduction", "protest", "arrest", "explosion", "riot", "killing")
SUBSCRIPTIONS = [{"id": f"theme-{t}", "themes": [t]} for t in THEMES] + [
    {"id": "hourly-riots", "themes": ["riot", "protest"], "mode": "hourly"},
    {"id": "daily-ng", "query": "theme:killing AND country:NG", "mode": "daily"},
]


@pytest.fixture(scope="module")
def subs() -> list[Subscription]:
    check = validator(topics.SUBSCRIPTIONS.schema_file)
    parsed = [match.parse_subscription(s, check) for s in SUBSCRIPTIONS]
    assert all(isinstance(s, Subscription) for s in parsed), parsed
    return [s for s in parsed if isinstance(s, Subscription)]


def _sent(outs: list[topology.Out]) -> set[tuple[str, str, bytes]]:
    return {
        (o.topic.name, o.key, codecs.dumps(o.value)) for o in outs if isinstance(o, topology.Emit)
    }


def _run(
    nlp: Any, subs: list[Subscription], settings: Settings, redeliver: bool
) -> tuple[LocalRun, dict[str, list[str]]]:
    """A local run; with ``redeliver``, every message is handled twice by every step that
    reads it (the second time on the state the first left), and what the second handling
    does not send again is returned per step."""
    lost: dict[str, list[str]] = {}

    def twice(step: topology.Step) -> topology.Step:
        inner = step.handle
        if inner is None or not redeliver:
            return step

        def handle(message: topology.Message, states: topology.State, now: float) -> list[Any]:
            outs = inner(message, states, now)
            again = inner(message, states, now)
            for topic, key, _value in sorted(_sent(outs) - _sent(again)):
                lost.setdefault(step.name, []).append(f"{topic} {key}")
            return outs

        return dataclasses.replace(step, handle=handle)

    def declare(s: Settings, matcher: Callable[[], match.Matcher]) -> topology.Topology:
        flow = topology.build(s, matcher)
        bare = dataclasses.replace(flow, steps=(), _by_topic={})
        return topology.extend(bare, *[twice(step) for step in flow.steps])

    inputs = [(SourceRef("raw", 0, i), item.payload) for i, item in enumerate(ITEMS)]
    # One clock for both runs: alert and story times then agree.
    run = run_local(inputs, subs, nlp, settings, clock=lambda: 1_790_000_000.0, declare=declare)
    return run, lost


@pytest.mark.parametrize("probe_partitions", [1, 6], ids=["probe-decides", "gather-decides"])
def test_a_redelivered_message_sends_again_what_it_sent_and_changes_nothing(
    nlp_blank: Any, subs: list[Subscription], probe_partitions: int
) -> None:
    settings = Settings(dedupe_probe_partitions=probe_partitions)
    plain, _ = _run(nlp_blank, subs, settings, redeliver=False)
    twice, lost = _run(nlp_blank, subs, settings, redeliver=True)
    assert lost == {}, {step: keys[:5] for step, keys in lost.items()}
    # The run itself is the same: a redelivery changed no state a later message reads.
    out = plain.outputs
    assert len(out["duplicates"]) > 40 and len(out["alerts"]) > 100 and out["digests"]
    for name in ("unique", "duplicates", "events", "stories", "alerts", "digests", "deadletter"):
        ours = [_without_clock(v) for v in twice.outputs[name]]
        assert ours == [_without_clock(v) for v in plain.outputs[name]], name


def _without_clock(value: dict[str, Any]) -> dict[str, Any]:
    """A record without the wall-clock stamps a run adds (dead letters' and alerts' times,
    the alerts in a digest's too)."""
    out = {k: v for k, v in value.items() if k not in {"failed_at", "alerted_at"}}
    if isinstance(out.get("alerts"), list):
        out["alerts"] = [_without_clock(a) for a in out["alerts"]]
    return out
