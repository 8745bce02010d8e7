"""``/api/status``: this worker's per-stage counts (subscriptions: ``subscriptions.py``)."""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams.agents._boundary import COUNTS
from streams.agents.subscriptions import registry
from streams.pipeline import stats

# The counts named "alert" are not all the same figure: said here, next to them.
ALERT_COUNTS = {
    "match.alert": "new alerts made (the first of a story for a subscription)",
    "match.update": "updates made of alerts already sent",
    "stats.alerts": "new alerts counted: /api/stats 'alerts' over this worker's life",
    "stats.alert_updates": "alert updates counted: /api/stats 'alert_updates' likewise",
    "deliver.alert": "alert messages read for delivery: new alerts and updates",
}


@tocsin_app.app.page("/api/status")
async def status(web: Any, request: Any) -> Any:
    """Per-stage outcome counts of this worker and whether subscriptions are loaded."""
    counts: dict[str, dict[str, int]] = {}
    for (stage, outcome), n in sorted(COUNTS.items()):
        counts.setdefault(stage, {})[outcome] = n
    return web.json(
        {
            "app_id": tocsin_app.settings.app_id,
            "subscriptions_ready": registry.ready.is_set(),
            "subscriptions": len(registry.current),
            "counted": "records this worker process handled since it started, per stage and "
            "outcome, on the partitions it owns",
            "counts": counts,
            "meaning": {**{f"stats.{k}": v for k, v in stats.MEANING.items()}, **ALERT_COUNTS},
        }
    )
