"""What the views share: reading a request's parameters and validating them against
the models generated from openapi.yaml, with the API's error format for every problem."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import numpy as np
from flask import request
from pydantic import BaseModel, ValidationError

from lib.errors import InvalidInput, TooLarge
from lib.web.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)

# A parameter body is a few fields: anything near these is not one. Python's parser
# recurses per level, and 5,000 levels raised RecursionError (a 500) before these limits.
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')


def _depth(raw: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings left out."""
    codes = np.frombuffer(_STRING.sub(b"", raw), np.uint8)
    opening = (codes == ord("{")) | (codes == ord("["))
    closing = (codes == ord("}")) | (codes == ord("]"))
    return int(np.cumsum(opening.astype(np.int64) - closing).max(initial=0))


def _json_object() -> dict[str, Any]:
    too_large = TooLarge("body_too_large", f"a JSON body may hold at most {MAX_JSON_BYTES} bytes")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise too_large
    # with a Content-Length the body is known to be small (and may have been read already);
    # without one (chunked), read no more than one byte past the limit
    raw = (
        request.get_data(cache=True) if request.content_length is not None else request.stream.read(MAX_JSON_BYTES + 1)
    )
    if len(raw) > MAX_JSON_BYTES:
        raise too_large
    if _depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "invalid_json", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def params() -> dict[str, Any]:
    """Request parameters from the query string, a JSON body or a form, later ones winning."""
    found: dict[str, Any] = dict(request.args)
    if request.method in ("POST", "PATCH"):
        if request.is_json:
            found.update(_json_object())
        else:
            found.update(request.form)
    return found


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise InvalidInput("invalid_request", problems) from None
