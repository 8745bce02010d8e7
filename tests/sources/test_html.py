from __future__ import annotations

from pathlib import Path

import orjson

from streams import schemas, topics
from streams.models import Article
from streams.pipeline.validate import validate_article
from streams.sources.files import iter_inputs
from streams.sources.html import fragment_text, looks_like_html, parse_html_page, published_at

PAGE = """<!DOCTYPE html><html lang="en"><head>
<title>Teachers abducted in Kaduna | Sahel Post</title>
<meta property="og:title" content="Teachers abducted in Kaduna">
<meta property="og:site_name" content="Sahel Post">
<meta name="author" content="Amina Bello">
<meta property="article:published_time" content="2024-12-02T08:30:00+01:00">
</head><body>
<header><nav><a href="/">Home</a><a href="/politics">Politics</a>
<a href="/sport">Sport</a></nav></header>
<main><article>
<h1>Teachers abducted in Kaduna</h1>
<figure><img src="a.jpg"><figcaption>A school in Kaduna.
Photo: John Doe/AFP via Getty Images</figcaption></figure>
<p>Gunmen abducted three teachers from a primary school in Kaduna State, Nigeria, on Monday
morning, police said, the latest in a string of kidnappings in the north-west.</p>
<p>A police spokesman said security forces had been deployed to the forest where the attackers
were believed to have fled with the teachers.</p>
<p>Parents gathered at the school gate on Tuesday demanding news of the teachers.</p>
</article>
<aside><h3>Most read</h3><ul><li><a href="/x">Celebrity wedding photos</a></li></ul></aside>
</main>
<section class="comments"><p>Reader comment: this is terrible!!!</p></section>
<footer>© 2024 Sahel Post. All rights reserved.</footer>
</body></html>"""


def test_html_page_fields_and_main_text() -> None:
    article = parse_html_page(PAGE)
    assert article is not None
    assert article["title"] == "Teachers abducted in Kaduna"
    assert article["published_at"] == "2024-12-02T08:30:00+01:00"  # the time of day kept
    assert article["author"] == "Amina Bello"
    assert article["source"] == "Sahel Post"
    text = article["text"]
    assert text.startswith("Gunmen abducted three teachers")  # headline not repeated
    assert "Parents gathered" in text
    for junk in ("Home", "Getty", "Celebrity wedding", "Reader comment", "All rights reserved"):
        assert junk not in text, junk


def test_html_files_by_suffix_or_content(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(PAGE)
    (tmp_path / "download").write_text(PAGE)  # no suffix: sniffed
    (tmp_path / "empty.htm").write_text("<html><body></body></html>")
    items = list(iter_inputs([tmp_path / "a.html", tmp_path / "download", tmp_path / "empty.htm"]))
    first, second, empty = (orjson.loads(p) for _s, p in items)
    assert first["title"] == second["title"] == "Teachers abducted in Kaduna"
    assert empty["text"] == "" and "no main text" in empty["note"]  # rejected, not skipped


def test_sniffing_and_fragments() -> None:
    assert looks_like_html(b"\xef\xbb\xbf  <!doctype html><html>")
    assert looks_like_html(b"<!-- saved --><html><body>")
    assert not looks_like_html(b'{"text": "<html>"}')
    assert fragment_text("<p>One &amp; two.</p><p>Three<br>four</p><script>x()</script>") == (
        "One & two.\nThree\nfour"
    )
    assert fragment_text("plain &amp; simple") == "plain & simple"


def test_byline_and_time_of_day_reach_the_valid_article(tmp_path: Path) -> None:
    """Issue 22: an HTML page lost its author and its time of day (09:00Z became 00:00Z)."""
    page = PAGE.replace(
        '<meta property="article:published_time" content="2024-12-02T08:30:00+01:00">',
        '<script type="application/ld+json">{"@context": "https://schema.org", '
        '"@type": "NewsArticle", "datePublished": '
        '"2024-12-02T09:00:00Z", "author": {"@type": "Person", "name": "Amina Bello"}}</script>',
    ).replace('<meta name="author" content="Amina Bello">', "")
    (tmp_path / "page.html").write_text(page)
    ((_source, payload),) = iter_inputs([tmp_path / "page.html"])
    article = validate_article(payload, schemas.validator(topics.ARTICLES_RAW.schema_file))
    assert isinstance(article, Article)
    assert article.published_at == "2024-12-02T09:00:00Z"
    assert article.author == "Amina Bello"
    schemas.validator(topics.ARTICLES_VALID.schema_file).validate(article.to_dict())
    moved = validate_article(
        orjson.dumps(parse_html_page(PAGE)),
        schemas.validator(topics.ARTICLES_RAW.schema_file),
    )
    assert isinstance(moved, Article) and moved.published_at == "2024-12-02T07:30:00Z"


def test_a_page_with_a_date_alone_keeps_a_date() -> None:
    assert published_at("2024-12-02T00:00:00") == "2024-12-02"  # htmldate's naive midnight
    assert published_at("2024-12-02T00:00:00+0000") == "2024-12-02T00:00:00+00:00"
    assert published_at("2024-12-02T09:15:00") == "2024-12-02T09:15:00"
    assert published_at(None) is None and published_at("soon") is None
