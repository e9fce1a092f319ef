"""The Flask application: `create_app(settings)` builds it, `main.py` serves it.

Routes (openapi.yaml is the contract):
    GET|POST /?api_type=&url=              the original Cleared interface (query or JSON body)
    GET|POST /v1/identify/<api_type>       the same, by path; POST also takes a multipart `file`
    GET      /openapi.yaml                 the API description
    GET      /docs                         interactive docs (Swagger UI, served from the swagger-ui-py wheel)
Views stay thin: validate, call `route_req`, render; errors are `ApiError`s (lib/errors.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import swagger_ui
from flask import Blueprint, Flask, Response, render_template, request, send_file
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage

from gen.models import ApiType, IdentifyRequest, IdentifyResponse, Status
from lib import errors
from lib.endpoints import route_req
from lib.errors import ApiError
from lib.service import Service
from lib.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
API_TYPES = [t.value for t in ApiType]
identify = Blueprint("identify", __name__)
# Swagger UI's own files, packaged in the swagger-ui-py wheel: no CDN, works offline
docs = Blueprint(
    "docs", __name__, static_folder=Path(swagger_ui.__file__).parent / "static", static_url_path="/docs/static"
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    app.extensions["cleared"] = Service(settings)
    errors.register(app)
    app.register_blueprint(identify)
    app.register_blueprint(docs)
    return app


def _params() -> dict[str, Any]:
    """Request parameters from the query string, a JSON body or a form, later ones winning."""
    params: dict[str, Any] = dict(request.args)
    if request.method == "POST":
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_json", "the body must be a JSON object")
            params.update(body)
        else:
            params.update(request.form)
    return params


def _validated(params: dict[str, Any]) -> IdentifyRequest:
    try:
        return IdentifyRequest.model_validate(params)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise ApiError(422, "invalid_request", problems) from None


def _success(api_type: str, source: str | Path) -> Response:
    body = IdentifyResponse(status=Status.success, result=[route_req(api_type, source)])
    return Response(body.model_dump_json(), mimetype="application/json")


def _run_upload(api_type: str, upload: FileStorage) -> Response:
    with tempfile.TemporaryDirectory(prefix="cleared-upload-") as folder:
        path = Path(folder) / "media"
        upload.save(path)
        return _success(api_type, path)


@identify.route("/", methods=["GET", "POST"])
def legacy() -> Response:
    """The original interface: `api_type` and `url` as parameters."""
    req = _validated(_params())
    return _success(req.api_type.value, str(req.url.root))


@identify.route("/v1/identify/<api_type>", methods=["GET", "POST"])
def identify_by_path(api_type: str) -> Response:
    if api_type not in API_TYPES:
        raise ApiError(404, "unknown_api_type", f"no product {api_type!r}; the products are {', '.join(API_TYPES)}")
    upload = request.files.get("file") if request.method == "POST" else None
    if upload is not None:
        return _run_upload(api_type, upload)
    req = _validated({**_params(), "api_type": api_type})
    return _success(api_type, str(req.url.root))


@identify.route("/openapi.yaml")
def openapi() -> Response:
    return send_file(ROOT / "openapi.yaml", mimetype="application/yaml")


@docs.route("/docs")
def interactive_docs() -> str:
    return render_template("docs.html")
