"""``topics.TABLES`` names every table the worker has, so ``create_topics`` makes every
changelog before a worker starts (see the comment on ``topics.TABLES``)."""

from __future__ import annotations

from streams import topics
from streams.settings import Settings
from streams.worker import build


def test_every_worker_table_has_its_changelog_created_with_the_topics() -> None:
    settings = Settings(store="memory://")
    worker = build(settings)  # every agent and table a worker has
    made_by_faust = {t.changelog_topic.get_topic_name() for t in worker.app.tables.values()}
    assert made_by_faust == {topics.changelog_name(settings, t) for t in topics.TABLES}
