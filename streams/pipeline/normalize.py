"""Text, URL and date normalisation shared by every stage (pure functions).

Why drop caption and credit lines: scraped pages glue photo captions of *other* stories into the
body (``... in Kyiv, Ukraine, on May 15, 2024.Ukrinform/NurPhoto via Getty Images``). Left in,
they make a Kenyan story look like a Ukrainian one to every later stage.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any
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
# Captions with their credits run to ~35 words in the samples and scraped pages we have.
_CAPTION_MAX_WORDS = 60
# Line breaks other than "\n" (str.splitlines() honours them all): made "\n" first.
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# C0/C1 controls (ANSI escapes' ESC among them) and invisible format characters: soft hyphen,
# zero-width space/no-break, bidi overrides (which can make a title read backwards), word
# joiner, BOM, interlinear annotations and tag characters. ZWNJ/ZWJ (U+200C/D) are kept: they
# are spelling in Persian and Indic scripts and in emoji.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Click and campaign trackers: they never change what a page says, only who gets credit.
_TRACKING_PARAMS = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|twclid|ttclid|li_fat_id"
    r"|mc_cid|mc_eid|igshid|_ga|_gl|_hsenc|_hsmi|__hstc|__hssc|__hsfp|mkt_tok|oly_anon_id"
    r"|oly_enc_id|vero_id|rb_clickid|s_cid|ocid|ncid|cmpid|sr_share|spm|ref_src|at_medium"
    r"|at_campaign|at_custom\d*|wt_mc|wt\.mc_id|__twitter_impression|smid|smtyp)$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def clean_unicode(text: str) -> str:
    """NFC-normalise, drop control and invisible format characters, make every line break
    ``\n`` and every run of spaces (tabs, no-break, typographic) one space; strip lines.

    Idempotent: ``clean_unicode(clean_unicode(t)) == clean_unicode(t)``.
    """
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    # NFC after removal: a dropped character between a base letter and a combining mark
    # would otherwise leave a pair that NFC composes only on the second pass.
    text = unicodedata.normalize("NFC", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def is_caption_or_credit(line: str) -> bool:
    """A photo caption with an agency credit, or a bare credit line.

    A line past ``_CAPTION_MAX_WORDS`` is prose even with a credit in it: flat scraped text
    often runs a whole article into one line with its captions inside, and dropping that line
    would drop the article.
    """
    return len(line.split()) <= _CAPTION_MAX_WORDS and bool(_CREDIT.search(line))


def is_boilerplate(line: str) -> bool:
    """Site furniture: date stamps, "Read more", subscription prompts."""
    return bool(_BOILERPLATE.search(line))


def is_heading_like(line: str) -> bool:
    """A short line without sentence punctuation: a heading, byline or bare caption."""
    return not _SENTENCE_END.search(line) and len(line.split()) < _HEADING_MAX_WORDS


def clean_body(text: str, *, drop_headings: bool = False) -> str:
    """Article prose only: one paragraph per line, captions/credits/furniture removed.

    ``drop_headings`` also drops short lines without sentence punctuation (bylines, bare
    captions, section heads): right for flat scraped text, where nothing else tells a caption
    from prose, wrong for structured sources, whose subheadings and list items are the story
    (on the HTML benchmark, 70% of such lines belong to the gold text). A text that is a single
    line is kept whole even without final punctuation, so short wire items are not emptied.
    """
    lines = [line for line in clean_unicode(text).split("\n") if line]
    if len(lines) <= 1:
        return lines[0] if lines and not is_caption_or_credit(lines[0]) else ""
    kept = [
        line
        for line in lines
        if not (
            is_caption_or_credit(line)
            or is_boilerplate(line)
            or (drop_headings and is_heading_like(line))
        )
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
    """The one spelling of a URL used for ids and duplicate checks.

    Lower-case scheme and host (trailing dot dropped), no credentials, default port or
    fragment; tracking parameters (utm_*, fbclid, gclid, ...) removed and the rest sorted;
    percent-escapes upper-cased and unreserved characters unescaped; ``.``/``..`` path
    segments resolved; empty path as ``/``. Idempotent. Raises ``ValueError`` for a bad port.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port  # credentials (user:pass@) are dropped: never part of an identity
    if ":" in host:  # IPv6 literal: brackets are part of the netloc syntax
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(k.lower())
    )
    path = _remove_dot_segments(_normalise_escapes(parts.path)) or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def _normalise_escapes(path: str) -> str:
    """``%7e`` -> ``~`` (unreserved), ``%2f`` -> ``%2F`` (reserved stays escaped)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(fix, path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on whole segments."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    joined = "/".join(out)
    return joined if joined.startswith("/") or not path.startswith("/") else "/" + joined


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


# Language identification: fewer letters than this say too little to be trusted.
_LANGUAGE_MIN_LETTERS = 40
_LANGUAGE_SAMPLE_CHARS = 600
_LANGUAGE_MIN_CONFIDENCE = 0.8


@functools.cache
def _language_identifier() -> Any:
    # Loaded on first use (about a second): processes that never validate do not pay for it.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (py3langid, 97 languages), or ``None`` when the
    text is too short or the classifier is not confident."""
    sample = text[:_LANGUAGE_SAMPLE_CHARS]
    if sum(map(str.isalpha, sample)) < _LANGUAGE_MIN_LETTERS:
        return None
    code, confidence = _language_identifier().classify(sample)
    return str(code) if confidence >= _LANGUAGE_MIN_CONFIDENCE else None
