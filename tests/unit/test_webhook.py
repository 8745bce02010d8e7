"""Webhook delivery against a real HTTP receiver on 127.0.0.1 (no mocks of the network)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.delivery.webhook import (
    CIRCUIT_OPEN,
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_RESPONSE_BYTES,
    SIGNATURE_HEADER,
    AddressRefused,
    BreakerBoard,
    CircuitBreaker,
    GuardedResolver,
    RetryPolicy,
    TargetPolicy,
    WebhookSender,
    check_url,
    parse_networks,
    sign,
    target_key,
    verify,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec-test-1"
BODY = json.dumps({"type": "alert.created", "data": {"alert_id": "al-" + "0" * 32}}).encode()
LOCAL = TargetPolicy(allow_networks=parse_networks("127.0.0.0/8"))
HUGE_TOTAL = 1 << 30  # what /huge would send if nobody hung up: 1 GiB

# --------------------------------------------------------------------------------------------
# The receiver


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


@dataclass
class Receiver:
    """A webhook endpoint: records every request and checks its signature like a subscriber.

    ``plans[path]`` lists (status, headers) answers to give first, then ``always`` applies.
    """

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    plans: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    always: dict[str, tuple[int, dict[str, str]]] = field(
        default_factory=lambda: {
            "/missing": (404, {}),
            "/down": (500, {}),
            "/moved": (302, {"Location": "/ok"}),
        }
    )
    huge_sent: int = 0
    huge_cut: asyncio.Event = field(default_factory=asyncio.Event)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER, "")
        ok = verify(SECRET, header, body, now=time.time())
        self.seen.append(Seen(request.path, dict(request.headers), body, ok))
        if request.path == "/huge":
            return await self._huge(request)
        if request.path == "/slow":
            await asyncio.sleep(5)
        plan = self.plans.get(request.path)
        status, headers = plan.pop(0) if plan else self.always.get(request.path, (200, {}))
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "nope")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while self.huge_sent < HUGE_TOTAL:
                await response.write(chunk)
                self.huge_sent += len(chunk)
        except ConnectionError:
            pass
        finally:
            if self.huge_sent < HUGE_TOTAL:
                self.huge_cut.set()
        return response


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    rec.port = server.port
    yield rec
    await server.close()


@dataclass
class Harness:
    sender: WebhookSender
    sleeps: list[float]
    attempts: list[tuple[str, int, str]]


MakeSender = Callable[..., Harness]


@pytest.fixture
async def make_sender() -> AsyncIterator[MakeSender]:
    """Senders with a recorded no-op sleep, a seeded rng and an attempt log; closed after."""
    made: list[WebhookSender] = []

    def make(
        policy: TargetPolicy = LOCAL,
        retry: RetryPolicy | None = None,
        board: BreakerBoard | None = None,
        **kwargs: Any,
    ) -> Harness:
        sleeps: list[float] = []
        attempts: list[tuple[str, int, str]] = []

        async def no_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        sender = WebhookSender(
            policy,
            retry or RetryPolicy(attempts=4, timeout_s=5.0),
            board if board is not None else BreakerBoard(),
            rng=random.Random(7),
            sleep=no_sleep,
            on_attempt=lambda host, n, outcome: attempts.append((host, n, outcome)),
            **kwargs,
        )
        made.append(sender)
        return Harness(sender, sleeps, attempts)

    yield make
    for sender in made:
        await sender.close()


async def send(harness: Harness, url: str, delivery_id: str = "d-1") -> Any:
    return await harness.sender.deliver(
        url, SECRET, BODY, event="alert.created", delivery_id=delivery_id
    )


# --------------------------------------------------------------------------------------------
# Signing


def test_sign_format_and_value() -> None:
    header = sign(SECRET, 1_764_331_200, BODY)
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match and match.group(1) == "1764331200"
    expected = hmac.new(SECRET.encode(), b"1764331200." + BODY, hashlib.sha256).hexdigest()
    assert match.group(2) == expected


def test_verify_rejects_tampering_wrong_secret_and_bad_times() -> None:
    t = 1_764_331_200
    header = sign(SECRET, t, BODY)
    assert verify(SECRET, header, BODY, now=t)
    assert verify(SECRET, header, BODY, now=t + 300)  # the edge of the tolerance
    assert not verify(SECRET, header, BODY + b" ", now=t)  # tampered body
    assert not verify(SECRET, header, BODY.replace(b"created", b"updated"), now=t)
    assert not verify("another-secret", header, BODY, now=t)
    assert not verify(SECRET, header, BODY, now=t + 301)  # stale
    assert not verify(SECRET, header, BODY, now=t - 301)  # from the future
    assert verify(SECRET, header, BODY, now=t + 3600, tolerance_s=3600)
    mac = header.split("v1=")[1]
    for bad in (
        "",
        "garbage",
        f"v1={mac}",  # no timestamp
        f"t={t}",  # no signature
        f"t={t},t={t},v1={mac}",  # ambiguous timestamp
        f"t=१७६४३३१२००,v1={mac}",  # non-ASCII digits
        f"t={t},v1={mac.upper()}",
        f"t={t},v0={mac}",  # unknown scheme only
        f"t={t},v1={mac}," + "x" * 5000,
    ):
        assert not verify(SECRET, bad, BODY, now=t), bad
    # Spaces and unknown extra schemes are tolerated.
    assert verify(SECRET, f"t={t}, v2=abc, v1={mac}", BODY, now=t)


def test_verify_accepts_any_entry_during_a_secret_rotation() -> None:
    t = 1_764_331_200
    both = sign(["new-secret", "old-secret"], t, BODY)
    assert both.count("v1=") == 2
    assert verify("old-secret", both, BODY, now=t)
    assert verify("new-secret", both, BODY, now=t)
    assert not verify("third-secret", both, BODY, now=t)
    # The receiver's side of a rotation: it holds both secrets, tocsin signs with one.
    assert verify(["old-secret", "new-secret"], sign("new-secret", t, BODY), BODY, now=t)
    with pytest.raises(ValueError):
        sign("", t, BODY)
    with pytest.raises(ValueError):
        sign([], t, BODY)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(min_size=1, max_size=40),
    t=st.integers(min_value=0, max_value=2**40),
    body=st.binary(max_size=300),
    flip=st.integers(min_value=0),
)
def test_verify_round_trips_and_any_flipped_bit_fails(
    secret: str, t: int, body: bytes, flip: int
) -> None:
    header = sign(secret, t, body)
    assert verify(secret, header, body, now=t)
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
        assert not verify(secret, header, tampered, now=t)


# --------------------------------------------------------------------------------------------
# Address guard

PUBLIC = ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("100.64.0.1", "shared address space"),
        ("100.127.255.254", "shared address space"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("::127.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    refusal = TargetPolicy().refusal(ip)
    assert refusal is not None and refusal.startswith(reason), refusal
    assert not TargetPolicy().allowed(ip)
    # allow_private opens all but what is never a unicast target.
    never = reason in ("unspecified", "multicast")
    assert TargetPolicy(allow_private=True).allowed(ip) is not never


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert TargetPolicy().allowed(ipaddress.ip_address(address))


def test_allow_networks_opens_exactly_those_networks() -> None:
    policy = TargetPolicy(allow_networks=parse_networks("127.0.0.0/8, 10.20.0.0/16,fd00:1::/64"))
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "10.20.3.4", "fd00:1::5"):
        assert policy.allowed(ipaddress.ip_address(address)), address
    for address in ("::1", "10.21.0.1", "192.168.1.1", "fd00:2::5", "169.254.169.254"):
        assert not policy.allowed(ipaddress.ip_address(address)), address
    assert parse_networks("") == ()
    assert parse_networks("192.168.1.10") == (ipaddress.ip_network("192.168.1.10/32"),)
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://hooks.example.com/tocsin", None),
        ("http://hooks.example.com:8080/x?y=1", None),
        ("https://93.184.215.14:8443/", None),
        ("ftp://hooks.example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "scheme"),
        ("/relative/path", "scheme"),
        ("http://user:pw@hooks.example.com/", "credentials"),
        ("http://user@hooks.example.com/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://hooks.example.com/" + "a" * 2048, "longer than 2048"),
        ("http://hooks.example.com:99999/", "malformed"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        # Numeric forms the socket layer would map onto 127.0.0.1.
        ("http://2130706433/", "canonical"),
        ("http://127.1/", "canonical"),
        ("http://0177.0.0.1/", "canonical"),
        ("http://127.0.0.1./", "canonical"),
    ],
)
def test_check_url(url: str, reason: str | None) -> None:
    refusal = check_url(url, TargetPolicy())
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal, refusal


class FixedResolver(AbstractResolver):
    """A DNS answer chosen by the test (as a rebinding attacker would choose it)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=0, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_guarded_resolver_keeps_only_allowed_addresses() -> None:
    mixed = GuardedResolver(TargetPolicy(), FixedResolver("10.0.0.5", "93.184.215.14", "::1"))
    answers = await mixed.resolve("rebind.example", 443)
    assert [a["host"] for a in answers] == ["93.184.215.14"]
    inside = GuardedResolver(TargetPolicy(), FixedResolver("169.254.169.254", "fd00::1"))
    with pytest.raises(AddressRefused, match=r"rebind\.example .*169\.254\.169\.254 \(link-local"):
        await inside.resolve("rebind.example", 443)
    opened = GuardedResolver(TargetPolicy(allow_private=True), FixedResolver("10.0.0.5"))
    assert len(await opened.resolve("internal.example", 80)) == 1


