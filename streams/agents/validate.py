"""Agent ``validate``: raw bytes -> ``news.articles.valid.v1`` (key: content hash) or a dead
letter."""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams.agents import _runner
from streams.agents._boundary import stage_boundary
from streams.pipeline.validate import STAGE

STEP = _runner.FLOW.step("validate")


@tocsin_app.app.agent(tocsin_app.articles_raw, name="validate")
async def validate_articles(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            await _runner.run(STEP, event, {})
