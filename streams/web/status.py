"""``/api/status``: this worker's per-stage counts (subscriptions: ``subscriptions.py``)."""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams.agents._boundary import COUNTS
from streams.agents.subscriptions import registry


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
            "counts": counts,
        }
    )
