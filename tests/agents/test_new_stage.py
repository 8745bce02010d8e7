"""A new stateful stage needs a pure function, a step in the declaration and a schema: this adds
a toy one to a copy of the declaration and checks that the driver runs it, that a worker built
from it gets its agent, table and topic, and that the derived lists (topics, tables, monitoring
carriers, the docs' flow table) include it, with no other module changed."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any
from unittest.mock import AsyncMock, patch

import orjson

from streams import codecs, flowchart, topics, topology
from streams.agents.monitor import carriers
from streams.models import EventRecord
from streams.pipeline.driver import run_local
from streams.pipeline.match import Matcher
from streams.settings import Settings
from streams.sources.files import iter_inputs
from streams.worker import build
from tests.conftest import SAMPLES
from tests.records import event_record

# What `streams/pipeline/themecount.py` would hold: the pure stage, state as a mapping.
COUNTED = topics.TopicSpec("news.themes.counted.v1", key="theme", local_name="counted")


def count_theme(record: EventRecord, state: MutableMapping[str, Any]) -> dict[str, Any]:
    """How many events of the record's primary theme were seen, this one included."""
    theme = record.primary_theme or "none"
    seen = int(state.get(theme, 0)) + 1
    state[theme] = seen
    return {"theme": theme, "seen": seen, "article_id": record.article_id}


# What the new entry of `streams/topology.py` would hold: the handler and the step.
def handle(message: topology.Message, state: topology.State, now: float) -> list[topology.Out]:
    counted = count_theme(EventRecord.from_dict(message.load()), state["theme-count"])
    return [topology.Emit(COUNTED, counted["theme"], counted, None, "counted")]


STEP = topology.Step(
    "theme-count",
    "theme_count",
    (topics.EVENTS,),
    "story key",
    (topology.StateSpec("theme-count"),),
    (topology.Output(COUNTED, "theme"),),
    handle,
)


def declare(settings: Settings, matcher: Callable[[], Matcher]) -> topology.Topology:
    return topology.extend(topology.build(settings, matcher), STEP)


def test_the_driver_runs_a_stage_added_to_the_declaration(nlp_blank: Any) -> None:
    run = run_local(iter_inputs([SAMPLES]), [], nlp_blank, declare=declare)
    counted = run.outputs["counted"]
    assert len(counted) == len(run.outputs["events"]) > 0
    by_theme: dict[str, int] = {}
    for c in counted:
        by_theme[c["theme"]] = by_theme.get(c["theme"], 0) + 1
        assert c["seen"] == by_theme[c["theme"]]  # the state carried from event to event
    assert run.states["theme-count"] == by_theme


def test_the_derived_lists_take_the_new_stage() -> None:
    settings = Settings()
    flow = declare(settings, Matcher)
    assert COUNTED in topics.topics_of(flow) and COUNTED not in topics.ALL
    assert "theme-count" in topics.tables_of(flow) and "theme-count" not in topics.TABLES
    assert COUNTED.full_name(settings) in carriers(flow, settings)
    assert "| `theme-count` | `news.events.v1` |" in flowchart.render(flow)


async def test_a_worker_built_from_the_declaration_runs_the_new_stage() -> None:
    worker = build(Settings(store="memory://", nlp_model="blank"), declare=declare)
    assert "theme-count" in {t.name for t in worker.app.tables.values()}
    worker.app.finalize()
    worker.app.flow_control.resume()
    send, letters = AsyncMock(), AsyncMock()
    with (
        patch.object(worker.topic(COUNTED), "send", send),
        patch.object(worker.topic(topics.DEADLETTER), "send", letters),
    ):
        async with worker.agents["theme-count"].test_context() as agent:
            await agent.put(codecs.dumps(event_record("t1")))
            await agent.put(codecs.dumps(event_record("t2")))
            await agent.put(b"{}")  # not an event record: a dead letter, and the agent goes on
    sent = [(c.kwargs["key"], orjson.loads(c.kwargs["value"])) for c in send.call_args_list]
    assert sent == [
        (b"abduction", {"theme": "abduction", "seen": 1, "article_id": "t1"}),
        (b"abduction", {"theme": "abduction", "seen": 2, "article_id": "t2"}),
    ]
    assert [orjson.loads(c.kwargs["value"])["stage"] for c in letters.call_args_list] == [
        "theme_count"
    ]
