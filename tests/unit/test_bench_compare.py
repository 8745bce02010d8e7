"""The pure parts of ``bench/compare.py``: the Reuters reader, the subscriptions it draws and
the CPU-by-stage split of a py-spy profile."""

from __future__ import annotations

from pathlib import Path

from bench.compare import CATCH_ALL, profile_shares, reuters, subscriptions

SGML = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TEXT>&#2;
<TITLE>BAHIA COCOA REVIEW</TITLE>
<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued throughout the week &amp;
the drought eased.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5545" NEWID="2">
<DATE>26-FEB-1987 15:02:20.00</DATE>
<TEXT TYPE="BRIEF">&#2;
<TITLE>NO BODY HERE</TITLE>
&#3;</TEXT>
</REUTERS>
"""


def test_reuters_reads_records_with_a_body(tmp_path: Path) -> None:
    folder = tmp_path / "reuters-21578"
    folder.mkdir()
    (folder / "reut2-000.sgm").write_bytes(SGML.encode("latin-1"))
    items = list(reuters(tmp_path))
    assert items == [
        {
            "id": "reuters-1",
            "title": "BAHIA COCOA REVIEW",
            "text": "Showers continued throughout the week &\nthe drought eased.",
            "published_at": "1987-02-26T15:01:01+00:00",
        }
    ]


def test_subscriptions_are_selective_queries_plus_a_catch_all() -> None:
    # More than the 200 commonest words, which the query generator leaves out.
    words = " ".join(f"word{i:03d}" for i in range(400))
    articles = [{"title": f"Protest {i}", "text": f"Arrested {i}. {words}"} for i in range(5)]
    subs = subscriptions(articles, 50)
    assert len(subs) == 51 and subs[-1] == CATCH_ALL
    assert len({s["id"] for s in subs}) == 51
    assert all("theme:" in s["query"] and "country:" in s["query"] for s in subs[:-1])


def test_profile_shares_split_by_agent_then_library(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        'process 1:"python -m streams.cli worker";_run (asyncio/events.py:80);'
        "dedupe_articles (/repo/streams/agents/dedupe.py:90);send (faust/topics.py:1) 7\n"
        'process 1:"python -m streams.cli worker";_run (asyncio/events.py:80);'
        "_sender_routine (aiokafka/producer/sender.py:167) 2\n"
        'process 2:"python -c from multiprocessing.spawn import spawn_main";'
        "spawn_main (multiprocessing/spawn.py:1);pipe (spacy/language.py:1) 5\n"
        'process 1:"python -m streams.cli worker";stop_and_shutdown (mode/worker.py:1) 9\n'
    )
    shares = profile_shares(raw)
    assert shares == {
        "agent dedupe.dedupe_articles": 7,
        "aiokafka: sending produce requests": 2,
        "extract: spaCy in the extraction processes": 5,
    }
