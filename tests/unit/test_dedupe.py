from __future__ import annotations

from streams.models import Article, Duplicate
from streams.pipeline.dedupe import dedupe_exact
from streams.pipeline.normalize import content_hash


def article(id_: str, text: str, url: str | None = None) -> Article:
    return Article(id=id_, content_hash=content_hash(text), text=text, url=url)


def test_first_is_unique_copy_is_duplicate() -> None:
    state: dict[str, str] = {}
    assert isinstance(dedupe_exact(article("a", "Body one."), state), Article)
    verdict = dedupe_exact(article("b", "body   ONE."), state)
    assert isinstance(verdict, Duplicate)
    assert (verdict.duplicate_of, verdict.kind, verdict.matched_on) == ("a", "exact", "content")
    assert verdict.similarity == 1.0


def test_same_url_different_body_is_duplicate() -> None:
    state: dict[str, str] = {}
    dedupe_exact(article("a", "Old version.", "https://x.example/1"), state)
    verdict = dedupe_exact(article("b", "Updated version.", "https://x.example/1"), state)
    assert isinstance(verdict, Duplicate) and verdict.matched_on == "url"


def test_redelivery_of_the_same_article_passes_again() -> None:
    state: dict[str, str] = {}
    first = article("a", "Body.")
    assert dedupe_exact(first, state) == first
    assert dedupe_exact(first, state) == first  # at-least-once replay: not a self-duplicate


def test_different_bodies_are_both_unique() -> None:
    state: dict[str, str] = {}
    assert isinstance(dedupe_exact(article("a", "One."), state), Article)
    assert isinstance(dedupe_exact(article("b", "Two."), state), Article)
    assert len(state) == 2
