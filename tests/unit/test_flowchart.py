"""docs/architecture.md's flow table is the one the declaration gives (``streams/flowchart.py``)."""

from __future__ import annotations

from streams import flowchart, topology
from tests.conftest import REPO


def test_the_docs_flow_is_drawn_from_the_declaration() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    assert flowchart.block(text) == flowchart.render(topology.declared()), (
        "run `python -m streams.flowchart --write docs/architecture.md`"
    )


def test_every_declared_step_and_topic_is_in_the_table() -> None:
    drawn = flowchart.render(topology.declared())
    flow = topology.declared()
    for step in flow.steps:
        assert f"| `{step.name}`" in drawn
        for out in step.outputs:
            assert f"`{out.topic.name}` ({out.key})" in drawn
