"""Load and compile the JSON Schemas in ``schemas/`` once, failing fast on a broken one."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from streams.errors import SchemaError


def schema_dir() -> Path:
    """``schemas/`` at the top of the checkout (tocsin is installed editable from it)."""
    return Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _load_all() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(schema_dir().glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
        except (ValueError, JsonSchemaError) as exc:
            raise SchemaError(f"{path}: {exc}") from exc
        out[path.name] = schema
    if not out:
        raise SchemaError(f"no schemas found in {schema_dir()}")
    return out


@functools.cache
def registry() -> Registry:
    """All schemas, addressable by file name for ``$ref`` between them."""
    resources_ = [
        (name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in _load_all().items()
    ]
    return Registry().with_resources(resources_)


def schema(file_name: str) -> dict[str, Any]:
    """The parsed schema named ``file_name`` (e.g. ``news.articles.raw.v1.json``)."""
    try:
        return _load_all()[file_name]
    except KeyError as exc:
        raise SchemaError(f"no schema {file_name} in {schema_dir()}") from exc


@functools.cache
def validator(file_name: str) -> Draft202012Validator:
    """A compiled validator for one topic's schema, built once per process."""
    return Draft202012Validator(schema(file_name), registry=registry())
