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
