"""Agent ``validate``: raw bytes -> ``news.articles.valid.v1`` (key: content hash) or a dead
letter."""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams import codecs, schemas, topics
from streams.agents._boundary import count, send_dead_letter, stage_boundary
from streams.models import Rejected
from streams.pipeline.validate import STAGE, validate_article

_validator = schemas.validator(topics.ARTICLES_RAW.schema_file)


@tocsin_app.app.agent(tocsin_app.articles_raw, name="validate")
async def validate_articles(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            payload = event.value if isinstance(event.value, bytes) else b""
            outcome = validate_article(payload, _validator)
            if isinstance(outcome, Rejected):
                await send_dead_letter(STAGE, event, outcome)
                continue
            await tocsin_app.articles_valid.send(
                key=outcome.content_hash.encode(), value=codecs.dumps(outcome.to_dict())
            )
            count(STAGE, "valid")
