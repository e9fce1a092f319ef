"""The Flask application: `create_app(settings)` builds it, `main.py` serves it.

Routes (openapi.yaml is the contract):
    GET|POST /?api_type=&url=              the original Cleared interface (query or JSON body)
    GET|POST /v1/identify/<api_type>       the same, by path; POST also takes a multipart `file`
    GET      /openapi.yaml                 the API description
    GET      /docs                         interactive docs (Swagger UI, served from the swagger-ui-py wheel)
    /api/v1/...                            the fingerprint-index API (lib/index_api.py)
Views stay thin: validate, call `route_req`, render; errors are `ApiError`s (lib/errors.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import swagger_ui
from flask import Blueprint, Flask, Response, render_template, request, send_file
from werkzeug.datastructures import FileStorage

from gen.models import ApiType, IdentifyRequest, IdentifyResponse, Status
from lib import errors
from lib.endpoints import route_req
from lib.errors import ApiError
from lib.index_api import index_api
from lib.service import Service
from lib.settings import Settings
from lib.web import params, validated
from lib.worker import Workers

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
    service = Service(settings)
    app.extensions["cleared"] = service
    app.extensions["cleared_workers"] = Workers(service, settings.task_workers)
    errors.register(app)
    app.register_blueprint(identify)
    app.register_blueprint(index_api)
    app.register_blueprint(docs)
    return app


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
    req = validated(IdentifyRequest, params())
    return _success(req.api_type.value, str(req.url.root))


@identify.route("/v1/identify/<api_type>", methods=["GET", "POST"])
def identify_by_path(api_type: str) -> Response:
    if api_type not in API_TYPES:
        raise ApiError(404, "unknown_api_type", f"no product {api_type!r}; the products are {', '.join(API_TYPES)}")
    upload = request.files.get("file") if request.method == "POST" else None
    if upload is not None:
        return _run_upload(api_type, upload)
    req = validated(IdentifyRequest, {**params(), "api_type": api_type})
    return _success(api_type, str(req.url.root))


@identify.route("/openapi.yaml")
def openapi() -> Response:
    return send_file(ROOT / "openapi.yaml", mimetype="application/yaml")


@docs.route("/docs")
def interactive_docs() -> str:
    return render_template("docs.html")
