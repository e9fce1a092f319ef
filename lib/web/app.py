"""The Flask application: `create_app(settings)` builds it, `main.py` serves it.

Routes (openapi.yaml is the contract):
    GET|POST /?api_type=&url=              the original Cleared interface (lib/web/identify.py)
    GET|POST /v1/identify/<api_type>       the same, by path; POST also takes a multipart `file`
                                           (media longer than CLEARED_SYNC_MEDIA_SECONDS: 202 + a task)
    GET      /openapi.yaml, /docs          the API description and interactive docs (lib/web/docs.py)
    GET      /healthz, /readyz             the platform's probes (lib/web/health.py)
    GET      /demo, POST /demo/identify/.. the demo page and its calls (lib/web/demo.py; not part of the API)
    /api/v1/...                            the fingerprint-index API (lib/web/index_api.py)
    GET      /api/v1/usage                 the caller's usage in calls and media minutes (lib/web/usage.py)
    /api/v1/streams[/<id>]                 stream monitoring: POST, GET, DELETE (lib/web/streams.py)
Every view but the `@public` ones needs a caller the access rules admit (lib/web/access.py).
Views stay thin: validate, call one use case (lib/core), render; domain errors become
HTTP answers in one table (lib/web/errors.py).
"""

from __future__ import annotations

from flask import Flask

from lib.core.service import Service
from lib.core.worker import Workers
from lib.settings import Settings
from lib.store.keys import Clock, utc_now
from lib.web import access, errors, request_log, slow_bodies
from lib.web.context import current, workers
from lib.web.demo import demo_page
from lib.web.docs import docs
from lib.web.health import health
from lib.web.identify import identify
from lib.web.index_api import index_api
from lib.web.streams import streams
from lib.web.usage import usage


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
    slow_bodies.init_app(app, settings)  # next: before any hook can read a body
    app.before_request(_start_workers)
    app.register_blueprint(identify)
    app.register_blueprint(index_api)
    app.register_blueprint(usage)
    app.register_blueprint(streams)
    app.register_blueprint(docs)
    app.register_blueprint(health)
    if settings.demo:
        app.register_blueprint(demo_page)
    access.init_app(app, settings, service.keys)
    return app


def _start_workers() -> None:
    """Each server process starts its task threads when it serves its first request
    (gunicorn forks its workers after importing the app, and threads do not survive a fork)."""
    if current().settings.task_workers:
        workers().start()


def shutdown(app: Flask) -> None:
    """Stop the app's task threads and close its store (a worker's exit, a test's end)."""
    app.extensions["cleared_workers"].stop()
    service: Service = app.extensions["cleared"]
    service.close()
