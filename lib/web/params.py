"""What the views share: reading a request's parameters and validating them against
the models generated from openapi.yaml, with the API's error format for every problem."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from lib.errors import InvalidInput
from lib.web.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def params() -> dict[str, Any]:
    """Request parameters from the query string, a JSON body or a form, later ones winning."""
    found: dict[str, Any] = dict(request.args)
    if request.method in ("POST", "PATCH"):
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_json", "the body must be a JSON object")
            found.update(body)
        else:
            found.update(request.form)
    return found


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise InvalidInput("invalid_request", problems) from None
