"""Check real responses against openapi.yaml: the status is documented for the route and
method, and the JSON body validates against the documented schema."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Response
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
_URI = "urn:cleared:openapi"


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check(response: Response, path: str, method: str) -> None:
    """Fail unless `response` is what openapi.yaml documents for `method path`."""
    operation = spec()["paths"][path][method.lower()]
    documented = operation["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answered {status}, not documented ({sorted(documented)})"
    content = _resolve(documented[status]).get("content", {})
    if "application/json" in content:
        schema = content["application/json"]["schema"]
        registry: Registry[Any] = Registry().with_resource(_URI, Resource(contents=spec(), specification=DRAFT202012))
        reference = {"$ref": _URI + schema["$ref"]} if "$ref" in schema else schema
        OAS31Validator(reference, registry=registry).validate(response.get_json())
