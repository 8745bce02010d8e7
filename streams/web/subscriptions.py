"""``/api/subscriptions``: create, read, change and delete subscriptions over HTTP.

| method and path | |
|---|---|
| ``GET /api/subscriptions`` | all (``?owner=`` filters); without the token only ids and names |
| ``POST /api/subscriptions`` | create (201); ``id`` optional, 409 if it exists |
| ``POST /api/subscriptions?dry_run=true`` | check only (200 or 400, nothing written) |
| ``GET /api/subscriptions/{id}`` | one |
| ``PATCH /api/subscriptions/{id}`` | JSON merge patch (RFC 7386: ``null`` removes a field) |
| ``DELETE /api/subscriptions/{id}`` | delete (204): a tombstone on the compacted topic |

Everything but the public list of names needs ``Authorization: Bearer $TOCSIN_API_TOKEN``, or
the dashboard's login session on a request from its own scripts (``auth.api_allowed``);
without a configured token they answer 503. A write goes to the compacted
``news.subscriptions.v1``, which every worker follows; the answer comes once this worker has
applied it, so a GET right after it sees it.
Webhook secrets are never returned. Bodies are bounded (64 KiB) and validated by the same
function the workers use, so the API cannot store what a worker would reject. Typed values
are resolved first (themes through synonyms, countries and regions by name or code, actors
through the gazetteer: "JNIM" is stored as its canonical name); the answer's ``resolved``
says what each became (``null``: an actor the gazetteer lacks, matched in article text). An
unknown theme, country or region, or any invalid field, is a 400 naming the field and what
is expected. A query that does not parse answers 400 with ``position``, the 0-based character
offset of the problem (the browser editor underlines it).
"""

from __future__ import annotations

import secrets
from typing import Any

from faust.web import View

from streams import codecs, schemas, topics
from streams.agents._shell import Shell, page
from streams.agents.deliver import target_policy
from streams.delivery.webhook import check_url
from streams.errors import DecodeError
from streams.models import Rejected, Subscription
from streams.pipeline import query
from streams.pipeline.driver import now_rfc3339
from streams.pipeline.match import parse_subscription
from streams.web import auth
from streams.web.ingest import TooLarge, read_body

Resolved = dict[str, dict[str, str | None]]
BODY_MAX = 65_536
APPLY_TIMEOUT = 10.0
_validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)


