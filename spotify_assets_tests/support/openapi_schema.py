"""JSON-schema validators for Spotify Web API response bodies, from the OpenAPI file.

The OpenAPI description vendored in ``spotify_assets_tests/contracts/`` (see its README for
the overrides) is the contract for every body the fake server sends and every body the
parsers read. This helper turns one
``components/responses/<Name>`` into a ``jsonschema`` validator so tests can assert
"this body is what Spotify would send" in one line.

OpenAPI 3.0 is not JSON Schema: ``nullable: true`` is translated to a type union with
``"null"``, and ``$ref``s are resolved through a ``referencing`` registry holding the whole
(translated) document. ``date-time`` formats are checked.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

SPEC_ENV_VAR = "SPOTIFY_OPENAPI_SPEC"
_DOC_URI = "urn:spotify-web-api-openapi"

# Where live Spotify has moved past the published spec (pass as ``drop_required``, merged):
# Spotify leaves ``available_markets`` out of albums when the request names a market (track
# relinking), but the spec's AlbumBase lists it as required.
WITH_MARKET_DROPS: dict[str, list[str]] = {"AlbumBase": ["available_markets"]}
# Development-mode apps lost ``label`` and ``popularity`` on albums on 2026-03-09; the spec's
# AlbumObject still requires them because it predates that removal.
DEVELOPMENT_MODE_DROPS: dict[str, list[str]] = {"AlbumObject": ["label", "popularity"]}


def spec_path() -> Path:
    """Where the OpenAPI file is: ``$SPOTIFY_OPENAPI_SPEC`` (to test against a newer contract),
    else the copy in ``spotify_assets_tests/contracts/``."""
    override = os.environ.get(SPEC_ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "contracts" / "spotify-web-api-openapi.yml"


@functools.lru_cache(maxsize=4)
def _load_spec(path: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)  # noqa: S506 - safe loader


def load_spec() -> dict[str, Any]:
    """The raw OpenAPI document (cached; do not mutate)."""
    return _load_spec(str(spec_path()))


def _translate(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema (2020-12), recursively, on a copy."""
    if isinstance(node, list):
        return [_translate(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _translate(v)
        for k, v in node.items()
        # discriminator needs OpenAPI semantics; examples are not constraints.
        if k not in ("nullable", "discriminator", "example", "xml") and not k.startswith("x-")
    }
    if node.get("nullable") is True:
        typ = out.get("type")
        if isinstance(typ, str):
            out["type"] = [typ, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif isinstance(typ, list):
            if "null" not in typ:
                out["type"] = [*typ, "null"]
        else:  # e.g. allOf/$ref with nullable: wrap
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=32)
def _registry(path: str, drop_key: tuple[tuple[str, tuple[str, ...]], ...]) -> referencing.Registry:
    doc = _translate(copy.deepcopy(_load_spec(path)))
    schemas = doc["components"]["schemas"]
    for schema_name, fields in drop_key:
        if schema_name not in schemas:
            raise KeyError(f"no components/schemas/{schema_name} in {path}")
        _drop_required(schemas[schema_name], set(fields))
    resource = referencing.jsonschema.DRAFT202012.create_resource(doc)
    return referencing.Registry().with_resource(_DOC_URI, resource)


def _drop_required(schema: dict[str, Any], fields: set[str]) -> None:
    """Remove ``fields`` from ``required`` at the top of a schema and in its ``allOf`` parts."""
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in fields]
    for part in schema.get("allOf", []):
        if isinstance(part, dict) and "$ref" not in part:
            _drop_required(part, fields)


def response_validator(
    name: str, *, drop_required: dict[str, list[str]] | None = None
) -> jsonschema.protocols.Validator:
    """A validator for the JSON body of ``components/responses/<name>``.

    ``drop_required`` maps a ``components/schemas`` name to fields that are no longer
    required there; use it (with a comment saying why) where Spotify's live behaviour has
    moved past the published spec, e.g. fields removed for development-mode apps in 2026.
    """
    path = str(spec_path())
    responses = _load_spec(path)["components"]["responses"]
    if name not in responses:
        raise KeyError(f"no components/responses/{name} in {path}")
    if "application/json" not in responses[name].get("content", {}):
        raise KeyError(f"components/responses/{name} has no application/json body")
    drop_key = tuple(sorted((k, tuple(sorted(v))) for k, v in (drop_required or {}).items()))
    registry = _registry(path, drop_key)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"{_DOC_URI}#/components/responses/{name}/content/application~1json/schema",
    }
    return jsonschema.Draft202012Validator(
        schema,
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def assert_valid(
    name: str, body: Any, *, drop_required: dict[str, list[str]] | None = None
) -> None:
    """Raise ``AssertionError`` listing every schema violation of ``body``."""
    validator = response_validator(name, drop_required=drop_required)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:20]
        ]
        raise AssertionError(f"{name}: {len(errors)} schema error(s):\n" + "\n".join(lines))
