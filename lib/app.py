"""The Flask application: `create_app(settings)` builds it, `main.py` serves it.

Routes (openapi.yaml is the contract):
    GET|POST /?api_type=&url=              the original Cleared interface (query or JSON body)
    GET|POST /v1/identify/<api_type>       the same, by path; POST also takes a multipart `file`
                                           (media longer than CLEARED_SYNC_MEDIA_SECONDS: 202 + a task)
    GET      /openapi.yaml                 the API description
    GET      /docs                         interactive docs (Swagger UI, served from the swagger-ui-py wheel)
    GET      /healthz, /readyz             the platform's probes (lib/health.py)
    GET      /demo, POST /demo/identify/.. the demo page and its calls (lib/demo.py; not part of the API)
    /api/v1/...                            the fingerprint-index API (lib/index_api.py)
Every view but the `@public` ones needs a caller the access rules admit (lib/access.py).
Views stay thin: validate, call `route_req`, render; errors are `ApiError`s (lib/errors.py).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Flask, Response, render_template, request, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from gen.models import ApiType, CallbackUrl, IdentifyRequest, IdentifyResponse, Status
from lib import access, errors, media, request_log, tasks
from lib.access import metered, public
from lib.demo import demo_page
from lib.endpoints import route_req
from lib.errors import ApiError
from lib.health import health
from lib.index_api import check_callback, index_api, queue_task
from lib.service import Service, current
from lib.settings import Settings
from lib.store.keys import Clock, utc_now
from lib.web import params, validated
from lib.worker import Workers

ROOT = Path(__file__).resolve().parent.parent
API_TYPES = [t.value for t in ApiType]
identify = Blueprint("identify", __name__)
# Swagger UI's own files, packaged in the swagger-ui-py wheel: no CDN, works offline
docs = Blueprint(
    "docs", __name__, static_folder=Path(swagger_ui.__file__).parent / "static", static_url_path="/docs/static"
)


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Flask:
    """The app for `settings` (default: from the environment); `clock` dates quotas (tests move it)."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    service = Service(settings, clock)
    app.extensions["cleared"] = service
    app.extensions["cleared_workers"] = Workers(service, settings.task_workers)
    errors.register(app)
    request_log.init_app(app)  # first: its ids are on every other hook's log entries
    app.register_blueprint(identify)
    app.register_blueprint(index_api)
    app.register_blueprint(docs)
    app.register_blueprint(health)
    if settings.demo:
        app.register_blueprint(demo_page)
    access.init_app(app, settings, service.keys)
    return app


def _answer(api_type: str, incoming: Path, filename: str, source_url: str | None, callback: str | None) -> Response:
    """The product's result now, or, for media longer than `sync_media_seconds`, a 202
    and an `identify_media` task that keeps the file (the webhook or polling brings the result)."""
    service = current()
    decoded = service.sync_audio(incoming)
    if decoded is None:
        music = service.keep_music(incoming, filename, source_url)
        return queue_task(tasks.IDENTIFY, music.music_id, {"api_type": api_type}, callback)
    result = route_req(api_type, service.analyse(decoded))
    request_log.note(matches=len(result.songs), media_seconds=round(result.media_seconds, 1))
    body = IdentifyResponse(status=Status.success, result=[result])
    return Response(body.model_dump_json(), mimetype="application/json")


def _from_url(req: IdentifyRequest) -> Response:
    request_log.note(api_type=req.api_type.value)
    callback = _callback(req.callbackUrl)
    url = str(req.url.root)
    service = current()
    path = media.download(url, service.limits, folder=service.uploads.scratch)
    try:
        return _answer(req.api_type.value, path, media.filename_of(url), url, callback)
    finally:
        path.unlink(missing_ok=True)


def _from_upload(api_type: str, upload: FileStorage) -> Response:
    request_log.note(api_type=api_type)
    given = params().get("callbackUrl")
    callback = _callback(validated(CallbackUrl, given) if given else None)
    incoming = current().uploads.incoming()
    try:
        upload.save(incoming)
        return _answer(api_type, incoming, secure_filename(upload.filename or "") or "upload", None, callback)
    finally:
        incoming.unlink(missing_ok=True)


def _callback(url: CallbackUrl | None) -> str | None:
    """Checked before any download: a bad callback must not cost a download and a scan."""
    if url is None:
        return None
    check_callback(str(url.root))
    return str(url.root)


@identify.route("/", methods=["GET", "POST"])
@metered
def legacy() -> Response:
    """The original interface: `api_type` and `url` as parameters."""
    return _from_url(validated(IdentifyRequest, params()))


@identify.route("/v1/identify/<api_type>", methods=["GET", "POST"])
@metered
def identify_by_path(api_type: str) -> Response:
    if api_type not in API_TYPES:
        raise ApiError(404, "unknown_api_type", f"no product {api_type!r}; the products are {', '.join(API_TYPES)}")
    upload = request.files.get("file") if request.method == "POST" else None
    if upload is not None:
        return _from_upload(api_type, upload)
    return _from_url(validated(IdentifyRequest, {**params(), "api_type": api_type}))


@identify.route("/openapi.yaml")
@public
def openapi() -> Response:
    return send_file(ROOT / "openapi.yaml", mimetype="application/yaml")


@docs.route("/docs")
@public
def interactive_docs() -> str:
    return render_template("docs.html")


def shutdown(app: Flask) -> None:
    """Stop the app's task threads and close its store (a worker's exit, a test's end)."""
    app.extensions["cleared_workers"].stop()
    service: Service = app.extensions["cleared"]
    service.close()