class _Base(View):  # type: ignore[misc]
    shell: Shell

    def _denied(self, request: Any) -> Any | None:
        """The error answer for a request without the right token, else None."""
        token = self.shell.settings.api_token
        if not token:
            return self.error(503, "the subscriptions API is off: set TOCSIN_API_TOKEN")
        if not auth.api_allowed(request, token):
            return self.error(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return None

    async def _body(self, request: Any) -> dict[str, Any] | Any:
        try:
            data = codecs.loads(await read_body(request, BODY_MAX))
        except TooLarge:
            return self.error(413, f"request body over {BODY_MAX} bytes")
        except DecodeError as exc:
            return self.error(400, f"request body is not JSON: {exc}"[:500])
        if not isinstance(data, dict):
            return self.error(400, "expected a JSON object")
        return data

    def _check(self, data: dict[str, Any]) -> tuple[Subscription, Resolved] | Any:
        """The subscription and what its typed values resolved to, or the error answer."""
        recording = self.shell.registry.names.recording()
        text = data.get("query")
        if isinstance(text, str) and text.strip():
            try:  # parsed alone first, for the position of a syntax error
                query.parse(text, recording)
            except query.QueryError as exc:
                return self.error(400, f"query: {exc}", field="query", position=exc.position)
        parsed = parse_subscription(data, _validator, recording)
        if isinstance(parsed, Rejected):
            return self.error(400, parsed.error)
        if parsed.webhook is not None:
            reason = check_url(parsed.webhook.url, target_policy(self.shell.settings))
            if reason is not None:
                return self.error(400, f"webhook/url: {reason}")
        return parsed, recording.resolved

    async def _write(self, sub_id: str, value: bytes | None) -> bool:
        """Produce to the compacted topic; True once this worker has applied it."""
        ack = await self.shell.topic(topics.SUBSCRIPTIONS).send(key=sub_id.encode(), value=value)
        metadata = await ack
        return await self.shell.registry.wait_applied(
            metadata.partition, metadata.offset, APPLY_TIMEOUT
        )

    def _saved(self, sub: Subscription, resolved: Resolved, applied: bool, status: int) -> Any:
        # "resolved": typed value -> the canonical one stored or matched (null: an actor
        # the gazetteer lacks, matched in article text), per field.
        body = {**sub.to_dict(redact=True), "resolved": resolved, "applied": applied}
        return self.json(body, status=status)


class SubscriptionsView(_Base):
    """List and create."""

    async def get(self, request: Any) -> Any:
        token = self.shell.settings.api_token
        full = bool(token) and auth.api_allowed(request, token)
        owner = request.query.get("owner")
        subs = [
            s
            for _id, s in sorted(self.shell.registry.current.items())
            if not owner or s.owner == owner
        ]
        if not full:  # the dashboard needs names; nothing else is public
            return self.json({"subscriptions": [{"id": s.id, "name": s.name} for s in subs]})
        return self.json({"subscriptions": [s.to_dict(redact=True) for s in subs]})

    async def post(self, request: Any) -> Any:
        denied = self._denied(request)
        if denied is not None:
            return denied
        data = await self._body(request)
        if not isinstance(data, dict):
            return data
        dry_run = request.query.get("dry_run") in {"1", "true"}
        data.setdefault("id", "sub-" + secrets.token_hex(8))
        if dry_run:  # the editor's check as you type: the same checks, nothing written
            checked = self._check({**data, "created_at": now_rfc3339()})
            if not isinstance(checked, tuple):
                return checked
            return self.json({"ok": True, "resolved": checked[1]})
        if isinstance(data["id"], str) and data["id"] in self.shell.registry.current:
            return self.error(409, f"subscription {data['id']!r} exists; PATCH it")
        stamp = now_rfc3339()
        data["created_at"] = data["updated_at"] = stamp
        checked = self._check(data)
        if not isinstance(checked, tuple):
            return checked
        sub, resolved = checked
        applied = await self._write(sub.id, codecs.dumps(sub.to_dict()))
        return self._saved(sub, resolved, applied, 201)


class SubscriptionView(_Base):
    """Read, change and delete one."""

    def _find(self, request: Any, sub_id: str) -> Subscription | Any:
        """The subscription, or the error answer (no token, unknown id)."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        sub = self.shell.registry.current.get(sub_id)
        return sub if sub is not None else self.error(404, "no such subscription")

    async def get(self, request: Any, sub_id: str) -> Any:
        sub = self._find(request, sub_id)
        return self.json(sub.to_dict(redact=True)) if isinstance(sub, Subscription) else sub

    async def patch(self, request: Any, sub_id: str) -> Any:
        sub = self._find(request, sub_id)
        if not isinstance(sub, Subscription):
            return sub
        patch = await self._body(request)
        if not isinstance(patch, dict):
            return patch
        if patch.get("id", sub_id) != sub_id:
            return self.error(400, "id cannot change")
        # Merged into the stored record, secret included: a patch of the webhook's URL alone
        # keeps its secret.
        data = merge_patch(sub.to_dict(), patch)
        data["id"] = sub_id
        data["updated_at"] = now_rfc3339()
        if sub.created_at:
            data["created_at"] = sub.created_at
        checked = self._check(data)
        if not isinstance(checked, tuple):
            return checked
        changed, resolved = checked
        applied = await self._write(sub_id, codecs.dumps(changed.to_dict()))
        return self._saved(changed, resolved, applied, 200)

    async def delete(self, request: Any, sub_id: str) -> Any:
        sub = self._find(request, sub_id)
        if not isinstance(sub, Subscription):
            return sub
        await self._write(sub_id, None)
        return self.bytes(b"", status=204)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def register(shell: Shell) -> None:
    page(shell, "/api/subscriptions", SubscriptionsView)
    page(shell, "/api/subscriptions/{sub_id}", SubscriptionView)
