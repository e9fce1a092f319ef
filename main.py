"""The deployed entry point: `functions-framework --target=api` serves `api` locally
exactly as Google Cloud Functions and the Cloud Run image (Dockerfile) do in the cloud.

Each process sets up its logs, fetches the catalog if the instance has none yet
(`CLEARED_CATALOG_URL`), and builds the app and the in-memory index once, at import, so
the first request does not pay for it; every request is then handed to the app's own
dispatch. `python main.py ...` still runs the command line (`python -m lib ...`).
"""

import sys

import flask
import functions_framework

from lib.cli.main import main
from lib.core.service import Service
from lib.ops import logging as logs
from lib.ops.catalog_fetch import fetch_catalog
from lib.settings import Settings
from lib.web import server_errors
from lib.web.app import create_app

server_errors.install()  # gunicorn's own errors (431, 400 before Flask) as JSON too
settings = Settings()
logs.setup(settings.log_format, settings.log_level)
if settings.catalog_url:
    fetch_catalog(settings.catalog_url, settings.db)
app = create_app(settings)
_service: Service = app.extensions["cleared"]
_service.recognizer.index  # noqa: B018  (build it now, before the first request)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    with app.request_context(request.environ):
        return app.full_dispatch_request()


if __name__ == "__main__":
    sys.exit(main())
