"""The API's description: `openapi.yaml` as it is, and interactive docs (Swagger UI,
served from the swagger-ui-py wheel: no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, render_template, send_file

from lib.web.access import public

# a link to the repository's openapi.yaml, packaged as a file in the wheel (setup.cfg)
OPENAPI = Path(__file__).resolve().parent / "openapi.yaml"
docs = Blueprint(
    "docs", __name__, static_folder=Path(swagger_ui.__file__).parent / "static", static_url_path="/docs/static"
)


@docs.route("/openapi.yaml")
@public
def openapi() -> Response:
    return send_file(OPENAPI, mimetype="application/yaml")


@docs.route("/docs")
@public
def interactive_docs() -> str:
    return render_template("docs.html")
