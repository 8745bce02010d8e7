from __future__ import annotations

import orjson
import pytest

from streams import schemas, topics
from streams.models import Article, Rejected
from streams.pipeline.validate import validate_article

VALIDATOR = schemas.validator(topics.ARTICLES_RAW.schema_file)


def run(value: object) -> Article | Rejected:
    return validate_article(orjson.dumps(value), VALIDATOR)


def test_valid_article_is_normalised() -> None:
    article = run(
        {
            "id": "x1",
            "url": "https://A.example/p?utm_source=t#c",
            "title": "  Title\n here ",
            "published_at": "2024-11-26T09:15:00+03:00",
            "text": "Body text.",
            "extra": 1,
        }
    )
    assert isinstance(article, Article)
    assert article.url == "https://a.example/p"
    assert article.title == "Title here"
    assert article.published_at == "2024-11-26T06:15:00Z"
    assert len(article.content_hash) == 64


def test_id_is_derived_when_missing_and_stable() -> None:
    first, second = run({"text": "Same body."}), run({"text": "Same body."})
    assert isinstance(first, Article) and isinstance(second, Article)
    assert first.id == second.id and first.id.startswith("a-")


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        (b"not json", "decode_error"),
        (b"\xff\xfe{}", "decode_error"),
        (b"[1, 2]", "schema_violation"),
        (b'{"title": "no text"}', "schema_violation"),
        (b'{"text": 5}', "schema_violation"),
        (b'{"text": ""}', "schema_violation"),
        (orjson.dumps({"text": "t", "title": "x" * 1001}), "schema_violation"),
        (orjson.dumps({"text": "x" * 1_000_001}), "schema_violation"),
        (b'{"text": "t", "url": "javascript:alert(1)"}', "schema_violation"),
        (b'{"text": "t", "published_at": "soon"}', "schema_violation"),
        (b'{"text": "t", "url": "https://example.com:99999/"}', "schema_violation"),
        (b'{"text": "Photo: Jane Doe/Getty Images"}', "schema_violation"),
    ],
)
def test_bad_inputs_are_rejected_with_a_reason(payload: bytes, error_type: str) -> None:
    outcome = validate_article(payload, VALIDATOR)
    assert isinstance(outcome, Rejected)
    assert outcome.error_type == error_type
    assert outcome.error
    assert len(outcome.error) < 1000  # a huge body never ends up in the message


def test_non_english_articles_are_kept_and_marked() -> None:
    fr = run({"text": "Quatre étudiants ont été enlevés à Nairobi lundi, selon la police kényane."})
    assert isinstance(fr, Article) and fr.language == "fr"
    en = run({"text": "Four students were abducted in Nairobi on Monday, Kenyan police said."})
    assert isinstance(en, Article) and en.language == "en"
    tagged = run({"text": "Four students were abducted in Nairobi on Monday.", "language": "en-GB"})
    assert isinstance(tagged, Article) and tagged.language == "en-GB"  # the producer's tag wins


@pytest.mark.parametrize(
    "value",
    [
        {"text": "\u00e9" * 600_000},  # 600,000 characters but 1.2 MB of UTF-8
        {"text": "t", "author": 5},
        {"text": "t", "source": ["x"]},
        {"text": "t", "title": None},
        {"text": "t", "url": "https://exa mple.com/"},
        {"text": "t", "url": "ftp://example.com/"},
        {"text": "t", "id": "has spaces"},
        {"text": "t", "language": "English"},
    ],
)
def test_schema_and_size_limits(value: dict[str, object]) -> None:
    outcome = run(value)
    assert isinstance(outcome, Rejected), value
    assert len(outcome.error) < 1000


def test_oversized_message_is_rejected_before_parsing() -> None:
    payload = b'{"text": "' + b"x" * 1_100_000 + b'"}'
    outcome = validate_article(payload, VALIDATOR)
    assert isinstance(outcome, Rejected) and "bytes" in outcome.error


def test_unknown_fields_are_accepted() -> None:
    assert isinstance(run({"text": "Body.", "whatever": {"nested": [1]}, "author": "A"}), Article)
