"""Text, URL and date normalisation shared by every stage (pure functions).

Why drop caption and credit lines: scraped pages glue photo captions of *other* stories into the
body (``... in Kyiv, Ukraine, on May 15, 2024.Ukrinform/NurPhoto via Getty Images``). Left in,
they make a Kenyan story look like a Ukrainian one to every later stage.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Photo-agency credits as they appear in captions ("Jane Doe/Getty Images", "AFP via Getty").
_AGENCIES = (
    r"Getty(?: Images)?|AFP|Reuters|AP(?: Photo)?|NurPhoto|EPA(?:-EFE)?|Bloomberg|Anadolu"
    r"|Xinhua|Ukrinform|Shutterstock|Alamy|SOPA Images|LightRocket|Sipa|ZUMA"
)
_CREDIT = re.compile(
    rf"(?:\w/(?:{_AGENCIES})\b)"  # "Kevin Mohatt/Getty Images"
    rf"|(?:\b(?:via|for) (?:{_AGENCIES})\b)"  # "AFP via Getty Images"
    r"|(?:^\s*(?:Photo|Image|Picture|Photograph|Credit|Caption)\s*(?:credit)?\s*:)"
    r"|(?:©)",
    re.IGNORECASE,
)
# Site furniture that is never article prose.
_BOILERPLATE = re.compile(
    r"^\s*(?:date\s+\d{4}-\d{2}-\d{2}\b"
    r"|read (?:more|also|next)\b|related(?: stories| articles)?\s*:?\s*$"
    r"|advertisement\s*$|subscribe\b|sign up\b|follow us\b|share (?:this|on)\b"
    r"|click here\b|all rights reserved|copyright\b)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"""[.!?]["'”’)\]]*\s*$""")
_HEADING_MAX_WORDS = 20
_CONTROL = {c for c in map(chr, range(32)) if c not in "\n\t"} | {"\x7f"}
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_TRACKING_PARAMS = re.compile(r"^(?:utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def clean_unicode(text: str) -> str:
    """NFC-normalise, drop control characters, unify line ends and spaces."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch not in _CONTROL)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def is_caption_or_credit(line: str) -> bool:
    """A photo caption with an agency credit, or a bare credit line."""
    return bool(_CREDIT.search(line))


def is_boilerplate(line: str) -> bool:
    """Site furniture: date stamps, "Read more", subscription prompts."""
    return bool(_BOILERPLATE.search(line))


def is_heading_like(line: str) -> bool:
    """A short line without sentence punctuation: a heading, byline or bare caption."""
    return not _SENTENCE_END.search(line) and len(line.split()) < _HEADING_MAX_WORDS


def clean_body(text: str) -> str:
    """Article prose only: one paragraph per line, captions/credits/furniture removed.

    A text that is a single line is kept whole even without final punctuation, so short
    wire items and test inputs are not emptied.
    """
    lines = [line for line in clean_unicode(text).split("\n") if line]
    if len(lines) <= 1:
        return lines[0] if lines and not is_caption_or_credit(lines[0]) else ""
    kept = [
        line
        for line in lines
        if not (is_caption_or_credit(line) or is_boilerplate(line) or is_heading_like(line))
    ]
    return "\n".join(kept)


def clean_title(title: str) -> str:
    """One line, normalised spaces."""
    return " ".join(clean_unicode(title).split())


def content_hash(text: str) -> str:
    """SHA-256 of the case-folded, whitespace-collapsed text: equal for exact copies."""
    canonical = " ".join(text.casefold().split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, fragment or tracking parameters,
    parameters sorted, empty path as ``/``."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port  # credentials (user:pass@) are dropped: never part of an identity
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(k.lower())
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def parse_published(value: str) -> str:
    """RFC 3339 timestamp or plain date -> RFC 3339 in UTC (``...Z``).

    Naive timestamps are taken as UTC. Raises ``ValueError`` for anything else.
    """
    raw = value.strip()
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
