"""The ``tocsin`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
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


def _n(count: object, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_alert(alert: dict[str, Any]) -> str:
    matched = " ".join(f"{k}={','.join(v)}" for k, v in sorted(alert.get("matched", {}).items()))
    if alert.get("kind") == "update":
        # A later article or copy of a story already alerted: one quiet line.
        return (
            f"UPDATE [{_safe(alert.get('subscription_name'), 80)}] "
            f"{_safe(alert.get('title'), 120)} "
            f"(story now {_n(alert.get('source_count'), 'source')}, "
            f"{_n(alert.get('article_count'), 'article')}; revision {alert.get('revision')})"
        )
    return (
        f"ALERT [{_safe(alert.get('subscription_name'), 80)}] {_safe(alert.get('title'), 160)}\n"
        f"      tier={alert.get('tier') or '-'} confidence={alert.get('confidence')} "
        f"source={_safe(alert.get('source') or '-', 80)} "
        f"published={alert.get('published_at') or '-'} "
        f"{_safe(matched, 200)}\n"
        f"      {_safe(alert.get('url') or '', 300)}\n"
        f"      evidence: {_safe(alert.get('evidence') or '-', 300)}"
    )


# -- commands -----------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.errors import TopicsNotReady
    from streams.kafka_client import check_topics, ensure_topics

    settings = _settings()
    # Checked before faust starts: faust retries an unreachable broker forever, in a page of
    # tracebacks, and its clients' metadata requests would auto-create missing topics with the
    # broker's defaults (one partition) on brokers that allow it; the worker then crashed
    # later on co-partitioning, and the topics stayed wrong.
    if settings.create_topics:
        report = asyncio.run(ensure_topics(settings))
        for name in report.created:
            print(f"created {name}", file=sys.stderr)
        for fixed in report.fixed.values():
            for problem in fixed:
                print(f"fixed   {problem}", file=sys.stderr)
        problems = report.drift
    else:
        problems = asyncio.run(check_topics(settings))
    if problems:
        where = ",".join(settings.brokers)
        raise TopicsNotReady(topics.refusal(problems, where, worker=True))
    from streams.worker import run_worker

    run_worker(settings)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.kafka_client import ensure_topics

    settings = _settings()
    report = asyncio.run(ensure_topics(settings, add_partitions=args.add_partitions))
    keys = {spec.full_name(settings): spec for spec in topics.ALL}
    drifted: dict[str, list[topics.Drift]] = {}
    for problem in report.drift:
        drifted.setdefault(problem.topic, []).append(problem)
    for name in topics.wanted(settings):
        spec = keys.get(name)
        about = (
            f"key: {spec.key}{', compacted' if spec.compacted else ''}"
            if spec
            else "table changelog, compacted"
        )
        if name in report.created:
            print(f"created  {name}  ({about})")
        elif name in drifted or name in report.fixed:
            differs = "; ".join(str(p).removeprefix(name + " ") for p in drifted.get(name, []))
            done = "; ".join(str(p).removeprefix(name + " ") for p in report.fixed.get(name, []))
            state = "DIFFERS" if differs else "fixed"
            notes = [differs] if differs else []
            notes += [f"fixed: {done}"] if done else []
            print(f"{state:8} {name}  ({'; '.join(notes)})")
        else:
            print(f"ok       {name}  ({about})")
    if report.drift:
        print(
            f"tocsin: {len(drifted)} topics differ from what tocsin needs: "
            + topics.fix_for(report.drift, worker=False),
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from streams.sources.files import input_size, iter_inputs
    from streams.sources.ingest import Progress, ingest, print_summary

    settings = _settings()
    missing = [str(p) for p in args.paths if str(p) != "-" and not p.exists()]
    if missing:
        print(f"tocsin: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    progress = Progress(sys.stderr, input_size(args.paths), enabled=args.progress)
    summary = asyncio.run(ingest(settings, iter_inputs(args.paths), progress=progress))
    print_summary(summary, topics.ARTICLES_RAW.full_name(settings))
    return 1 if args.strict and summary.rejected else 0


def _stage(value: str) -> str:
    from streams import deadletters

    try:
        return deadletters.check_stage(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _selected(settings: Settings, args: argparse.Namespace) -> list[Any]:
    from streams import deadletters

    letters = asyncio.run(deadletters.read_letters(settings))
    return deadletters.select(letters, stage=args.stage, since=args.since)


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from streams import deadletters

    settings = _settings()
    letters = _selected(settings, args)
    shown = letters[-args.limit :] if args.limit else letters
    for letter in shown:
        print(codecs.dumps(letter.record).decode() if args.json else deadletters.describe(letter))
    if not args.json:
        by_stage: dict[str, int] = {}
        for letter in letters:
            stage = str(letter.record.get("stage"))
            by_stage[stage] = by_stage.get(stage, 0) + 1
        counts = ", ".join(f"{k} {v}" for k, v in sorted(by_stage.items())) or "none"
        print(f"{len(letters)} dead letters ({counts}) in {topics.DEADLETTER.full_name(settings)}")
    return 0


def cmd_dlq_export(args: argparse.Namespace) -> int:
    from streams import deadletters

    settings = _settings()
    if args.out is not None and args.out.exists() and not args.force:
        print(f"tocsin: {args.out} exists (use --force to overwrite)", file=sys.stderr)
        return 2
    letters = _selected(settings, args)
    lines = [codecs.dumps(deadletters.export_line(letter, settings)) + b"\n" for letter in letters]
    if args.out is None:
        sys.stdout.buffer.write(b"".join(lines))
        sys.stdout.flush()
    else:
        args.out.write_bytes(b"".join(lines))
    where = args.out or "standard output"
    print(
        f"exported {_n(len(letters), 'dead letter')} to {where}; fix each line's payload, "
        "delete the lines not to send, then: tocsin dlq replay --from FILE",
        file=sys.stderr,
    )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from streams import deadletters

    if args.from_file is not None:
        return _replay_file(args)
    if args.stage is None:
        print("tocsin: dlq replay needs --stage STAGE (or --from FILE)", file=sys.stderr)
        return 2
    settings = _settings()
    letters = _selected(settings, args)
    ready: list[tuple[Any, str | None]] = []
    held: list[tuple[Any, str | None]] = []
    for letter in letters:
        reason = None if args.force else deadletters.blocker(letter, settings)
        (ready if reason is None else held).append((letter, reason))
    for letter, reason in held:
        print(f"cannot succeed as it is: {deadletters.describe(letter, 60)}\n    {_safe(reason)}")
    if args.dry_run:
        for letter, _reason in ready:
            target = deadletters.replay_target(letter, settings)
            print(f"{target} <- {deadletters.describe(letter)}")
        print(f"would replay {_n(len(ready), 'dead letter')}" + _held_note(held, args))
        return 0
    items = [deadletters.outgoing(letter, settings) for letter, _reason in ready]
    sent = asyncio.run(deadletters.replay(settings, items)) if items else {}
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(sent.items())) or "nothing"
    print(
        f"replayed {_n(len(ready), 'dead letter')} of stage {args.stage}: {where}"
        + _held_note(held, args)
    )
    return 1 if held else 0


def _held_note(held: list[Any], args: argparse.Namespace) -> str:
    if not held:
        return ""
    since = f" --since {args.since_text}" if args.since_text else ""
    return (
        f"; held back {len(held)} that would only fail again the same way: "
        f"`tocsin dlq export --stage {args.stage}{since} --out letters.jsonl`, fix the "
        "payloads, then `tocsin dlq replay --from letters.jsonl` (--force sends them as they are)"
    )


def _replay_file(args: argparse.Namespace) -> int:
    """``dlq replay --from FILE``: every line checked first; those still failing are named and
    not sent."""
    from streams import deadletters

    settings = _settings()
    path: Path = args.from_file
    try:
        lines = sys.stdin.buffer.readlines() if str(path) == "-" else path.read_bytes().splitlines()
    except OSError as exc:
        print(f"tocsin: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    checked = list(deadletters.read_export(lines, settings, str(path)))
    items = [c for c in checked if isinstance(c, deadletters.Outgoing)]
    problems = [c for c in checked if isinstance(c, str)]
    for problem in problems:
        print(f"not sent: {_safe(problem, 600)}", file=sys.stderr)
    if args.dry_run:
        for item in items:
            print(f"{item.target} <- letter {item.letter} ({len(item.payload)} bytes)")
        print(f"would send {_n(len(items), 'fixed message')}, {len(problems)} not sendable")
        return 1 if problems else 0
    sent = asyncio.run(deadletters.replay(settings, items)) if items else {}
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(sent.items())) or "nothing"
    print(
        f"sent {_n(len(items), 'fixed message')} from {path}: {where}"
        + (f"; {len(problems)} lines not sent (above)" if problems else "")
    )
    return 1 if problems else 0


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from streams.sources.feeds import FeedStore

    settings = _settings()
    store = FeedStore(settings.feeds_file)
    try:
        feed = store.add(args.url, args.interval)
    except ValueError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"feed {feed.url} every {feed.interval:.0f}s (state in {settings.feeds_file})")
    return 0


def cmd_feeds_list(args: argparse.Namespace) -> int:
    from streams.sources.feeds import FeedStore

    settings = _settings()
    store = FeedStore(settings.feeds_file)
    try:
        for feed in store.all():
            due = max(feed.next_poll - time.time(), 0)
            print(
                f"{_safe(feed.url, 100)}  every {feed.interval:.0f}s  next in {due:.0f}s  "
                f"sent {store.sent_count(feed.url)}  {_safe(feed.last_status or 'never polled')}"
            )
    finally:
        store.close()
    return 0


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    from streams.sources.feeds import FeedStore

    store = FeedStore(_settings().feeds_file)
    try:
        removed = store.remove(args.url)
    finally:
        store.close()
    print(f"removed {args.url}" if removed else f"no feed {args.url}")
    return 0 if removed else 1


def cmd_feeds_poll(args: argparse.Namespace) -> int:
    import logging
    import signal

    from aiokafka import AIOKafkaProducer

    from streams.kafka_client import client_options, require_topics, start_client
    from streams.sources.feeds import FeedPoller, FeedStore, kafka_sink

    settings = _settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    topic = topics.ARTICLES_RAW.full_name(settings)

    async def poll() -> int:
        await require_topics(settings, [topic])
        store = FeedStore(settings.feeds_file)
        producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            max_request_size=2_000_000,
        )
        await start_client(producer)
        try:
            async with FeedPoller(
                store,
                kafka_sink(producer, topic),
                concurrency=settings.feeds_concurrency,
                host_delay=settings.feeds_host_delay,
            ) as poller:
                if args.once:
                    report = await poller.poll_once()
                    for error in report.errors:
                        print(f"error: {_safe(error)}", file=sys.stderr)
                    print(
                        f"polled {report.polled} feeds ({report.not_modified} not modified, "
                        f"{report.failed} failed), fetched {report.pages_fetched} pages, "
                        f"sent {report.sent} entries to {topic}"
                    )
                    return 1 if report.failed else 0
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await poller.run(stop)
                return 0
        finally:
            await producer.stop()
            store.close()

    return asyncio.run(poll())


def cmd_subscriptions_load(args: argparse.Namespace) -> int:
    from streams.kafka_client import produce
    from streams.sources.files import load_subscriptions

    settings = _settings()
    subs, errors = load_subscriptions(args.file)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 2
    records = [(s.id.encode(), codecs.dumps(s.to_dict())) for s in subs]
    sent = asyncio.run(produce(settings, topics.SUBSCRIPTIONS.full_name(settings), records))
    print(f"loaded {sent} subscriptions into {topics.SUBSCRIPTIONS.full_name(settings)}")
    return 0


def _current_subscriptions(settings: Settings) -> dict[str, dict[str, Any]]:
    from streams.kafka_client import read_compacted

    latest = asyncio.run(read_compacted(settings, topics.SUBSCRIPTIONS.full_name(settings)))
    out: dict[str, dict[str, Any]] = {}
    for key, value in latest.items():
        try:
            out[key.decode("utf-8", errors="replace")] = codecs.loads(value)
        except TocsinError:
            continue  # the workers dead-letter it; nothing to list
    return out


def cmd_subscriptions_add(args: argparse.Namespace) -> int:
    import secrets

    from streams import schemas
    from streams.kafka_client import produce
    from streams.models import Rejected
    from streams.pipeline.driver import now_rfc3339
    from streams.pipeline.match import parse_subscription
    from streams.pipeline.names import load_names

    settings = _settings()
    data: dict[str, Any] = {"id": args.id or "sub-" + secrets.token_hex(8)}
    for name in ("name", "owner", "query", "mode"):
        if getattr(args, name):
            data[name] = getattr(args, name)
    for facet, values in (
        ("themes", args.theme),
        ("countries", args.country),
        ("regions", args.region),
        ("actors", args.actor),
        ("sources", args.source),
        ("keywords", args.keyword),
    ):
        if values:
            data[facet] = sorted(set(values))
    if args.min_confidence is not None:
        data["min_confidence"] = args.min_confidence
    if args.rate_cap is not None:
        data["rate_cap"] = args.rate_cap
    secret_note = ""
    if args.webhook:
        # A secret on the command line would land in shell history: read it from a variable.
        secret = os.environ.get(args.secret_env or "", "") if args.secret_env else ""
        if not secret:
            secret = "whsec-" + secrets.token_hex(24)
            secret_note = f"webhook secret (shown once, keep it): {secret}"
        data["webhook"] = {"url": args.webhook, "secret": secret}
    data["created_at"] = data["updated_at"] = now_rfc3339()
    # Checked before the broker is asked anything: a typo is an error without a broker.
    recording = load_names(settings.themes_file, settings.actors_file).recording()
    validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
    parsed = parse_subscription(data, validator, recording)
    if isinstance(parsed, Rejected):
        print(f"tocsin: invalid subscription: {_safe(parsed.error, 2000)}", file=sys.stderr)
        return 2
    existing = _current_subscriptions(settings)
    if parsed.id in existing:
        if not args.replace:
            print(f"tocsin: subscription {parsed.id!r} exists (use --replace)", file=sys.stderr)
            return 1
        before = existing[parsed.id]
        if isinstance(before, dict) and isinstance(before.get("created_at"), str):
            parsed = replace(parsed, created_at=before["created_at"])
    record = [(parsed.id.encode(), codecs.dumps(parsed.to_dict()))]
    asyncio.run(produce(settings, topics.SUBSCRIPTIONS.full_name(settings), record))
    print(f"{'replaced' if parsed.id in existing else 'added'} {parsed.id}")
    for line in describe_resolved(recording.resolved):
        print(line)
    if secret_note:
        print(secret_note)
    return 0


def describe_resolved(resolved: dict[str, dict[str, str | None]]) -> list[str]:
    """One line per typed value that resolved to another (``None``: an actor the gazetteer
    lacks, matched as words of the article)."""
    singular = {"themes": "theme", "countries": "country", "regions": "region"}
    lines = []
    for facet, values in sorted(resolved.items()):
        for typed, value in sorted(values.items()):
            what = singular.get(facet, "actor")
            if value is None:
                lines.append(
                    f"  {what} {_safe(typed, 100)!r}: not in the gazetteer; matched as words "
                    "of the article (any case, hyphen or space)"
                )
            else:
                lines.append(f"  {what} {_safe(typed, 100)!r} -> {_safe(value, 200)}")
    return lines


def cmd_subscriptions_list(args: argparse.Namespace) -> int:
    subs = _current_subscriptions(_settings())
    for sub_id, data in sorted(subs.items()):
        if args.json:
            if isinstance(data, dict) and isinstance(data.get("webhook"), dict):
                data = {**data, "webhook": {**data["webhook"], "secret": "********"}}
            print(codecs.dumps(data).decode())
            continue
        if not isinstance(data, dict):
            continue
        facets = " ".join(
            f"{f}={','.join(map(str, data[f]))}"
            for f in ("themes", "countries", "regions", "actors", "sources", "keywords")
            if data.get(f)
        )
        query = f" query={data['query']!r}" if data.get("query") else ""
        hook = " webhook" if data.get("webhook") else ""
        print(
            _safe(
                f"{sub_id}  [{data.get('mode', 'instant')}{hook}] {data.get('name', '')}: "
                f"{facets}{query}",
                400,
            )
        )
    if not args.json:
        print(f"{len(subs)} subscription(s)", file=sys.stderr)
    return 0


def cmd_subscriptions_rm(args: argparse.Namespace) -> int:
    from streams.kafka_client import produce

    settings = _settings()
    existing = _current_subscriptions(settings)
    missing = [i for i in args.ids if i not in existing]
    if missing and not args.force:
        print(f"tocsin: no such subscription: {', '.join(missing)}", file=sys.stderr)
        return 1
    tombstones: list[tuple[bytes | None, bytes | None]] = [(i.encode(), None) for i in args.ids]
    asyncio.run(produce(settings, topics.SUBSCRIPTIONS.full_name(settings), tombstones))
    print(f"removed {', '.join(args.ids)}")
    return 0


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from streams.kafka_client import consume
    from streams.web.feed import Revisions

    settings = _settings()
    # A redelivered alert message (same id and revision) is shown once, as the dashboard does.
    revisions = Revisions()

    def waiting(topic: str) -> None:
        print(
            f"tocsin: waiting for topic {topic} to be created (`tocsin topics create`)",
            file=sys.stderr,
            flush=True,
        )

    async def tail() -> int:
        seen = 0
        async for record in consume(
            settings,
            topics.ALERTS.full_name(settings),
            from_beginning=args.from_beginning,
            timeout=args.timeout,
            on_wait=waiting,
        ):
            try:
                alert = codecs.loads(record.value)
            except TocsinError:
                continue  # not an alert tocsin wrote
            if not isinstance(alert, dict) or not (args.repeats or revisions.fresh(alert)):
                continue
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
    run = run_local(iter_inputs(args.input), subs, nlp, settings)
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
        value = getattr(settings, field)
        if field.endswith(("_token", "_password")) and value:
            value = "(set, hidden)"  # a secret does not belong on a terminal or in a log
        print(f"{env_name:26} = {value!s:28} (default {default}) {help_}")
    return 0


# -- parser -------------------------------------------------------------------------------


class _SinceAction(argparse.Action):
    """``--since``: parsed (and refused) while the arguments are read; the text is kept for
    messages that suggest a command."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        from streams import deadletters

        try:
            namespace.since = deadletters.parse_since(str(values))
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        namespace.since_text = str(values)


