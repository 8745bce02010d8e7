"""``topics.TABLES`` names every table the worker has, so ``create_topics`` makes every
changelog before a worker starts (see the comment on ``topics.TABLES``)."""

from __future__ import annotations

import streams.worker  # noqa: F401  (registers every agent and table)
from streams import app as tocsin_app
from streams import topics


def test_every_worker_table_has_its_changelog_created_with_the_topics() -> None:
    settings = tocsin_app.settings
    made_by_faust = {t.changelog_topic.get_topic_name() for t in tocsin_app.app.tables.values()}
    assert made_by_faust == {topics.changelog_name(settings, t) for t in topics.TABLES}
