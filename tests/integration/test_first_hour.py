"""A user's first hour on the real broker, through the command line (issue 22): a broken
article's dead letter is held back by ``dlq replay``, exported, fixed by hand and sent back;
``alerts tail`` shows an alert revision delivered twice once. No worker is needed: ``tocsin
ingest`` writes the dead letters itself, and alerts are produced to the topic directly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import codecs, topics
from streams.deadletters import REPLAY_HEADER
from streams.kafka_client import consume, produce
from streams.sources.files import raw_key
from tests.integration.conftest import Namespace
from tests.integration.test_ingestion import cli

pytestmark = pytest.mark.integration


def test_an_ingest_dead_letter_is_held_back_then_fixed_and_sent(
    namespace: Namespace, tmp_path: Path
) -> None:
    inputs = tmp_path / "mine.jsonl"
    good = {"id": "fh-good", "text": "Police arrested two men in Lyon, France, on Monday."}
    inputs.write_bytes(codecs.dumps(good) + b"\n" + b'{"id": "fh-broken", "text": 5}\n')
    result = cli(namespace, "ingest", str(inputs))
    assert result.returncode == 0 and "sent 1, rejected 1" in result.stdout, result

    # Replaying it as it is would only fail the same way: held back, and the way out named.
    replay = cli(namespace, "dlq", "replay", "--stage", "ingest", "--since", "1h")
    assert replay.returncode == 1, replay
    assert "cannot succeed as it is" in replay.stdout
    assert "schema_violation: text: 5 is not of type 'string'" in replay.stdout
    assert "replayed 0 dead letters of stage ingest: nothing; held back 1" in replay.stdout
    assert "tocsin dlq export --stage ingest --since 1h --out letters.jsonl" in replay.stdout

    exported = tmp_path / "letters.jsonl"
    export = cli(namespace, "dlq", "export", "--stage", "ingest", "--out", str(exported))
    assert export.returncode == 0 and "exported 1 dead letter" in export.stderr, export
    (line,) = [orjson.loads(x) for x in exported.read_bytes().splitlines()]
    assert line["payload"] == {"id": "fh-broken", "text": 5}
    assert line["target"] == namespace.name(topics.ARTICLES_RAW)

    line["payload"]["text"] = "Gunmen abducted a lawyer in Mombasa, Kenya, on Tuesday."
    exported.write_bytes(codecs.dumps(line) + b"\n")
    sent = cli(namespace, "dlq", "replay", "--from", str(exported))
    assert sent.returncode == 0, sent
    assert f"sent 1 fixed message from {exported}: 1 to {line['target']}" in sent.stdout

    async def replayed() -> list[Any]:
        return [
            r
            async for r in consume(namespace.settings, line["target"], idle_timeout=2, timeout=30)
            if any(h[0] == REPLAY_HEADER for h in (r.headers or ()))
        ]

    (record,) = asyncio.run(replayed())
    assert orjson.loads(record.value) == line["payload"]
    assert dict(record.headers)[REPLAY_HEADER] == line["letter"].encode()
    assert record.key == raw_key(record.value)  # keyed by content, as `tocsin ingest` does


def alert(alert_id: str, revision: int) -> tuple[bytes, bytes]:
    value = {
        "alert_id": alert_id,
        "revision": revision,
        "kind": "new" if revision == 1 else "update",
        "subscription_id": "fh",
        "subscription_name": "First hour",
        "title": f"{alert_id} r{revision}",
    }
    return b"fh", codecs.dumps(value)  # one key: one partition, this order


def test_alerts_tail_shows_a_redelivered_revision_once(namespace: Namespace) -> None:
    records = [alert("al-a", 1), alert("al-a", 1), alert("al-a", 2), alert("al-a", 1)]
    records.append(alert("al-b", 1))
    asyncio.run(produce(namespace.settings, namespace.name(topics.ALERTS), records))

    def tail(*extra: str) -> list[tuple[str, int]]:
        result = cli(namespace, "alerts", "tail", "--from-beginning", "--json", *extra)
        assert result.returncode == 0, result
        return [
            (a["alert_id"], a["revision"]) for a in map(orjson.loads, result.stdout.splitlines())
        ]

    # --count stops at the third line printed: a repeat among them would push al-b out.
    assert tail("--count", "3", "--timeout", "30") == [("al-a", 1), ("al-a", 2), ("al-b", 1)]
    everything = tail("--repeats", "--count", "5", "--timeout", "30")
    assert everything == [("al-a", 1), ("al-a", 1), ("al-a", 2), ("al-a", 1), ("al-b", 1)]
