"""Exception tree of tocsin.

    TocsinError                  base of everything we raise on purpose
    ├── ConfigError              invalid TOCSIN_* settings (lists every problem at once)
    ├── SchemaError              a schema file in schemas/ is missing or not valid JSON Schema
    ├── RejectedInput            an input that a stage refuses; becomes a dead letter
    │   ├── DecodeError          bytes that are not UTF-8 or not JSON
    │   └── ValidationFailed     JSON that breaks the topic's schema or a semantic rule
    ├── ModelError               the configured spaCy model cannot be loaded
    └── TopicsNotReady           topics missing or not as declared (named, with the fix)

Stages return ``Rejected`` values rather than raising for expected bad input; the exceptions
exist for the code paths that cannot return (decoding inside a helper, start-up checks).
"""

from __future__ import annotations


class TocsinError(Exception):
    """Base class of tocsin's own exceptions."""


class ConfigError(TocsinError):
    """Invalid configuration; the message lists every problem found."""


class SchemaError(TocsinError):
    """A JSON Schema shipped in ``schemas/`` is missing or invalid."""


class RejectedInput(TocsinError):
    """An input a stage refuses. ``error_type`` names the reason for dead letters."""

    error_type = "rejected"


class DecodeError(RejectedInput):
    """The payload is not UTF-8 or not JSON."""

    error_type = "decode_error"


class ValidationFailed(RejectedInput):
    """The payload breaks the schema or a semantic rule (e.g. an unparseable date)."""

    error_type = "schema_violation"


class ModelError(TocsinError):
    """The spaCy model named in the settings cannot be loaded."""


class TopicsNotReady(TocsinError):
    """Topics tocsin needs are missing or differ from their declaration (partitions,
    replication, configs); the message names them and the command that fixes them."""
