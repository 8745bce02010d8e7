from __future__ import annotations

import io

import pytest

from streams.sources.ingest import Progress, Summary


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    out = _Tty()
    progress = Progress(out, total_bytes=1000)
    progress.update(10, 2, 500, force=True)
    progress.close()
    assert "[###############...............]  50%" in out.getvalue()
    assert "10 inputs, 2 rejected" in out.getvalue()
    piped = io.StringIO()
    quiet = Progress(piped, total_bytes=1000)
    quiet.update(10, 2, 500, force=True)
    quiet.close()
    assert piped.getvalue() == ""


def test_summary_line() -> None:
    assert Summary(3, 0, 1.25).line("raw") == "sent 3, rejected 0 in 1.2s -> raw"
    assert "dead-letter topic" in Summary(3, 1, 1.0).line("raw")


def test_http_helpers() -> None:
    from streams.web.ingest import MAX_ITEMS, authorised, split_items

    assert authorised("Bearer s3cret", "s3cret")
    assert not authorised("Bearer wrong", "s3cret")
    assert not authorised("Basic s3cret", "s3cret") and not authorised(None, "s3cret")
    assert split_items(b'{"text": "a"}') == [{"text": "a"}]
    assert split_items(b'[{"text": "a"}, 5]') == [{"text": "a"}, 5]  # 5: rejected per item
    for bad in (b"[]", b"5", b"{oops", b"\xff", ("[" + ",".join(["{}"] * (MAX_ITEMS + 1)) + "]")):
        with pytest.raises(ValueError):
            split_items(bad if isinstance(bad, bytes) else bad.encode())


@pytest.mark.parametrize(
    "text",
    ["Protest  in Paris.", "Caption line\nPhoto: AFP\nBody one.\nRead more", "  é\u200b x \n\n y"],
)
def test_sources_key_raw_inputs_like_raw_key(text: str) -> None:
    """Sources key raw messages by the validated content hash: it must equal raw_key, so
    copies share a partition whichever way they were sent."""
    import orjson

    from streams import schemas, topics
    from streams.models import Article
    from streams.pipeline.validate import validate_article
    from streams.sources.files import raw_key

    payload = orjson.dumps({"text": text})
    article = validate_article(payload, schemas.validator(topics.ARTICLES_RAW.schema_file))
    assert isinstance(article, Article)
    assert raw_key(payload) == article.content_hash.encode()
