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
    detect_language,
    parse_published,
)

STAGE = "validate"
# The schema bounds the body in characters; Kafka bounds messages in bytes (1 MiB by
# default), so the body is also held to 1 MB of UTF-8 and the whole message to a little more.
MAX_BODY_BYTES = 1_000_000
MAX_PAYLOAD_BYTES = 1_040_000


def validate_article(payload: bytes, validator: Draft202012Validator) -> Article | Rejected:
    """Decode, check against the raw-article schema, normalise and fingerprint one input."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(
            ValidationFailed.error_type,
            f"(root): message of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes",
        )
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
    body_bytes = len(raw["text"].encode("utf-8", "surrogatepass"))
    if body_bytes > MAX_BODY_BYTES:
        raise ValueError(f"text: {body_bytes} bytes of UTF-8 exceeds {MAX_BODY_BYTES}")
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
        # The producer's tag wins; otherwise detected. Non-English articles are kept, marked.
        language=raw.get("language") or detect_language(text),
        author=(clean_title(raw["author"]) or None) if raw.get("author") else None,
    )


def derive_id(url: str | None, digest: str) -> str:
    """A stable id for inputs without one: from the canonical URL, else from the content."""
    basis = url if url else digest
    return "a-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


def _short(message: str, limit: int = 300) -> str:
    # jsonschema quotes the offending value; a 1 MB body must not end up in the error.
    return message if len(message) <= limit else message[:limit] + "..."
