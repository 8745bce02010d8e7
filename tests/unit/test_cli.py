"""The command line without a broker: one line that says what is wrong, exit code 2, and
everything local checked before anything connects (issue 22, items 2 and 4)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.cli import main
from tests.conftest import SAMPLES


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("TOCSIN_BROKER", address)
    monkeypatch.setenv("TOCSIN_FEEDS_FILE", str(tmp_path / "feeds.sqlite"))
    return address


COMMANDS = [
    ["ingest", str(SAMPLES / "articles.jsonl")],
    ["subscriptions", "add", "--theme", "abduction", "--country", "KE"],
    ["subscriptions", "list"],
    ["subscriptions", "load", str(SAMPLES / "subscriptions.yaml")],
    ["subscriptions", "rm", "sub-1"],
    ["dlq", "list", "--since", "yesterday"],
    ["dlq", "replay", "--stage", "validate"],
    ["dlq", "export", "--stage", "ingest"],
    ["alerts", "tail"],
    ["topics", "create"],
    ["feeds", "poll", "--once"],
    ["worker"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_without_a_broker_says_so_in_one_line(
    argv: list[str], no_broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    port = no_broker.rsplit(":", 1)[1]
    assert err == (
        f"tocsin: no Kafka broker answers at {no_broker} (TOCSIN_BROKER): start the local one "
        f"with `TOCSIN_KAFKA_PORT={port} tocsin kafka up`, or set TOCSIN_BROKER to your brokers\n"
    )


def test_local_mistakes_are_reported_before_connecting(
    no_broker: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["ingest", str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err == f"tocsin: no such file or folder: {tmp_path}/missing.jsonl\n"
    assert main(["subscriptions", "add", "--query", "theme:("]) == 2
    assert "position 6: expected a value after 'theme:'" in capsys.readouterr().err
    assert main(["dlq", "replay"]) == 2
    assert "needs --stage" in capsys.readouterr().err
    missing = tmp_path / "letters.jsonl"
    assert main(["dlq", "replay", "--from", str(missing)]) == 2
    assert capsys.readouterr().err == f"tocsin: {missing}: No such file or directory\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["dlq", "list", "--since", "yesterdy"],
            "argument --since: 'yesterdy' is not a time; use 30m, 2h, 7d, 1h30m",
        ),
        (
            ["dlq", "list", "--stage", "bogus"],
            "argument --stage: unknown stage 'bogus'; stages: ingest, validate, dedupe, "
            "extract, stories, story_copies, match, subscriptions, deliver",
        ),
        (["dlq", "replay", "--stage", "validat"], "unknown stage 'validat'"),
        (["dlq", "export", "--since", "2026-13-01"], "'2026-13-01' is not a time"),
    ],
)
def test_bad_dead_letter_filters_are_usage_errors(
    argv: list[str], message: str, no_broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