# --------------------------------------------------------------------------------------------
# Delivery


async def test_delivers_a_signed_post_the_receiver_verifies(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    h = make_sender()
    result = await send(h, f"http://127.0.0.1:{receiver.port}/hook?sub=1", "al-1:created")
    assert (result.ok, result.attempts, result.status, result.error, result.permanent) == (
        True,
        1,
        200,
        None,
        False,
    )
    [seen] = receiver.seen
    assert seen.path == "/hook" and seen.body == BODY and seen.signature_ok
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "tocsin-webhook/1"
    assert seen.headers[EVENT_HEADER] == "alert.created"
    assert seen.headers[DELIVERY_HEADER] == "al-1:created"
    assert h.attempts == [("127.0.0.1", 1, "ok")]


async def test_retries_5xx_then_succeeds_resigning_every_attempt(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver.plans["/flaky"] = [(500, {}), (503, {}), (502, {})]
    ticks = iter(range(1000))
    retry = RetryPolicy(attempts=6, base_s=0.5, cap_s=30.0)
    h = make_sender(retry=retry, clock=lambda: time.time() + next(ticks))
    result = await send(h, f"http://127.0.0.1:{receiver.port}/flaky")
    assert result.ok and result.attempts == 4 and result.status == 200
    assert len(receiver.seen) == 4 and all(s.signature_ok for s in receiver.seen)
    assert {s.headers[DELIVERY_HEADER] for s in receiver.seen} == {"d-1"}
    stamps = [s.headers[SIGNATURE_HEADER].split(",")[0] for s in receiver.seen]
    assert len(set(stamps)) == 4  # a fresh timestamp (and signature) per attempt
    assert len(h.sleeps) == 3
    for n, wait in enumerate(h.sleeps):
        assert 0 <= wait <= 0.5 * 2**n
    assert [o for _, _, o in h.attempts] == ["server_error"] * 3 + ["ok"]


async def test_honours_a_numeric_retry_after_up_to_the_cap(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    receiver.plans["/busy"] = [
        (429, {"Retry-After": "7"}),
        (503, {"Retry-After": "120"}),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        (408, {}),
    ]
    h = make_sender(retry=RetryPolicy(attempts=6, base_s=0.5, cap_s=30.0))
    result = await send(h, f"http://127.0.0.1:{receiver.port}/busy")
    assert result.ok and result.attempts == 5
    assert h.sleeps[:2] == [7.0, 30.0]
    # An HTTP-date Retry-After and a 408 fall back to the jittered backoff.
    assert 0 <= h.sleeps[2] <= 2.0 and 0 <= h.sleeps[3] <= 4.0
    assert [o for _, _, o in h.attempts][:2] == ["throttled", "server_error"]


async def test_404_is_permanent_and_not_retried(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    h = make_sender()
    result = await send(h, f"http://127.0.0.1:{receiver.port}/missing")
    assert not result.ok and result.permanent
    assert (result.attempts, result.status, result.error) == (1, 404, "HTTP 404: nope")
    assert receiver.paths() == ["/missing"] and h.sleeps == []


async def test_redirect_is_not_followed(receiver: Receiver, make_sender: MakeSender) -> None:
    h = make_sender()
    result = await send(h, f"http://127.0.0.1:{receiver.port}/moved")
    assert not result.ok and result.permanent and result.status == 302
    assert result.error is not None and "redirect not followed" in result.error
    assert receiver.paths() == ["/moved"]  # /ok, the Location, was never requested


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_connection_refused_is_retried_then_given_up(make_sender: MakeSender) -> None:
    h = make_sender(retry=RetryPolicy(attempts=3))
    result = await send(h, f"http://127.0.0.1:{free_port()}/")
    assert not result.ok and not result.permanent
    assert result.attempts == 3 and result.status is None
    assert result.error is not None and result.error.startswith("gave up after 3 attempts")
    assert len(h.sleeps) == 2
    assert [o for _, _, o in h.attempts] == ["connect_error"] * 3


async def test_timeout_is_retried(receiver: Receiver, make_sender: MakeSender) -> None:
    h = make_sender(retry=RetryPolicy(attempts=2, timeout_s=0.2))
    result = await send(h, f"http://127.0.0.1:{receiver.port}/slow")
    assert not result.ok and not result.permanent and result.attempts == 2
    assert "timed out" in (result.error or "")
    assert [o for _, _, o in h.attempts] == ["timeout", "timeout"]


async def test_a_huge_response_is_cut_after_64_kib(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    h = make_sender(retry=RetryPolicy(attempts=1, timeout_s=20.0))
    started = time.monotonic()
    result = await send(h, f"http://127.0.0.1:{receiver.port}/huge")
    assert result.ok and result.status == 200
    # Reading all of it would take until the timeout; the receiver sees the hang-up at once.
    assert time.monotonic() - started < 5
    await asyncio.wait_for(receiver.huge_cut.wait(), 10)
    assert MAX_RESPONSE_BYTES <= receiver.huge_sent < HUGE_TOTAL


async def test_breaker_opens_fails_fast_and_half_opens(
    receiver: Receiver, make_sender: MakeSender
) -> None:
    now = [1000.0]
    board = BreakerBoard(failure_threshold=3, reset_after_s=60.0, clock=lambda: now[0])
    h = make_sender(retry=RetryPolicy(attempts=6), board=board)
    base = f"http://127.0.0.1:{receiver.port}"
    first = await send(h, f"{base}/down")
    assert (first.ok, first.attempts, first.status, first.error) == (False, 3, 500, CIRCUIT_OPEN)
    assert not first.permanent
    assert board.get(target_key(base)).state == "open"
    second = await send(h, f"{base}/ok")  # same target: fails fast, nothing sent
    assert (second.ok, second.attempts, second.error) == (False, 0, CIRCUIT_OPEN)
    assert receiver.paths() == ["/down"] * 3
    assert h.attempts[-1] == ("127.0.0.1", 1, "circuit_open")
    now[0] += 60.0  # half-open: one trial, which succeeds and closes the breaker
    third = await send(h, f"{base}/ok")
    assert third.ok and third.attempts == 1
    assert board.get(target_key(base)).state == "closed"


def test_breaker_half_open_allows_one_trial_and_reopens_on_failure() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10.0, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_success()  # a success resets the count of consecutive failures
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 9.9
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()
    now[0] = 30.0  # a trial that never reported lapses after reset_after_s
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_breaker_board_is_one_per_target_and_bounded() -> None:
    board = BreakerBoard(max_size=3)
    keys = [target_key(u) for u in ("http://a.example/x", "https://a.example/", "http://b:81/")]
    assert keys == ["http://a.example:80", "https://a.example:443", "http://b:81"]
    assert target_key("http://A.Example:80/y?z") == keys[0]
    first = board.get(keys[0])
    board.get(keys[1])
    board.get(keys[2])
    assert board.get(keys[0]) is first  # used again: now the most recent
    board.get("http://d:80")
    assert len(board) == 3 and keys[1] not in board and keys[0] in board


# --------------------------------------------------------------------------------------------
# The guard on the wire


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_by_default(
    receiver: Receiver, make_sender: MakeSender, host: str
) -> None:
    h = make_sender(policy=TargetPolicy())
    result = await send(h, f"http://{host}:{receiver.port}/ok")
    assert not result.ok and result.permanent and result.status is None
    assert result.error is not None and "loopback" in result.error
    if host == "localhost":
        # Refused after resolution, inside the connector: one attempt, nothing sent.
        assert result.attempts == 1 and "localhost resolves only to refused" in result.error
        assert h.attempts == [("localhost", 1, "refused_address")]
    else:
        assert result.attempts == 0 and "127.0.0.1 refused" in result.error
    assert receiver.seen == [] and h.sleeps == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize(
    "policy",
    [TargetPolicy(allow_private=True), TargetPolicy(allow_networks=parse_networks("127.0.0.0/8"))],
)
async def test_loopback_is_allowed_when_the_operator_says_so(
    receiver: Receiver, make_sender: MakeSender, host: str, policy: TargetPolicy
) -> None:
    result = await send(make_sender(policy=policy), f"http://{host}:{receiver.port}/ok")
    assert result.ok and receiver.paths() == ["/ok"]


async def test_bad_header_values_are_a_caller_error(make_sender: MakeSender) -> None:
    h = make_sender()
    with pytest.raises(ValueError, match="event"):
        await h.sender.deliver(
            "http://127.0.0.1:1/", SECRET, BODY, event="a\r\nX: y", delivery_id="d"
        )
    with pytest.raises(ValueError, match="secret"):
        await h.sender.deliver("http://127.0.0.1:1/", "", BODY, event="digest", delivery_id="d")


async def test_sender_is_an_async_context_manager(receiver: Receiver) -> None:
    async with WebhookSender(TargetPolicy(allow_private=True), RetryPolicy(), BreakerBoard()) as s:
        result = await s.deliver(
            f"http://127.0.0.1:{receiver.port}/ok", SECRET, BODY, event="digest", delivery_id="x"
        )
        assert result.ok
    assert s._session is None  # closed


# --------------------------------------------------------------------------------------------
# Backoff


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(min_value=0, max_value=5000),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=600.0),
    seed=st.integers(),
)
def test_backoff_is_full_jitter_within_bounds(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = RetryPolicy(base_s=base, cap_s=cap).delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt, 64))


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=30.0)
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (5, 16.0), (6, 30.0), (60, 30.0)]:
        draws = [policy.delay(attempt, rng) for _ in range(2000)]
        assert min(draws) >= 0.0 and max(draws) <= ceiling
        assert max(draws) > 0.95 * ceiling and min(draws) < 0.05 * ceiling  # the full range
    assert policy.retry_after("12") == 12.0 and policy.retry_after("3600") == 30.0
    assert policy.retry_after(None) is None and policy.retry_after("-1") is None
    assert policy.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


