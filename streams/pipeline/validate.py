"""Stage ``validate``: raw bytes -> a normalised :class:`Article`, or a :class:`Rejected`."""

from __future__ import annotations

import hashlib
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from streams import codecs
from streams.errors import DecodeError, ValidationFailed
from streams.models import Article, Rejected
from streams.pipeline.normalize import (
    canonical_url,
    clean_body,
    clean_title,
    content_hash,
    parse_published,
)

STAGE = "validate"


def validate_article(payload: bytes, validator: Draft202012Validator) -> Article | Rejected:
    """Decode, check against the raw-article schema, normalise and fingerprint one input."""
    try:
        raw = codecs.loads(payload)
    except DecodeError as exc:
        return Rejected(DecodeError.error_type, str(exc))
    error = best_match(validator.iter_errors(raw))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Rejected(ValidationFailed.error_type, f"{where}: {_short(error.message)}")
    try:
        return _normalise(raw)
    except ValueError as exc:
        return Rejected(ValidationFailed.error_type, str(exc))


def _normalise(raw: dict[str, Any]) -> Article:
    text = clean_body(raw["text"])
    if not text:
        raise ValueError("text: nothing left after removing captions and boilerplate")
    url = canonical_url(raw["url"]) if raw.get("url") else None
    try:
        published = parse_published(raw["published_at"]) if raw.get("published_at") else None
    except ValueError as exc:
        raise ValueError(f"published_at: not an RFC 3339 timestamp or date ({exc})") from exc
    digest = content_hash(text)
    return Article(
        id=raw.get("id") or derive_id(url, digest),
        content_hash=digest,
        text=text,
        title=(clean_title(raw["title"]) or None) if raw.get("title") else None,
        url=url,
        published_at=published,
        source=(clean_title(raw["source"]) or None) if raw.get("source") else None,
        language=raw.get("language"),
    )


def derive_id(url: str | None, digest: str) -> str:
    """A stable id for inputs without one: from the canonical URL, else from the content."""
    basis = url if url else digest
    return "a-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


def _short(message: str, limit: int = 300) -> str:
    # jsonschema quotes the offending value; a 1 MB body must not end up in the error.
    return message if len(message) <= limit else message[:limit] + "..."
