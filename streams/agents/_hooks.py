"""Explicit hooks from the agents to monitoring: the agents call them, monitoring registers
on them. Neither side imports the other, and nothing is rebound."""

from __future__ import annotations

from collections.abc import Callable

# (model name, seconds): the extraction pool finished loading its model.
_model_loaded: list[Callable[[str, float], None]] = []
# (old key, new key): a hop re-keyed a message (extract: article id -> story key).
_rekeyed: list[Callable[[bytes, bytes], None]] = []


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