def _dlq_filters(q: argparse.ArgumentParser, stage_help: str) -> None:
    from streams.deadletters import SINCE_HELP

    q.add_argument("--stage", type=_stage, help=stage_help)
    q.add_argument("--since", action=_SinceAction, help=SINCE_HELP)
    q.set_defaults(since=None, since_text=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin", description="Real-time news-event alerting on Kafka and faust."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run the stream worker (faust)").set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "topics",
        help="create every topic (before starting workers); report and fix those that differ",
    )
    p.add_argument("action", choices=["create"])
    p.add_argument(
        "--add-partitions",
        action="store_true",
        help="also give topics with too few partitions the configured count (records already "
        "there keep their partition: for topics created by mistake, e.g. auto-created)",
    )
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser(
        "ingest", help="check and send JSONL files, text/HTML pages, folders or - (stdin)"
    )
    p.add_argument("paths", nargs="+", type=Path, help="files, folders, or - for JSONL on stdin")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress line on stderr (default: when stderr is a terminal)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when any input is rejected")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("feeds", help="RSS/Atom feeds: add, list, remove, poll")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("add", help="add a feed (or change its interval)")
    q.add_argument("url")
    q.add_argument("--interval", type=float, default=300.0, help="seconds between polls")
    q.set_defaults(func=cmd_feeds_add)
    q = s.add_parser("list", help="feeds, their state and how many entries were sent")
    q.set_defaults(func=cmd_feeds_list)
    q = s.add_parser("remove", help="remove a feed and its sent-entry state")
    q.add_argument("url")
    q.set_defaults(func=cmd_feeds_remove)
    q = s.add_parser("poll", help="poll due feeds and send new entries (until Ctrl-C)")
    q.add_argument("--once", action="store_true", help="one pass over the due feeds, then exit")
    q.set_defaults(func=cmd_feeds_poll)

    from streams.deadletters import STAGES

    p = sub.add_parser("dlq", help="dead letters: list, replay after a fix, export to fix by hand")
    s = p.add_subparsers(dest="action", required=True)
    stages = ", ".join(STAGES)
    q = s.add_parser("list", help="show dead letters (oldest first)")
    _dlq_filters(q, f"only this stage: {stages}")
    q.add_argument("--limit", type=int, default=0, help="only the last N")
    q.add_argument("--json", action="store_true", help="one dead letter per line, as JSON")
    q.set_defaults(func=cmd_dlq_list)
    q = s.add_parser(
        "replay",
        help="re-send the dead letters of a stage to their source topic (those that would "
        "only fail again are held back), or the fixed lines of an export file",
    )
    _dlq_filters(q, f"the stage to replay: {stages}")
    q.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE",
        help="send the lines of a `dlq export` file (payloads fixed by hand) instead",
    )
    q.add_argument("--dry-run", action="store_true", help="list what would be sent")
    q.add_argument(
        "--force", action="store_true", help="also send letters that look bound to fail again"
    )
    q.set_defaults(func=cmd_dlq_replay)
    q = s.add_parser(
        "export", help="write dead letters as editable JSON lines (for `replay --from`)"
    )
    _dlq_filters(q, f"only this stage: {stages}")
    q.add_argument("--out", type=Path, help="file to write (default: standard output)")
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.set_defaults(func=cmd_dlq_export)

    p = sub.add_parser("subscriptions", help="manage subscriptions")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("load", help="validate a YAML/JSONL file and publish its subscriptions")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_subscriptions_load)
    q = s.add_parser("add", help="add one subscription (facets AND query)")
    q.add_argument("--id", help="default: a random sub-<hex>")
    q.add_argument("--name")
    q.add_argument("--owner")
    q.add_argument("--query", help="e.g. 'theme:abduction AND country:KE AND NOT actor:\"X\"'")
    for flag, what in (
        ("theme", "an id or a synonym (kidnapping -> abduction)"),
        ("country", "ISO code or name"),
        ("region", "ISO 3166-2 code or name"),
        ("actor", "any name the gazetteer knows (JNIM), else matched as text"),
        ("source", "outlet name"),
        ("keyword", "word or phrase"),
    ):
        q.add_argument(f"--{flag}", action="append", help=f"{what}; repeatable, values ORed")
    q.add_argument("--min-confidence", type=float)
    q.add_argument("--mode", choices=["instant", "hourly", "daily"])
    q.add_argument("--rate-cap", type=int, help="instant webhook sends per hour (0: no cap)")
    q.add_argument("--webhook", help="URL to POST alerts to")
    q.add_argument(
        "--secret-env", help="environment variable holding the webhook secret (else generated)"
    )
    q.add_argument("--replace", action="store_true", help="overwrite an existing id")
    q.set_defaults(func=cmd_subscriptions_add)
    q = s.add_parser("list", help="list the current subscriptions (secrets hidden)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_subscriptions_list)
    q = s.add_parser("rm", help="delete subscriptions (tombstones on the compacted topic)")
    q.add_argument("ids", nargs="+")
    q.add_argument("--force", action="store_true", help="send tombstones even for unknown ids")
    q.set_defaults(func=cmd_subscriptions_rm)

    p = sub.add_parser("alerts", help="read alerts")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("tail", help="print alerts as they arrive (Ctrl-C to stop)")
    q.add_argument("--from-beginning", action="store_true")
    q.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    q.add_argument("--count", type=int, default=0, help="stop after this many alerts")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.add_argument(
        "--repeats",
        action="store_true",
        help="also print alert messages delivered again (same alert id and revision)",
    )
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
    """Run one command. Exit codes: 0 done; 2 bad arguments or settings, or no broker to talk
    to (one line, no traceback); 1 anything else the command refused or left out, and said."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except TocsinError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from streams.kafka_client import connection_problem

        problem = connection_problem(exc, _settings())
        if problem is None:
            raise
        print(f"tocsin: {problem}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
