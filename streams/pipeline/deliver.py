"""Stage ``deliver``: which alerts leave now, which wait for a digest, and when digests close.

Pure decisions over a ``MutableMapping`` state (on Kafka a table on the partitions of
``news.alerts.v1``, whose key is the subscription id, so one subscription's state lives on one
partition). The shell does the HTTP (``streams/delivery/webhook.py``).

- ``instant`` subscriptions: every alert message (new and update) is sent at once, unless the
  subscription's ``rate_cap`` (sends per rolling hour) is reached: then it waits for the next
  hourly digest instead of being dropped.
- ``hourly`` / ``daily`` subscriptions: alerts collect in the current UTC hour/day window; when
  the window has closed, one digest message carries them (the newest revision of each alert).

State keys: ``digest:<scope>:<subscription id>`` -> the open window; ``rate:<subscription
id>`` -> the times of the sends in the last hour; ``sent:<delivery id>`` -> when that message
was POSTed successfully (a redelivered alert is not POSTed twice). ``scope`` is the
partition the shell is working on: a faust table writes a key to the changelog partition of
the event being processed, so a tick on partition 3 may only close the digests that partition
3 opened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from streams import codecs
from streams.models import Subscription
from streams.pipeline.stories import rfc3339

STAGE = "deliver"
HOUR, DAY = 3600.0, 86400.0
DIGEST_MAX = 100  # alerts carried in one digest; the rest are counted, not listed
RATE_WINDOW = HOUR
EventType = Literal["alert.created", "alert.updated", "digest"]


@dataclass(frozen=True)
class Send:
    """One webhook POST to make now."""

    subscription_id: str
    event: EventType
    delivery_id: str  # idempotency key: the same message always has the same id
    body: bytes


@dataclass(frozen=True)
class Digest:
    """One closed window of a subscription's alerts (``news.digests.v1``)."""

    digest_id: str
    subscription_id: str
    subscription_name: str
    mode: Literal["hourly", "daily"]
    window_start: str
    window_end: str
    alert_count: int
    alerts: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest_id": self.digest_id,
            "subscription_id": self.subscription_id,
            "subscription_name": self.subscription_name,
            "mode": self.mode,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "alert_count": self.alert_count,
            "omitted": self.alert_count - len(self.alerts),
            "alerts": list(self.alerts),
        }


def window(mode: str, now: float) -> tuple[float, float]:
    """The UTC hour or day containing ``now``: [start, end)."""
    size = DAY if mode == "daily" else HOUR
    start = now - now % size
    return start, start + size


def envelope(event: EventType, data: Mapping[str, Any]) -> bytes:
    """The webhook body: ``{"type": ..., "data": ...}`` (docs/webhooks.md)."""
    return codecs.dumps({"type": event, "data": data})


def send_for(alert: Mapping[str, Any]) -> Send:
    event: EventType = "alert.created" if alert.get("kind") == "new" else "alert.updated"
    return Send(
        subscription_id=str(alert["subscription_id"]),
        event=event,
        delivery_id=f"{alert['alert_id']}.{alert.get('revision', 1)}",
        body=envelope(event, alert),
    )


def route(
    alert: Mapping[str, Any],
    sub: Subscription | None,
    state: MutableMapping[str, Any],
    now: float,
    scope: str = "0",
) -> list[Send]:
    """What to POST now for one alert; digest-bound alerts go into the state instead.

    An alert of a deleted subscription, or of one without a webhook in instant mode, needs
    nothing beyond the alerts topic it is already on.
    """
    if sub is None:
        return []
    if sub.mode in ("hourly", "daily"):
        _collect(state, scope, sub, sub.mode, alert, now)
        return []
    if sub.webhook is None:
        return []
    if sub.rate_cap:
        key = f"rate:{sub.id}"
        recent = [t for t in state.get(key) or [] if t > now - RATE_WINDOW]
        if len(recent) >= sub.rate_cap:
            # Over the cap: the alert waits for the hourly digest rather than being lost.
            _collect(state, scope, sub, "hourly", alert, now)
            state[key] = recent
            return []
        state[key] = [*recent, now]
    return [send_for(alert)]


def _collect(
    state: MutableMapping[str, Any],
    scope: str,
    sub: Subscription,
    mode: str,
    alert: Mapping[str, Any],
    now: float,
) -> None:
    key = f"digest:{scope}:{sub.id}"
    current = state.get(key)
    if current is None:
        start, end = window(mode, now)
        current = {"mode": mode, "start": start, "end": end, "count": 0, "alerts": []}
    alerts = [a for a in current["alerts"] if a.get("alert_id") != alert.get("alert_id")]
    replaced = len(alerts) < len(current["alerts"])
    alerts.append(dict(alert))
    current = {
        **current,
        "name": sub.name,
        # A newer revision of an alert already in the digest replaces it, not adds to it.
        "count": current["count"] + (0 if replaced else 1),
        "alerts": alerts[-DIGEST_MAX:],
    }
    state[key] = current


def due(state: MutableMapping[str, Any], now: float, scope: str = "0") -> list[Digest]:
    """Digests of ``scope`` whose window has closed. They stay in the state until the caller
    has delivered them and called :func:`delivered`: a worker that dies in between finds them
    again when the tick is redelivered (the same digest id; a POST made already is marked)."""
    prefix = f"digest:{scope}:"
    closed = [
        (key, value)
        for key, value in list(state.items())
        if key.startswith(prefix) and value and value["end"] <= now
    ]
    out = []
    for key, value in sorted(closed):
        sub_id = key[len(prefix) :]
        start, end = rfc3339(value["start"]), rfc3339(value["end"])
        digest_id = "dg-" + hashlib.sha256(codecs.dumps([sub_id, start])).hexdigest()[:32]
        out.append(
            Digest(
                digest_id=digest_id,
                subscription_id=sub_id,
                subscription_name=str(value.get("name") or sub_id),
                mode=value["mode"],
                window_start=start,
                window_end=end,
                alert_count=int(value["count"]),
                alerts=tuple(value["alerts"]),
            )
        )
    return out


def delivered(state: MutableMapping[str, Any], digest: Digest, scope: str = "0") -> None:
    """Forget a digest's window once it went out (see :func:`due`)."""
    state.pop(f"digest:{scope}:{digest.subscription_id}", None)


# How long a delivery is remembered: a redelivery after a crash or rebalance comes within
# minutes; a day covers a worker that was down for hours too.
SENT_KEEP = DAY


def already_sent(state: Mapping[str, Any], delivery_id: str) -> bool:
    """True if this message was POSTed successfully before (a redelivered alert or tick)."""
    return state.get("sent:" + delivery_id) is not None


def mark_sent(state: MutableMapping[str, Any], delivery_id: str, now: float) -> None:
    """Remember a successful POST, so a redelivery of its alert is not POSTed again."""
    state["sent:" + delivery_id] = now


def forget_sent(state: MutableMapping[str, Any], now: float, keep_s: float = SENT_KEEP) -> int:
    """Drop delivery marks older than ``keep_s``; returns how many."""
    old = [
        key
        for key, value in list(state.items())
        if key.startswith("sent:") and isinstance(value, (int, float)) and now - value > keep_s
    ]
    for key in old:
        del state[key]
    return len(old)


def digest_send(digest: Digest) -> Send:
    return Send(
        subscription_id=digest.subscription_id,
        event="digest",
        delivery_id=digest.digest_id,
        body=envelope("digest", digest.to_dict()),
    )
