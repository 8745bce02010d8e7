"""Webhook delivery: signed JSON POSTs to subscriber URLs, retried, guarded and short-circuited.

Subscriber URLs are untrusted input, so every delivery is checked before it leaves:

* :func:`check_url` refuses non-HTTP schemes, credentials in the URL, over-long URLs and IP
  literals that the :class:`TargetPolicy` refuses (loopback, private, link-local, ...).
* Host names are resolved by a :class:`GuardedResolver` inside the connector, which drops
  refused addresses from the answer. The connection goes to an address that was checked, so a
  name that resolves to a public address for a check and a private one for the connection
  (DNS rebinding) gains nothing.
* Redirects are never followed: a 3xx is a permanent failure.

Each attempt is signed afresh (``Tocsin-Signature: t=<unix s>,v1=<hex HMAC-SHA256>``), retried
with full-jitter exponential backoff on connection errors, timeouts, 408, 429 and 5xx, and
gated by a per-target :class:`CircuitBreaker`. The caller gets a :class:`DeliveryResult` and
decides what to do with a failure (tocsin dead-letters it, stage ``deliver``). See
``docs/webhooks.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

__all__ = [
    "CIRCUIT_OPEN",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "MAX_RESPONSE_BYTES",
    "MAX_URL_LENGTH",
    "SIGNATURE_HEADER",
    "AddressRefused",
    "BreakerBoard",
    "CircuitBreaker",
    "DeliveryResult",
    "GuardedResolver",
    "RetryPolicy",
    "TargetPolicy",
    "WebhookSender",
    "build_session",
    "check_url",
    "parse_networks",
    "sign",
    "target_key",
    "verify",
]

SIGNATURE_HEADER: Final = "Tocsin-Signature"
EVENT_HEADER: Final = "Tocsin-Event"
DELIVERY_HEADER: Final = "Tocsin-Delivery"
DEFAULT_USER_AGENT: Final = "tocsin-webhook/1"
MAX_URL_LENGTH: Final = 2048
MAX_RESPONSE_BYTES: Final = 64 * 1024
CIRCUIT_OPEN: Final = "circuit open"
# A signature header longer than this is not ours; refusing it bounds the work an attacker
# can make a receiver using verify() do.
_MAX_SIGNATURE_HEADER: Final = 4096
_EXCERPT_CHARS: Final = 200

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# --------------------------------------------------------------------------------------------
# Signing


def _secrets(secret: str | Sequence[str]) -> tuple[str, ...]:
    secrets = (secret,) if isinstance(secret, str) else tuple(secret)
    if not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise ValueError("a webhook secret must be a non-empty string")
    return secrets


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``Tocsin-Signature`` value ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "t." + body)>``.

    Given several secrets (a rotation in progress), one ``v1=`` entry per secret, so a receiver
    holding either the old or the new secret accepts the delivery.
    """
    timestamp = int(timestamp)
    entries = ",".join(f"v1={_mac(s, timestamp, body)}" for s in _secrets(secret))
    return f"t={timestamp},{entries}"


def verify(
    secret: str | Sequence[str],
    header: str,
    body: bytes,
    *,
    now: float,
    tolerance_s: int = 300,
) -> bool:
    """True when ``header`` signs ``body`` with (one of) ``secret`` at a time within
    ``tolerance_s`` of ``now``. Any ``v1=`` entry may match (rotation); other schemes are
    ignored; a missing, repeated or non-numeric ``t=`` fails."""
    if len(header) > _MAX_SIGNATURE_HEADER:
        return False
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.encode())
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = [_mac(s, timestamp, body).encode() for s in _secrets(secret)]
    # Compare every pair without stopping early, so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        for mac in expected:
            matched |= hmac.compare_digest(candidate, mac)
    return matched


# --------------------------------------------------------------------------------------------
# Address guard


def _net(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr)


