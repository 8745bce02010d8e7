"""Explicit hooks from the agents to monitoring: the agents call them, monitoring registers
on them. Neither side imports the other, and nothing is rebound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakSet

# (model name, seconds): the extraction pool finished loading its model.
_model_loaded: list[Callable[[str, float], None]] = []
# (old key, new key): a hop re-keyed a message (extract: article id -> story key).
_rekeyed: list[Callable[[bytes, bytes], None]] = []


# Messages a step acked to its stream but still holds until its results are sent (extract's
# batches in flight): monitoring counts such a message out at its last ack, not its first.
_held: WeakSet[Any] = WeakSet()


def hold(message: Any) -> None:
    """Keep ``message`` uncommitted past its stream's ack, until :func:`release`."""
    message.incref()
    _held.add(message)


def release(message: Any) -> None:
    """Mark ``message`` no longer held; its next ack is its last."""
    _held.discard(message)


def held(message: Any) -> bool:
    return message in _held


def on_model_loaded(hook: Callable[[str, float], None]) -> None:
    if hook not in _model_loaded:
        _model_loaded.append(hook)


def on_rekeyed(hook: Callable[[bytes, bytes], None]) -> None:
    if hook not in _rekeyed:
        _rekeyed.append(hook)


def model_loaded(model: str, seconds: float) -> None:
    for hook in _model_loaded:
        hook(model, seconds)


def rekeyed(old_key: bytes, new_key: bytes) -> None:
    for hook in _rekeyed:
        hook(old_key, new_key)
