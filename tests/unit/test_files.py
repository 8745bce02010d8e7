from __future__ import annotations

from pathlib import Path

import orjson

from streams.sources.files import iter_inputs, parse_text_page, read_subscription_file
from tests.conftest import KENYA_PAGE, SAMPLES


def test_scraped_page_fields_are_recovered() -> None:
    page = parse_text_page(KENYA_PAGE.read_text())
    assert page["published_at"] == "2024-12-03"
    assert page["title"].startswith("Rights commission counts 91 abductions")
    assert not page["title"].endswith("]")
    assert page["author"] == "Achieng Otieno"
    assert page["text"].startswith("Young people in Nairobi")


def test_iter_inputs_reads_folders_jsonl_and_text(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "one"}\n\n{"text": "two"}\n')
    (tmp_path / "b.txt").write_text("Title line\n\nBody sentence one.\nBody sentence two.\n")
    (tmp_path / "ignored.csv").write_text("x")
    items = list(iter_inputs([tmp_path]))
    assert [(Path(s.topic).name, s.offset) for s, _ in items] == [
        ("a.jsonl", 1),
        ("a.jsonl", 3),
        ("b.txt", 1),
    ]
    assert orjson.loads(items[2][1])["title"] == "Title line"


def test_subscription_files_yaml_and_jsonl(tmp_path: Path) -> None:
    assert len(read_subscription_file(SAMPLES / "subscriptions.yaml")) >= 7
    path = tmp_path / "subs.jsonl"
    path.write_text('{"id": "a", "themes": ["riot"]}\n')
    assert read_subscription_file(path) == [{"id": "a", "themes": ["riot"]}]


def test_raw_key_is_shared_by_exact_copies_only() -> None:
    from streams.sources.files import raw_key

    one = raw_key(b'{"text": "Protest  in Paris."}')
    assert one is not None and one == raw_key(b'{"text": "protest in paris.", "id": "x"}')
    assert one != raw_key(b'{"text": "Riot in Paris."}')
    assert raw_key(b"not json") is None and raw_key(b'{"text": 1}') is None


def test_broken_subscription_files_are_reported_not_raised(tmp_path: Path) -> None:
    from streams.sources.files import load_subscriptions

    cases = {
        "a.yaml": "- id: [unclosed",
        "b.yaml": "id: not-a-list",
        "c.jsonl": "{",
        "d.yaml": "- id: ok\n  themes: [riot]\n- id: 'bad id'\n  themes: [riot]\n- 7\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        subs, errors = load_subscriptions(tmp_path / name)
        assert errors, name
    subs, errors = load_subscriptions(tmp_path / "d.yaml")
    assert [s.id for s in subs] == ["ok"] and len(errors) == 2
    assert load_subscriptions(tmp_path / "missing.yaml")[1]
