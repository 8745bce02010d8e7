"""HTML pages -> raw articles: title, publication date, author, outlet and main text.

Extraction is trafilatura's (main-content detection with readability/jusText fallbacks and
htmldate for dates); tocsin then drops what trafilatura keeps but an alert must not see: the
headline repeated as the first body line, and (in the validate stage, for every source alike)
photo captions, credits and site furniture. ``bench/html_extraction.py`` measures both.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape as html_unescape
from typing import Any

from streams.pipeline.normalize import clean_title, clean_unicode

# A page larger than this is not an article (and would take trafilatura seconds to parse).
MAX_HTML_BYTES = 10_000_000
# htmldate's answer with the time of day and offset when the page gives them (meta tags,
# JSON-LD, <time datetime>); trafilatura's default keeps the date only, so 09:00Z became
# 00:00Z. A page that gives a date alone comes back as a naive midnight.
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Measured on the article-extraction benchmark (bench/html_extraction.py, docs/ingestion.md):
# reader comments are not the story; favor_precision trims link lists and teasers at almost
# no cost in recall; tables stay (dropping them cost recall), deduplication cost recall too.
_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "favor_precision": True,
    "include_images": False,
    "include_links": False,
}


def looks_like_html(data: bytes) -> bool:
    """Sniff the first bytes, as browsers do, for inputs whose name says nothing."""
    head = data[:2048].decode("utf-8", "replace").lstrip("\ufeff \t\r\n").lower()
    return head.startswith(("<!doctype html", "<html")) or (
        head.startswith(("<head", "<!--", "<?xml")) and "<html" in head
    )


def extract_text(html: bytes | str, url: str | None = None) -> str | None:
    """trafilatura's main text with tocsin's settings, or None."""
    import trafilatura

    text: str | None = trafilatura.extract(
        html,
        url=url,
        **_OPTIONS,
    )
    return text


def parse_html_page(html: bytes | str, url: str | None = None) -> dict[str, Any] | None:
    """A web page as a raw article (the shape of ``news.articles.raw.v1``), or ``None`` when
    no main text can be found (a front page, a login wall, an empty document)."""
    import trafilatura

    if len(html) > MAX_HTML_BYTES:
        return None
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        date_extraction_params=_date_params(),
        **_OPTIONS,
    )
    if document is None:
        return None
    meta: dict[str, Any] = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    text = meta.get("text") or ""
    title = clean_title(meta.get("title") or "")[:1000]
    text = _drop_repeated_title(clean_unicode(text), title)
    if not text.strip():
        return None
    article: dict[str, Any] = {"text": text[:1_000_000]}
    if title:
        article["title"] = title
    page_url = url or meta.get("url")
    if page_url and str(page_url).startswith(("http://", "https://")):
        article["url"] = str(page_url)[:2048]
    published = published_at(meta.get("date"))
    if published:
        article["published_at"] = published
    if meta.get("author"):
        article["author"] = clean_title(str(meta["author"]))[:300]
    if meta.get("sitename"):
        article["source"] = clean_title(str(meta["sitename"]))[:200]
    return article


def _date_params() -> dict[str, Any]:
    """trafilatura's own date settings (original date, extensive search, nothing after today),
    asking for the time of day too."""
    from trafilatura.settings import DEFAULT_CONFIG, set_date_params

    extensive = DEFAULT_CONFIG.getboolean("DEFAULT", "EXTENSIVE_DATE_SEARCH")
    return {**set_date_params(extensive), "outputformat": _DATE_FORMAT}


def published_at(value: Any) -> str | None:
    """htmldate's answer as the raw article's ``published_at``: an RFC 3339 time with its
    offset, a naive time (UTC downstream, as for every source) or a bare date when the page
    gave no time of day."""
    if not value:
        return None
    text = str(value)
    try:
        moment = datetime.strptime(text, _DATE_FORMAT)
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}$", text[:10]) else None
        if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
            return moment.date().isoformat()  # a date alone: no time of day was found
    return moment.isoformat()


def _drop_repeated_title(text: str, title: str) -> str:
    """trafilatura keeps an in-article ``<h1>``; the headline is already in ``title``."""
    lines = text.split("\n")
    while lines and title and lines[0].strip().casefold() == title.casefold():
        lines.pop(0)
    return "\n".join(lines)


_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr")


def fragment_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed entry's summary or content), one block a line."""
    import lxml.html
    from lxml.etree import ParserError

    if "<" not in fragment:
        return clean_unicode(html_unescape(fragment)).strip()
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return clean_unicode(fragment).strip()
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    text = str(root.text_content())
    return "\n".join(line for line in clean_unicode(text).split("\n") if line)
