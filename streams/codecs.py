"""orjson encoding of every topic's messages.

Topics carry raw bytes and the agents decode with these functions inside their per-event
boundary: a payload that is not UTF-8 or not JSON must become a dead letter, and a faust codec
would instead log and drop a value it fails to decode before the agent ever sees it.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.errors import DecodeError


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
