"""Explicit hooks from the agents to monitoring: the agents call them, monitoring registers
on them. Neither side imports the other, and nothing is rebound."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# (model name, seconds): the extraction pool finished loading its model.
_model_loaded: list[Callable[[str, float], None]] = []
# (old key, new key): a hop re-keyed a message (extract: article id -> story key).
_rekeyed: list[Callable[[bytes, bytes], None]] = []
# (record kind, decoded record or None, Kafka timestamp): a step read or sent a record the
# statistics count (``pipeline/stats.py``).
_counted: list[Callable[[str, Mapping[str, Any] | None, float], None]] = []
# (partition, now): a step finished an event of ``partition``, whose context is current.
_handled: list[Callable[[int, float], None]] = []


def on_model_loaded(hook: Callable[[str, float], None]) -> None:
    if hook not in _model_loaded:
        _model_loaded.append(hook)


def on_rekeyed(hook: Callable[[bytes, bytes], None]) -> None:
    if hook not in _rekeyed:
        _rekeyed.append(hook)


def on_counted(hook: Callable[[str, Mapping[str, Any] | None, float], None]) -> None:
    if hook not in _counted:
        _counted.append(hook)


def on_handled(hook: Callable[[int, float], None]) -> None:
    if hook not in _handled:
        _handled.append(hook)


def counted(kind: str, record: Mapping[str, Any] | None, timestamp: float) -> None:
    for hook in _counted:
        hook(kind, record, timestamp)


def handled(partition: int, now: float) -> None:
    for hook in _handled:
        hook(partition, now)


def model_loaded(model: str, seconds: float) -> None:
    for hook in _model_loaded:
        hook(model, seconds)


def rekeyed(old_key: bytes, new_key: bytes) -> None:
    for hook in _rekeyed:
        hook(old_key, new_key)
