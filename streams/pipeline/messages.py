"""Internal message kinds that share a topic, one class each, told apart in one place.

``news.stories.members.v1`` carries memberships, aliases and forwards; ``news.deliver.ticks.v1``
carries ticks, some with a replayed digest. Each class's ``to_dict`` is what the topic's schema
(``schemas/``) allows for that kind; ``member_from_dict`` / ``Tick.from_dict`` read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Membership:
    """The story an extracted article joined (key: article id)."""

    article_id: str
    story_id: str
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "story_id": self.story_id, "key": self.key}


@dataclass(frozen=True)
class Alias:
    """The article ``alias`` is itself a copy of ``of`` (key: alias)."""

    alias: str
    of: str

    def to_dict(self) -> dict[str, Any]:
        return {"alias": self.alias, "of": self.of}


@dataclass(frozen=True)
class Forward:
    """A copy (a duplicates record) whose original turned out a copy of ``to`` (key: to)."""

    forward: Mapping[str, Any]
    to: str
    hops: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"forward": dict(self.forward), "to": self.to, "hops": self.hops}


MemberMessage = Membership | Alias | Forward


def member_from_dict(data: Mapping[str, Any]) -> MemberMessage:
    """The kind of a members-topic message, by the field only that kind has."""
    if "alias" in data:
        return Alias(str(data["alias"]), str(data["of"]))
    if "forward" in data:
        return Forward(data["forward"], str(data["to"]), int(data.get("hops", 1)))
    return Membership(str(data["article_id"]), str(data["story_id"]), str(data["key"]))


@dataclass(frozen=True)
class Tick:
    """A deliver tick; ``digest`` only in a replayed dead letter of a failed digest post."""

    sent_at: float
    digest: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sent_at": self.sent_at}
        if self.digest is not None:
            out["digest"] = dict(self.digest)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tick:
        # A tick is only a clock signal: one without a time (never sent so) still ticks.
        return cls(float(data.get("sent_at", 0.0)), data.get("digest") or None)
