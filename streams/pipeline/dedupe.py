"""Stage ``dedupe``: drop exact copies by normalised-content hash and canonical URL.

State is a ``MutableMapping[str, str]`` from fingerprint key to the id of the first article
seen with it: a faust table on the worker (partitioned like ``news.articles.valid.v1``, whose key
is the content hash), a dict in the local driver.

Seeing the *same* article id again is a redelivery (at-least-once), not a duplicate: it passes
again and later stages stay idempotent because their ids are deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from typing import Literal

from streams.models import Article, Duplicate

STAGE = "dedupe"


def fingerprint_keys(article: Article) -> list[tuple[Literal["content", "url"], str]]:
    """(what, state key) pairs that identify an exact copy of ``article``."""
    keys: list[tuple[Literal["content", "url"], str]] = [("content", "c:" + article.content_hash)]
    if article.url:
        keys.append(("url", "u:" + hashlib.sha256(article.url.encode("utf-8")).hexdigest()[:32]))
    return keys


def dedupe_exact(article: Article, state: MutableMapping[str, str]) -> Article | Duplicate:
    """Return the article if it is new, else a :class:`Duplicate` naming the original."""
    keys = fingerprint_keys(article)
    for matched_on, key in keys:
        first = state.get(key)
        if first is not None and first != article.id:
            return Duplicate(
                article_id=article.id,
                duplicate_of=first,
                kind="exact",
                similarity=1.0,
                matched_on=matched_on,
                title=article.title,
                url=article.url,
            )
    for _matched_on, key in keys:
        state[key] = article.id
    return article
