"""Read articles from JSONL files, stdin, plain-text and HTML pages and folders as (source, raw
bytes) pairs.

Each item carries a :class:`SourceRef` (file path, 0, line number) so a rejected line is as
traceable locally as a Kafka message is by topic/partition/offset.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from streams import codecs, schemas, topics
from streams.errors import DecodeError
from streams.models import Rejected, SourceRef, Subscription
from streams.pipeline.match import parse_subscription
from streams.pipeline.normalize import (
    clean_body,
    clean_unicode,
    content_hash,
    is_boilerplate,
    is_caption_or_credit,
)

TEXT_SUFFIXES = {".txt", ".text"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
INPUT_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES
_DATE_LINE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
_BYLINE = re.compile(r"^(?:By\s+)?(?:[A-Z][\w'’.-]+\s){1,3}[A-Z][\w'’.-]+$")
_TITLE_TAGS = re.compile(r"\s*\[(?:details|video|photos|live)\]\s*$", re.IGNORECASE)


def iter_inputs(paths: Sequence[Path]) -> Iterator[tuple[SourceRef, bytes]]:
    """Every article-sized input under ``paths``: JSONL lines, whole text and HTML pages;
    ``-`` is standard input, read as JSONL."""
    for path in paths:
        if str(path) == "-":
            yield from _jsonl_lines(sys.stdin.buffer, "<stdin>")
        elif path.is_dir():
            children = sorted(p for p in path.rglob("*") if p.suffix.lower() in INPUT_SUFFIXES)
            yield from iter_inputs(children)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            page = parse_text_page(path.read_text(encoding="utf-8", errors="replace"))
            yield SourceRef(str(path), 0, 1), codecs.dumps(page)
        elif _is_html(path):
            yield SourceRef(str(path), 0, 1), codecs.dumps(_html_file(path))
        else:
            with path.open("rb") as handle:
                yield from _jsonl_lines(handle, str(path))


def _is_html(path: Path) -> bool:
    """By suffix; a file with another suffix (``download``, ``page.php``) by its first bytes."""
    from streams.sources.html import looks_like_html

    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES or suffix in JSONL_SUFFIXES:
        return suffix in HTML_SUFFIXES
    with path.open("rb") as handle:
        return looks_like_html(handle.read(2048))


def _jsonl_lines(handle: BinaryIO, name: str) -> Iterator[tuple[SourceRef, bytes]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield SourceRef(name, 0, number), line.rstrip(b"\r\n")


def _html_file(path: Path) -> dict[str, Any]:
    """A saved web page as a raw article; one with no main text becomes an input that the
    validate stage rejects (empty text), so it is reported rather than skipped."""
    from streams.sources.html import parse_html_page

    article = parse_html_page(path.read_bytes())
    if article is None:
        return {"text": "", "file": str(path), "note": "no main text found in the HTML page"}
    return article


def input_size(paths: Sequence[Path]) -> int:
    """Total bytes of the files ``iter_inputs`` will read (0 for stdin): for progress."""
    total = 0
    for path in paths:
        if str(path) == "-":
            continue
        if path.is_dir():
            total += sum(
                p.stat().st_size for p in path.rglob("*") if p.suffix.lower() in INPUT_SUFFIXES
            )
        elif path.exists():
            total += path.stat().st_size
    return total


def raw_key(payload: bytes) -> bytes | None:
    """Kafka key for a raw input: the normalised-content hash of its text.

    Copies of one body then share a raw partition and reach dedupe in the order they were
    sent, so the first one sent is the original, as in the local driver. Inputs that are not
    JSON articles get no key (they are dead letters either way).
    """
    try:
        data = codecs.loads(payload)
    except DecodeError:
        return None
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return None
    return content_hash(clean_body(text)).encode()


def parse_text_page(text: str) -> dict[str, Any]:
    """A scraped page as a raw article: date stamp, title, byline and body recovered.

    The title is the first prose-like line that is not site furniture; a byline is a short
    line of capitalised words right after it. The body keeps the prose: captions, credits,
    furniture and short unpunctuated lines (bare captions, the byline repeated at the end)
    are dropped.
    """
    # Menus are recognised by their runs of spaces, so test them before spaces are collapsed.
    raw_lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [clean_unicode(line) for line in raw_lines if not _is_menu(line)]
    article: dict[str, Any] = {}
    body_start = 0
    for i, line in enumerate(lines):
        date = _DATE_LINE.match(line)
        if date:
            article.setdefault("published_at", date.group(1))
            continue
        if is_boilerplate(line) or is_caption_or_credit(line):
            continue
        article["title"] = _TITLE_TAGS.sub("", line)[:1000]
        body_start = i + 1
        break
    if body_start < len(lines) and _BYLINE.match(lines[body_start]):
        article["author"] = lines[body_start]
        body_start += 1
    body = "\n".join(lines[body_start:]) if body_start else "\n".join(lines)
    # Flat text has no markup to tell a caption or a repeated byline from prose: drop short
    # unpunctuated lines here, where that is known, rather than for every source in validate.
    article["text"] = clean_body(body, drop_headings=True) or body
    return article


def _is_menu(line: str) -> bool:
    """Navigation bars: several words separated by runs of spaces or pipes, no sentence."""
    return len(re.split(r"\s{2,}|\s\|\s", line)) >= 4 and not line.rstrip().endswith(".")


def read_subscription_file(path: Path) -> list[Any]:
    """Subscriptions from YAML (a list of mappings) or JSONL (one object per line)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in JSONL_SUFFIXES:
        return [codecs.loads(line) for line in text.splitlines() if line.strip()]
    data = yaml.safe_load(text) or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a YAML list of subscriptions")
    return data


def load_subscriptions(path: Path) -> tuple[list[Subscription], list[str]]:
    """Parse and validate a subscription file: (subscriptions, one error line per bad entry)."""
    validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
    subs: list[Subscription] = []
    errors: list[str] = []
    try:
        entries = read_subscription_file(path)
    except (OSError, ValueError, DecodeError, yaml.YAMLError) as exc:
        return [], [f"{path}: {exc}"]
    for number, data in enumerate(entries, start=1):
        parsed = parse_subscription(data, validator)
        if isinstance(parsed, Rejected):
            errors.append(f"{path}: subscription #{number}: {parsed.error}")
        else:
            subs.append(parsed)
    return subs, errors
