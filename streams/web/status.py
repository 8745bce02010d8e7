"""Read-only JSON views on the worker's web server: ``/api/status`` and ``/api/subscriptions``."""

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


@tocsin_app.app.page("/api/subscriptions")
async def subscriptions(web: Any, request: Any) -> Any:
    """The subscriptions this worker matches against."""
    return web.json({"subscriptions": [s.to_dict() for _id, s in sorted(registry.current.items())]})
