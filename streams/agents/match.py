"""Agent ``match``: event records x subscriptions -> ``news.alerts.v1`` (key: subscription id)."""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams import codecs
from streams.agents._boundary import count, stage_boundary
from streams.agents.subscriptions import registry
from streams.models import EventRecord
from streams.pipeline.match import STAGE, match_event


@tocsin_app.app.agent(tocsin_app.events, name="match")
async def match_alerts(stream: Any) -> None:
    # Matching before the compacted subscriptions topic is read would miss alerts.
    await registry.ready.wait()
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            record = EventRecord.from_dict(codecs.loads(event.value))
            alerts = match_event(record, registry.current.values())
            for alert in alerts:
                await tocsin_app.alerts.send(
                    key=alert.subscription_id.encode(), value=codecs.dumps(alert.to_dict())
                )
            count(STAGE, "alert", len(alerts))
            count(STAGE, "event")
