"""``POST /api/articles``: articles over HTTP, one JSON object or a JSON array of them.

Behind a bearer token (``TOCSIN_INGEST_TOKEN``; without one the endpoint answers 503), with a
request size limit (``TOCSIN_INGEST_MAX_BYTES``, read in chunks so a huge body is refused
before it is buffered). Each item is checked with the validate stage's own function: accepted
items are produced to ``news.articles.raw.v1`` (the worker validates them again, as any raw
input); rejected ones go to ``news.deadletter.v1`` with stage ``ingest`` and the answer says
which and why, item by item::

    {"accepted": 1, "rejected": 1, "items": [
        {"index": 0, "status": "accepted", "id": "a-3f..."},
        {"index": 1, "status": "rejected", "error_type": "schema_violation",
         "error": "text: 5 is not of type 'string'"}]}
"""

from __future__ import annotations

from typing import Any

from faust.web import View

from streams import codecs, schemas, topics
from streams.agents._boundary import count
from streams.agents._shell import Shell, page
from streams.errors import DecodeError
from streams.models import Rejected, SourceRef
from streams.pipeline.driver import dead_letter
from streams.pipeline.validate import validate_article

STAGE = "ingest"
SOURCE_TOPIC = "http:POST /api/articles"
MAX_ITEMS = 1000
_validator = schemas.validator(topics.ARTICLES_RAW.schema_file)


class TooLarge(Exception):
    """The request body is over the configured limit."""


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without buffering them."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def authorised(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time (never with no token)."""
    from streams.web.auth import bearer_valid

    return bearer_valid(header, token)


def split_items(body: bytes) -> list[Any]:
    """One object -> [object]; an array -> its items. Raises ``ValueError`` with a reason."""
    try:
        data = codecs.loads(body)
    except DecodeError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from exc
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            raise ValueError("empty batch")
        if len(data) > MAX_ITEMS:
            raise ValueError(f"batch of {len(data)} items; at most {MAX_ITEMS} per request")
        return data
    raise ValueError("expected an article object or an array of article objects")


class ArticlesView(View):  # type: ignore[misc]
    """POST articles into the pipeline."""

    shell: Shell

    async def post(self, request: Any) -> Any:
        settings = self.shell.settings
        if not settings.ingest_token:
            return self.error(503, "POST /api/articles is off: set TOCSIN_INGEST_TOKEN")
        if not authorised(request.headers.get("Authorization"), settings.ingest_token):
            return self.error(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            body = await read_body(request, settings.ingest_max_bytes)
        except TooLarge:
            return self.error(413, f"request body over {settings.ingest_max_bytes} bytes")
        try:
            items = split_items(body)
        except ValueError as exc:
            return self.error(400, str(exc)[:500])
        acks: list[Any] = []
        results = [await self._one(index, item, acks) for index, item in enumerate(items)]
        # "accepted" must mean "in Kafka": answer only once the broker has acknowledged all.
        for ack in acks:
            await ack
        accepted = sum(1 for r in results if r["status"] == "accepted")
        return self.json(
            {"accepted": accepted, "rejected": len(results) - accepted, "items": results}
        )

    async def _one(self, index: int, item: Any, acks: list[Any]) -> dict[str, Any]:
        payload = codecs.dumps(item)
        outcome = validate_article(payload, _validator)
        if isinstance(outcome, Rejected):
            source = SourceRef(SOURCE_TOPIC, 0, index)
            record = dead_letter(STAGE, source, payload, outcome)
            acks.append(
                await self.shell.letters.send(
                    key=STAGE.encode(), value=codecs.dumps(record.to_dict())
                )
            )
            count(STAGE, "rejected")
            return {
                "index": index,
                "status": "rejected",
                "error_type": outcome.error_type,
                "error": outcome.error,
            }
        acks.append(
            await self.shell.topic(topics.ARTICLES_RAW).send(
                key=outcome.content_hash.encode(), value=payload
            )
        )
        count(STAGE, "accepted")
        return {"index": index, "status": "accepted", "id": outcome.id}


def register(shell: Shell) -> None:
    page(shell, "/api/articles", ArticlesView)
