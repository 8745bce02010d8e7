"""``/api/status``: this worker's per-stage counts (subscriptions: ``subscriptions.py``)."""

from __future__ import annotations

from typing import Any

from streams.agents._boundary import COUNTS
from streams.agents._shell import Shell, page
from streams.pipeline import stats

# The counts named "alert" are not all the same figure: said here, next to them.
ALERT_COUNTS = {
    "match.alert": "new alerts made (the first of a story for a subscription)",
    "match.update": "updates made of alerts already sent",
    "stats.alerts": "new alerts counted: /api/stats 'alerts' over this worker's life",
    "stats.alert_updates": "alert updates counted: /api/stats 'alert_updates' likewise",
    "deliver.alert": "alert messages read for delivery: new alerts and updates",
}


def register(shell: Shell) -> None:
    page(shell, "/api/status", status)


async def status(web: Any, request: Any) -> Any:
    """Per-stage outcome counts of this worker and whether subscriptions are loaded."""
    shell: Shell = web.shell
    registry = shell.registry
    counts: dict[str, dict[str, int]] = {}
    for (stage, outcome), n in sorted(COUNTS.items()):
        counts.setdefault(stage, {})[outcome] = n
    return web.json(
        {
            "app_id": shell.settings.app_id,
            "subscriptions_ready": registry.ready.is_set(),
            "subscriptions": len(registry.current),
            "counted": "records this worker process handled since it started, per stage and "
            "outcome, on the partitions it owns",
            "counts": counts,
            "meaning": {**{f"stats.{k}": v for k, v in stats.MEANING.items()}, **ALERT_COUNTS},
        }
    )