# Checked on top of the ipaddress flags, whose tables changed between Python patch releases:
# this list keeps the verdict the same whatever interpreter runs the worker.
_NOT_GLOBAL: Final[tuple[tuple[IPNetwork, str], ...]] = tuple(
    (_net(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("192.88.99.0/24", "reserved (6to4 relay)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved (IPv4-compatible)"),
        ("64:ff9b:1::/48", "private (local NAT64)"),
        ("100::/64", "reserved (discard)"),
        ("2001::/23", "reserved (IETF protocol assignments)"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# Never a sensible webhook target, even where private targets are allowed.
_ALWAYS_REFUSED: Final = ("unspecified", "multicast")


def _v4_inside(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address a packet to ``ip`` ends up at or tunnels through, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    return None


def _why_not_global(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _v4_inside(ip)
        if inner is not None:
            v4, kind = inner
            reason = _why_not_global(v4)
            if kind in ("IPv4-mapped", "NAT64"):
                # The connection goes to the IPv4 address itself: judge that address alone.
                return None if reason is None else f"{reason} ({kind} {v4})"
            if reason is not None:
                return f"{reason} ({kind} embeds {v4})"
        if ip.scope_id:
            # A zone index makes sense only for link-local targets.
            return "link-local (zoned address)"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    for network, reason in _NOT_GLOBAL:
        if ip in network:
            return reason
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True)
class TargetPolicy:
    """Which addresses webhooks may connect to: public unicast addresses only, unless
    ``allow_private`` (any address but unspecified and multicast) or the address lies in one of
    ``allow_networks``."""

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    def refusal(self, ip: IPAddress) -> str | None:
        """Why a connection to ``ip`` is refused, or None when it is allowed."""
        if self._listed(ip):
            return None
        reason = _why_not_global(ip)
        if reason is None:
            return None
        if self.allow_private and not reason.startswith(_ALWAYS_REFUSED):
            return None
        return reason

    def allowed(self, ip: IPAddress) -> bool:
        """True when webhooks may connect to ``ip``."""
        return self.refusal(ip) is None

    def _listed(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _v4_inside(ip)
            if inner is not None and inner[1] in ("IPv4-mapped", "NAT64"):
                candidates.append(inner[0])
            if ip.scope_id:
                candidates.append(ipaddress.IPv6Address(str(ip).split("%", 1)[0]))
        return any(c in net for c in candidates for net in self.allow_networks)


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, fd00::/8"`` as networks (for ``TOCSIN_WEBHOOK_ALLOW_NETWORKS``); a bare
    address is a one-address network. Raises ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(p.strip()) for p in text.split(",") if p.strip())


def _looks_like_ip(raw_host: str) -> bool:
    # aiohttp's own test (helpers.is_ip_address): such hosts skip the resolver, so they must be
    # judged here.
    return ":" in raw_host or raw_host.replace(".", "").isdigit()


def check_url(url: str, policy: TargetPolicy) -> str | None:
    """Why ``url`` may not be a webhook target, or None when it may (so far: a host name is
    judged again, by address, by the :class:`GuardedResolver` when it is resolved)."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters"
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError) as exc:
        return f"malformed URL: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "URL scheme must be http or https"
    if parsed.raw_user is not None or parsed.raw_password is not None:
        return "URL must not carry credentials (user info)"
    host, raw_host = parsed.host, parsed.raw_host
    if not host or not raw_host or not parsed.is_absolute():
        return "URL has no host"
    if port is None or not 0 < port < 65536:
        return "URL has no valid port"
    if _looks_like_ip(raw_host):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return f"host {host!r} is numeric but not a canonical IP address"
        reason = policy.refusal(ip)
        if reason is not None:
            return f"address {ip} refused: {reason}"
    return None


class AddressRefused(OSError):
    """A host name resolved only to addresses the :class:`TargetPolicy` refuses."""


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that keeps only the addresses ``policy`` allows.

    aiohttp connects to what the resolver returns, so the address checked is the address
    connected to. Raises :class:`AddressRefused` when nothing is left.
    """

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refused: list[str] = []
        for answer in answers:
            try:
                ip = ipaddress.ip_address(answer["host"])
            except ValueError:
                refused.append(f"{answer['host']} (not an IP address)")
                continue
            reason = self._policy.refusal(ip)
            if reason is None:
                kept.append(answer)
            else:
                refused.append(f"{ip} ({reason})")
        if not kept:
            listed = ", ".join(dict.fromkeys(refused)) or "no address"
            raise AddressRefused(f"{host} resolves only to refused addresses: {listed}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


# --------------------------------------------------------------------------------------------
# Retries and circuit breaking


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries, ``timeout_s`` each (connect, send and read the response),
    waiting a full-jitter exponential backoff between them."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0 or self.timeout_s <= 0:
            raise ValueError("base_s and cap_s must be >= 0, timeout_s > 0")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt ``attempt`` (0 for the first):
        uniform(0, min(cap_s, base_s * 2**attempt))."""
        # Clamped exponent: 2.0**1100 overflows a float, and 2**64 is beyond any cap anyway.
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 0), 64))
        return rng.uniform(0.0, ceiling)

    def retry_after(self, value: str | None) -> float | None:
        """A numeric ``Retry-After`` in seconds, capped at ``cap_s``; None when absent or an
        HTTP date (then the backoff applies)."""
        if value is None:
            return None
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        return min(float(value), self.cap_s)


BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Stops calling a target that keeps failing.

    Closed: every call goes through; ``failure_threshold`` consecutive failures open it.
    Open: calls are refused until ``reset_after_s`` has passed, then it is half-open.
    Half-open: one trial call goes through; its success closes the breaker, its failure opens
    it again for another ``reset_after_s``.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after_s:
            return "half-open"
        return "open"

    @property
    def failures(self) -> int:
        """Consecutive failures recorded."""
        return self._failures

    def allow(self) -> bool:
        """May a call go through now? In half-open state, True once (the trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        # A trial whose caller never reported (its task was cancelled) would otherwise keep the
        # breaker half-open and shut for good: its slot lapses after reset_after_s.
        if self._trial_at is not None and now - self._trial_at < self.reset_after_s:
            return False
        self._trial_at = now
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._trial_at = None


def target_key(url: str | URL) -> str:
    """The breaker key of a URL: ``scheme://host:port`` (host lower-cased, port explicit)."""
    parsed = url if isinstance(url, URL) else URL(url)
    return f"{parsed.scheme}://{parsed.raw_host}:{parsed.port}"


class BreakerBoard:
    """One :class:`CircuitBreaker` per target key, the ``max_size`` most recently used kept.

    Evicting a breaker forgets its state, which at worst lets a failing target be tried again
    sooner: the bound matters more, since subscribers choose the targets.
    """

    def __init__(
        self,
        max_size: int = 10_000,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._threshold = failure_threshold
        self._reset_after_s = reset_after_s
        self._clock = clock
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()

    def get(self, key: str) -> CircuitBreaker:
        """The breaker of ``key`` (see :func:`target_key`), created closed if unknown."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(self._threshold, self._reset_after_s, self._clock)
            self._breakers[key] = breaker
            if len(self._breakers) > self.max_size:
                self._breakers.popitem(last=False)
        else:
            self._breakers.move_to_end(key)
        return breaker

    def __len__(self) -> int:
        return len(self._breakers)

    def __contains__(self, key: object) -> bool:
        return key in self._breakers


# --------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended. ``permanent``: retrying later would not help (a 3xx or 4xx, a
    refused URL or address); ``status`` is the last HTTP status seen, if any."""

    ok: bool
    attempts: int
    status: int | None
    error: str | None
    permanent: bool


Outcome = Literal[
    "ok",  # 2xx
    "redirect",  # 3xx: not followed, permanent
    "rejected",  # 4xx other than 408 and 429: permanent
    "throttled",  # 408 or 429: retried
    "server_error",  # 5xx: retried
    "timeout",  # retried
    "connect_error",  # DNS, refused, reset, TLS, protocol: retried
    "refused_address",  # the guard refused every address: permanent
    "circuit_open",  # not attempted
]
AttemptHook = Callable[[str, int, Outcome], None]
"""``on_attempt(host, attempt, outcome)``: called after every attempt (1-based) and when the
breaker refuses one. Must not raise; meant for metrics."""

_RETRIED: Final[frozenset[Outcome]] = frozenset(
    {"throttled", "server_error", "timeout", "connect_error"}
)


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def build_session(
    policy: TargetPolicy,
    *,
    timeout_s: float = 10.0,
    limit: int = 100,
    limit_per_host: int = 10,
) -> aiohttp.ClientSession:
    """An aiohttp session fit for untrusted targets: the :class:`GuardedResolver`, bounded
    connections, no cookies, no proxies from the environment, no response decompression."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy), limit=limit, limit_per_host=limit_per_host
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        # A cookie set by one subscriber's endpoint has no business in the next request.
        cookie_jar=aiohttp.DummyCookieJar(),
        # HTTP(S)_PROXY would send requests to a proxy that resolves names unguarded.
        trust_env=False,
        # The body is read only for an error excerpt; a compressed one could be a bomb.
        auto_decompress=False,
    )


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), response.content.at_eof()


def _excerpt(body: bytes) -> str:
    text = body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text[:_EXCERPT_CHARS]


def _header_value(name: str, value: str) -> str:
    if not value or len(value) > 200 or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name} must be 1-200 printable ASCII characters")
    return value


class WebhookSender:
    """Delivers signed JSON bodies to webhook URLs (see the module docstring).

    The session is created on first use unless one is given; a given session is the caller's
    to close, and only guards host names if it was made by :func:`build_session`.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        retry: RetryPolicy,
        breakers: BreakerBoard,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        on_attempt: AttemptHook | None = None,
        limit: int = 100,
        limit_per_host: int = 10,
    ) -> None:
        self.policy = policy
        self.retry = retry
        self.breakers = breakers
        self._user_agent = _header_value("user_agent", user_agent)
        self._rng = rng if rng is not None else random.Random()
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._clock = clock
        self._on_attempt = on_attempt
        self._limit = limit
        self._limit_per_host = limit_per_host

    async def deliver(
        self,
        url: str,
        secret: str | Sequence[str],
        body: bytes,
        *,
        event: str,
        delivery_id: str,
    ) -> DeliveryResult:
        """POST ``body`` to ``url`` until it is accepted (2xx), fails for good, the breaker of
        its target opens, or the retry policy is spent. Never raises for a failed delivery."""
        secrets = _secrets(secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            EVENT_HEADER: _header_value("event", event),
            DELIVERY_HEADER: _header_value("delivery_id", delivery_id),
        }
        reason = check_url(url, self.policy)
        if reason is not None:
            return DeliveryResult(False, 0, None, reason, permanent=True)
        target = URL(url)
        host = target.raw_host or ""
        breaker = self.breakers.get(target_key(target))
        attempts = 0
        last = _Attempt("connect_error")
        for index in range(self.retry.attempts):
            if not breaker.allow():
                self._report(host, attempts + 1, "circuit_open")
                return DeliveryResult(False, attempts, last.status, CIRCUIT_OPEN, permanent=False)
            attempts += 1
            last = await self._attempt(target, secrets, body, headers)
            self._report(host, attempts, last.outcome)
            # A target that answered is up, even if it disliked the request.
            if last.outcome in _RETRIED or last.outcome == "refused_address":
                breaker.record_failure()
            else:
                breaker.record_success()
            if last.outcome == "ok":
                return DeliveryResult(True, attempts, last.status, None, permanent=False)
            if last.outcome not in _RETRIED:
                return DeliveryResult(False, attempts, last.status, last.error, permanent=True)
            if index + 1 < self.retry.attempts:
                wait = last.retry_after
                await self._sleep(self.retry.delay(index, self._rng) if wait is None else wait)
        error = f"gave up after {attempts} attempts: {last.error}"
        return DeliveryResult(False, attempts, last.status, error, permanent=False)

    async def _attempt(
        self, target: URL, secrets: tuple[str, ...], body: bytes, headers: dict[str, str]
    ) -> _Attempt:
        session = self._get_session()
        # Signed per attempt: a retry hours later must not look stale to the receiver.
        signed = {**headers, SIGNATURE_HEADER: sign(secrets, int(self._clock()), body)}
        try:
            async with session.post(
                target,
                data=body,
                headers=signed,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.retry.timeout_s),
            ) as response:
                status = response.status
                retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
                if 200 <= status < 300:
                    # The delivery is done; the body is not needed. Reading none of it closes
                    # the connection at release time, so take a small answer to reuse it.
                    await self._drain(response)
                    return _Attempt("ok", status)
                content, _ = await self._drain(response)
                error = f"HTTP {status}"
                if 300 <= status < 400:
                    location = response.headers.get("Location", "")
                    error = f"{error}: redirect not followed ({_excerpt(location.encode())})"
                elif content:
                    error = f"{error}: {_excerpt(content)}"
                if status in (408, 429):
                    return _Attempt("throttled", status, error, retry_after)
                if status >= 500:
                    return _Attempt("server_error", status, error, retry_after)
                if 300 <= status < 400:
                    return _Attempt("redirect", status, error)
                return _Attempt("rejected", status, error)
        except TimeoutError:
            return _Attempt("timeout", None, f"timed out after {self.retry.timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                return _Attempt("refused_address", None, str(exc.os_error))
            return _Attempt("connect_error", None, f"{type(exc).__name__}: {exc}")
        except aiohttp.InvalidURL as exc:
            return _Attempt("rejected", None, f"invalid URL: {exc}")
        except aiohttp.ClientError as exc:
            return _Attempt("connect_error", None, f"{type(exc).__name__}: {exc}")

    async def _drain(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """Up to MAX_RESPONSE_BYTES of the body; a longer one is cut and its connection closed
        rather than read to the end (the receiver chooses its size, not us)."""
        try:
            content, complete = await _read_limited(response, MAX_RESPONSE_BYTES)
        except (TimeoutError, aiohttp.ClientError):
            # The status is what counts; a body that stalls or breaks off changes nothing.
            response.close()
            return b"", False
        if not complete:
            response.close()
        return content, complete

    def _report(self, host: str, attempt: int, outcome: Outcome) -> None:
        if self._on_attempt is not None:
            self._on_attempt(host, attempt, outcome)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = build_session(
                self.policy,
                timeout_s=self.retry.timeout_s,
                limit=self._limit,
                limit_per_host=self._limit_per_host,
            )
        return self._session

    async def close(self) -> None:
        """Close the session this sender created (a given one is left to its owner)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    aclose = close

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
