"""The ``tocsin`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams import codecs, topics
from streams.errors import TocsinError
from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"


def _settings() -> Settings:
    return Settings.from_env()


def _safe(text: object, limit: int = 300) -> str:
    """Untrusted text for a terminal: no control characters (ANSI escapes), bounded length."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def format_alert(alert: dict[str, Any]) -> str:
    matched = " ".join(f"{k}={','.join(v)}" for k, v in sorted(alert.get("matched", {}).items()))
    return (
        f"ALERT [{_safe(alert.get('subscription_name'), 80)}] {_safe(alert.get('title'), 160)}\n"
        f"      source={_safe(alert.get('source') or '-', 80)} "
        f"published={alert.get('published_at') or '-'} "
        f"{_safe(matched, 200)}\n"
        f"      {_safe(alert.get('url') or '', 300)}\n"
        f"      evidence: {_safe(alert.get('evidence') or '-', 300)}"
    )


# -- commands -----------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker()
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.kafka_client import create_topics

    settings = _settings()
    created = asyncio.run(create_topics(settings))
    for spec in topics.ALL:
        name = spec.full_name(settings)
        state = "created" if name in created else "exists"
        print(f"{state:8} {name}  (key: {spec.key}{', compacted' if spec.compacted else ''})")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from streams.kafka_client import produce
    from streams.sources.files import iter_inputs, raw_key

    settings = _settings()
    started = time.monotonic()
    records = [(raw_key(payload), payload) for _source, payload in iter_inputs(args.paths)]
    sent = asyncio.run(produce(settings, topics.ARTICLES_RAW.full_name(settings), records))
    print(
        f"sent {sent} inputs to {topics.ARTICLES_RAW.full_name(settings)} "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def cmd_subscriptions_load(args: argparse.Namespace) -> int:
    from streams.kafka_client import produce
    from streams.sources.files import load_subscriptions

    settings = _settings()
    subs, errors = load_subscriptions(args.file)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 1
    records = [(s.id.encode(), codecs.dumps(s.to_dict())) for s in subs]
    sent = asyncio.run(produce(settings, topics.SUBSCRIPTIONS.full_name(settings), records))
    print(f"loaded {sent} subscriptions into {topics.SUBSCRIPTIONS.full_name(settings)}")
    return 0


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from streams.kafka_client import consume

    settings = _settings()

    async def tail() -> int:
        seen = 0
        async for record in consume(
            settings,
            topics.ALERTS.full_name(settings),
            from_beginning=args.from_beginning,
            timeout=args.timeout,
        ):
            alert = codecs.loads(record.value)
            print(codecs.dumps(alert).decode() if args.json else format_alert(alert), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break
        return seen

    try:
        seen = asyncio.run(tail())
    except KeyboardInterrupt:
        return 0
    if args.count and seen < args.count:
        print(f"only {seen} of {args.count} alerts before the timeout", file=sys.stderr)
        return 1
    return 0


def cmd_run_local(args: argparse.Namespace) -> int:
    from streams.models import Subscription
    from streams.nlp import build_nlp
    from streams.pipeline.driver import run_local
    from streams.sources.files import iter_inputs, load_subscriptions

    settings = _settings()
    subs: list[Subscription] = []
    if args.subscriptions:
        subs, errors = load_subscriptions(args.subscriptions)
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            return 1
    nlp = build_nlp(args.model or settings.nlp_model)
    started = time.monotonic()
    run = run_local(iter_inputs(args.input), subs, nlp)
    elapsed = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    for name, messages in run.outputs.items():
        with (args.out / f"{name}.jsonl").open("wb") as handle:
            for message in messages:
                handle.write(codecs.dumps(message) + b"\n")
    summary = ", ".join(f"{name} {len(m)}" for name, m in run.outputs.items())
    print(f"{summary} ({elapsed:.1f}s) -> {args.out}/")
    for alert in run.outputs["alerts"]:
        print(format_alert(alert))
    return 0


def format_record(record: dict[str, Any]) -> str:
    """An event record for a terminal: themes, places, actors, then every event with its
    evidence sentence (untrusted text made safe)."""
    places = ", ".join(
        f"{p['text']}={p['country']}" + (f"/{p['region']}" if p.get("region") else "")
        for p in record["places"]
    )
    lines = [
        f"ARTICLE {_safe(record['article_id'], 80)}  {_safe(record.get('title') or '', 160)}",
        f"  primary={record['primary_theme'] or '-'}  themes={','.join(record['themes']) or '-'}"
        f"  countries={','.join(record['countries']) or '-'}"
        f"  regions={','.join(record.get('regions', [])) or '-'}",
        f"  actors: {_safe(', '.join(record['actors']) or '-', 400)}",
        f"  places: {_safe(places or '-', 400)}",
        f"  model: {record['model']}",
    ]
    for event in record.get("events", []):
        marks = [m for m in ("negated", "hypothetical") if event[m]]
        where = ",".join(sorted({p["country"] for p in event["places"]})) or "-"
        lines.append(
            f"  - {event['theme']} [{_safe(event['trigger'], 60)}] conf={event['confidence']:.2f}"
            f"{' ' + ' '.join(m.upper() for m in marks) if marks else ''}"
            f"  actor={_safe(event['actor'] or '-', 80)}"
            f"  target={_safe(event['target'] or '-', 80)}"
            f"  where={where}"
        )
        lines.append(f'      "{_safe(event["sentence"], 300)}"')
    return "\n".join(lines)


def cmd_extract(args: argparse.Namespace) -> int:
    from streams import schemas
    from streams.models import Rejected
    from streams.nlp import build_nlp
    from streams.pipeline.extract import extract_batch
    from streams.pipeline.validate import validate_article
    from streams.sources.files import iter_inputs

    settings = _settings()
    if not args.file.exists():
        print(f"tocsin: {args.file}: no such file or folder", file=sys.stderr)
        return 2
    nlp = build_nlp(
        args.model or settings.nlp_model,
        settings.themes_file,
        settings.actors_file,
        settings.places_file,
    )
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    failed = 0
    for source, payload in iter_inputs([args.file]):
        article = validate_article(payload, validator)
        if isinstance(article, Rejected):
            print(f"REJECTED {source.topic}:{source.offset} {article.error_type}: {article.error}")
            failed += 1
            continue
        (result,) = extract_batch(nlp, [article])
        if isinstance(result, Rejected):
            print(f"FAILED {article.id} {result.error_type}: {_safe(result.error)}")
            failed += 1
            continue
        record = result.to_dict()
        print(codecs.dumps(record).decode() if args.json else format_record(record), flush=True)
    return 1 if failed else 0


def cmd_kafka(args: argparse.Namespace) -> int:
    command = [str(KAFKA_SCRIPT), args.action, "--nodes", str(args.nodes)]
    return subprocess.call(command, env=os.environ.copy())


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings()
    for env_name, default, help_ in Settings.describe():
        field = env_name.removeprefix("TOCSIN_").lower()
        print(f"{env_name:26} = {getattr(settings, field)!s:28} (default {default}) {help_}")
    return 0


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin", description="Real-time news-event alerting on Kafka and faust."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run the stream worker (faust)").set_defaults(func=cmd_worker)

    p = sub.add_parser("topics", help="create every topic (before starting workers)")
    p.add_argument("action", choices=["create"])
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("ingest", help="send JSONL files, text pages or folders to the raw topic")
    p.add_argument("paths", nargs="+", type=Path)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("subscriptions", help="manage subscriptions")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("load", help="validate a YAML/JSONL file and publish its subscriptions")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_subscriptions_load)

    p = sub.add_parser("alerts", help="read alerts")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("tail", help="print alerts as they arrive (Ctrl-C to stop)")
    q.add_argument("--from-beginning", action="store_true")
    q.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    q.add_argument("--count", type=int, default=0, help="stop after this many alerts")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=cmd_alerts_tail)

    p = sub.add_parser("run", help="run the pipeline in-process over files (no broker)")
    # Required: the Kafka job is `tocsin worker`; `run` names the in-process mode explicitly.
    p.add_argument("--local", action="store_true", required=True)
    p.add_argument("--input", nargs="+", type=Path, required=True)
    p.add_argument("--subscriptions", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", help="spaCy package or 'blank' (default: TOCSIN_NLP_MODEL)")
    p.set_defaults(func=cmd_run_local)

    p = sub.add_parser("extract", help="print the events of articles with their evidence")
    p.add_argument("file", type=Path, help="a text page, a JSONL file of articles or a folder")
    p.add_argument("--model", help="spaCy package or 'blank' (default: TOCSIN_NLP_MODEL)")
    p.add_argument("--json", action="store_true", help="one event record (JSON) per line")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("kafka", help="fetch/start/stop the local Kafka broker")
    p.add_argument("action", choices=["fetch", "up", "down", "status"])
    p.add_argument("--nodes", type=int, choices=[1, 3], default=1)
    p.set_defaults(func=cmd_kafka)

    sub.add_parser("config", help="show the effective settings").set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except TocsinError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
