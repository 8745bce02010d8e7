"""Agent ``dedupe``: valid articles -> unique or duplicates, state in a RocksDB-backed table.

The table is partitioned like ``news.articles.valid.v1`` (key: content hash), so every exact
copy of a body meets its original on one partition whatever the number of workers.
"""

from __future__ import annotations

from typing import Any

from streams import app as tocsin_app
from streams import codecs
from streams.agents._boundary import count, stage_boundary
from streams.models import Article, Duplicate
from streams.pipeline.dedupe import STAGE, dedupe_exact

seen = tocsin_app.app.Table(
    "dedupe-exact",
    default=None,
    partitions=tocsin_app.settings.topic_partitions,
    key_type=str,
    value_type=str,
    # rocksdict, not python-rocksdb: maintained wheels (faust-streaming #469).
    options={"driver": "rocksdict"},
)


@tocsin_app.app.agent(tocsin_app.articles_valid, name="dedupe")
async def dedupe_articles(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            article = Article.from_dict(codecs.loads(event.value))
            verdict = dedupe_exact(article, seen)
            if isinstance(verdict, Duplicate):
                await tocsin_app.articles_duplicates.send(
                    key=verdict.article_id.encode(), value=codecs.dumps(verdict.to_dict())
                )
                count(STAGE, "duplicate")
            else:
                await tocsin_app.articles_unique.send(
                    key=verdict.id.encode(), value=codecs.dumps(verdict.to_dict())
                )
                count(STAGE, "unique")
