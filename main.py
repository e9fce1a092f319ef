"""The deployed entry point: `functions-framework --target=api` serves `api` locally
exactly as Google Cloud Functions does in the cloud.

Each process builds the app (and the in-memory index) once, at import, so the first
request does not pay for it; every request is then handed to the app's own dispatch.
`python main.py ...` still runs the command line (`python -m lib ...`).
"""

import sys

import flask
import functions_framework

from lib.app import create_app
from lib.cli import main
from lib.service import Service

app = create_app()
_service: Service = app.extensions["cleared"]
_service.engine.index  # noqa: B018  (build it now, before the first request)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    with app.request_context(request.environ):
        return app.full_dispatch_request()


if __name__ == "__main__":
    sys.exit(main())