# --------------------------------------------------------------------------------------------
# The receivers' snippets in docs/webhooks.md


def doc_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one {language} block in {DOC.name}"
    return str(blocks[0])


def signed_examples() -> Iterator[tuple[str, str, bytes, float, bool]]:
    """(secret, header, body, now, expected) for the doc snippets."""
    t = 1_764_331_200
    header = sign(SECRET, t, BODY)
    yield SECRET, header, BODY, t + 10, True
    yield SECRET, header, BODY + b"\n", t + 10, False
    yield "wrong", header, BODY, t + 10, False
    yield SECRET, header, BODY, t + 301, False
    yield "old", sign(["new", "old"], t, BODY), BODY, t, True


def test_python_snippet_in_the_docs_verifies_tocsin_signatures() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(doc_block("python"), str(DOC), "exec"), namespace)
    check: Callable[..., bool] = namespace["verify_tocsin_signature"]
    for secret, header, body, now, expected in signed_examples():
        assert check(secret, header, body, now=now) is expected, (secret, header, now)
        assert check([secret, "other"], header, body, now=now) is expected
    # Without `now` it uses the clock.
    assert check(SECRET, sign(SECRET, int(time.time()), BODY), BODY)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_snippet_in_the_docs_verifies_tocsin_signatures() -> None:
    cases = [
        {"secret": s, "header": h, "body": b.decode(), "now": n, "expected": e}
        for s, h, b, n, e in signed_examples()
    ]
    script = doc_block("javascript") + (
        f"\nconst cases = {json.dumps(cases)};\n"
        "for (const c of cases) {\n"
        "  const got = verifyTocsinSignature(c.secret, c.header, Buffer.from(c.body), c.now);\n"
        "  if (got !== c.expected) { console.log(JSON.stringify(c)); process.exit(1); }\n"
        "}\n"
        "console.log('ok');\n"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
