"""Agent ``deliver``: alerts -> webhooks (instant), digests -> ``news.digests.v1`` and webhooks.

It reads ``news.alerts.v1`` and the tick topic as one co-partitioned stream (both keyed so a
subscription's alerts stay on one partition). An alert's offset is committed only after its
webhook POST succeeded or was dead-lettered, so a worker killed during retries redelivers the
same alert (same ``Tocsin-Delivery`` id) after its restart: at least once, never a second id.
A successful POST is marked in the table and flushed to its changelog at once, so an alert
redelivered after a crash (or re-emitted by match) is not POSTed a second time.
Retries run inline (the partition waits; scale by partitions, faust #606), bounded by
``TOCSIN_WEBHOOK_ATTEMPTS`` and the backoff cap, and a target whose circuit is open fails fast.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

from streams import codecs, metrics, topics, topology
from streams.agents import _runner
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import JsonState, sweep_due
from streams.delivery.webhook import (
    BreakerBoard,
    RetryPolicy,
    TargetPolicy,
    WebhookSender,
)
from streams.models import Rejected
from streams.pipeline import deliver as stage
from streams.pipeline.deliver import STAGE
from streams.pipeline.messages import Tick
from streams.settings import Settings

log = logging.getLogger(__name__)


def target_policy(settings: Settings) -> TargetPolicy:
    """Which addresses webhooks may reach (the operator's settings)."""
    return TargetPolicy(
        allow_private=settings.webhook_allow_private,
        allow_networks=tuple(ipaddress.ip_network(n) for n in settings.webhook_allow_networks),
    )


def make_sender(settings: Settings) -> WebhookSender:
    policy = target_policy(settings)
    retry = RetryPolicy(
        attempts=settings.webhook_attempts,
        cap_s=settings.webhook_backoff_cap,
        timeout_s=settings.webhook_timeout,
    )
    return WebhookSender(policy, retry, BreakerBoard())


class Deliver:
    """The shell of the deliver step: its tables, its agent and the tick timer."""

    steps = ("deliver",)

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.step = shell.flow.step("deliver")
        self.state = shell.table("deliver")
        # Delivery marks in a table of their own: a day of them would otherwise be scanned by
        # every digest tick.
        self.sent = shell.table("deliver-sent")
        self.ticks = topics.DELIVER_TICKS.full_name(shell.settings)
        shell.agents["deliver"] = shell.app.agent(shell.joint(*self.step.inputs), name="deliver")(
            self.deliver_alerts
        )
        shell.app.timer(interval=shell.settings.digest_tick)(self.send_ticks)

    async def _post(self, sender: WebhookSender, post: topology.Post, event: Any) -> None:
        """POST one message unless it was delivered before; after the last attempt it becomes
        a dead letter (replayable: the message in hand, or the tick the post carries)."""
        send = post.send
        sub = self.shell.registry.current.get(send.subscription_id)
        if sub is None or sub.webhook is None:  # deleted or changed since the step routed it
            return
        marks = JsonState(self.sent, event.message.partition)
        if stage.already_sent(marks, send.delivery_id):
            # A redelivery (the worker died after the POST, before its offset was committed).
            count(STAGE, "repeat_skipped")
            return
        result = await sender.deliver(
            sub.webhook.url,
            sub.webhook.secret,
            send.body,
            event=send.event,
            delivery_id=send.delivery_id,
        )
        if result.ok:
            stage.mark_sent(marks, send.delivery_id, time.time())
            # The mark goes to the changelog now, not at the next commit: a worker killed after
            # this POST then finds it on restart and does not POST again. What remains is the
            # moment between the receiver's answer and this flush (receivers dedupe by the
            # Tocsin-Delivery header for that).
            await self.shell.app.producer.flush()
            count(STAGE, "delivered")
            metrics.ALERTS_DELIVERED.labels("webhook").inc()
            return
        outcome = "refused" if result.permanent else "failed"
        metrics.ALERTS_FAILED.labels("webhook").inc()
        log.warning(
            "deliver: %s %s to subscription %s failed after %d attempt(s): %s",
            send.event,
            send.delivery_id,
            sub.id,
            result.attempts,
            result.error,
        )
        error = f"{send.event} {send.delivery_id}: {result.error} (attempts: {result.attempts})"
        # A failed digest is dead-lettered as a tick carrying it: replaying the letter to the
        # tick topic posts it again.
        replay = None if post.replay is None else (self.ticks, codecs.dumps(post.replay))
        await self.shell.dead_letter(
            STAGE, event, Rejected(f"webhook_{outcome}", error[:2000]), replay
        )

    async def deliver_alerts(self, stream: Any) -> None:
        shell = self.shell
        sender = make_sender(shell.settings)
        try:
            # Iterated at once, the subscriptions awaited per event (not before the loop): faust
            # hands a topic's records to an agent only once its stream is iterated, so records
            # fetched while this agent still waited would go only to any other reader of the
            # topic in the app, be committed by it, and never be delivered.
            async for event in stream.events():
                await shell.registry.ready.wait()  # an alert's subscription must be known
                async with shell.boundary(STAGE, event):
                    await self._handle(sender, event)
        finally:
            await sender.close()

    async def _handle(self, sender: WebhookSender, event: Any) -> None:
        """The declared step (``topology._deliver``) through the runner: digests sent, then
        posted, then marked delivered, in that order; alerts posted or collected."""
        partition = event.message.partition
        now = time.time()
        states = {"deliver": JsonState(self.state, partition)}

        async def post(out: topology.Post) -> None:
            await self._post(sender, out, event)

        await _runner.run(self.shell, self.step, event, states, now, post)
        if event.message.topic != self.ticks:
            count(STAGE, "alert")
        elif sweep_due(self.sent.name, partition, now):
            count(STAGE, "marks_swept", stage.forget_sent(JsonState(self.sent, partition), now))

    async def send_ticks(self) -> None:
        """One tick to each partition: closes digest windows when no alert comes along."""
        value = codecs.dumps(Tick(time.time()).to_dict())
        ticks = self.shell.topic(topics.DELIVER_TICKS)
        for partition in range(self.shell.settings.topic_partitions):
            await ticks.send(value=value, partition=partition)
