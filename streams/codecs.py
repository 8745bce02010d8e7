"""orjson encoding for every topic, and its registration as a faust codec.

Topics carry raw bytes and the agents decode inside their per-event boundary: a payload that
is not UTF-8 or not JSON must become a dead letter, and faust would otherwise log and drop a
value it fails to decode before the agent ever sees it.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.errors import DecodeError

CODEC_NAME = "orjson"


def dumps(value: Any) -> bytes:
    """Serialise a JSON-able value; keys sorted so equal records give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON, raising :class:`DecodeError` for bad UTF-8 or bad JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson reports invalid UTF-8 as a JSONDecodeError too; keep its message.
        raise DecodeError(str(exc)) from exc


def register_faust_codec() -> None:
    """Make ``value_serializer='orjson'`` available to faust tables (idempotent)."""
    from faust.serializers import codecs

    class OrjsonCodec(codecs.Codec):  # type: ignore[misc]
        def _dumps(self, obj: Any) -> bytes:
            return dumps(obj)

        def _loads(self, s: bytes) -> Any:
            return orjson.loads(s)

    codecs.register(CODEC_NAME, OrjsonCodec())
