"""openapi.yaml is valid, describes exactly the app's routes, and is served by the app."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask, Response
from openapi_spec_validator import validate

from lib.settings import Settings
from lib.web.app import create_app
from tests.support.contract import SPEC_PATH, check, spec

ROOT = SPEC_PATH.parent


@pytest.fixture(scope="module")
def app(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return create_app(Settings(db=catalog_path, storage=str(tmp_path_factory.mktemp("openapi") / "uploads")))


def test_the_document_is_valid_openapi() -> None:
    validate(spec())  # type: ignore[arg-type]


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static") or rule.endpoint.startswith("demo."):
            continue  # files, and the demo page's own calls: not the API a marketplace sells
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        served.setdefault(path, set()).update({m.lower() for m in rule.methods or ()} - {"head", "options"})
    documented = {path: set(ops) - {"parameters"} for path, ops in spec()["paths"].items()}
    assert served == documented


def test_the_app_serves_the_document(app: Flask) -> None:
    response = app.test_client().get("/openapi.yaml")
    assert response.status_code == 200 and response.data == SPEC_PATH.read_bytes()


def test_the_interactive_docs_are_served_without_a_cdn(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and b"SwaggerUIBundle" in page.data
    assert b"http" not in page.data  # every asset is ours
    script = client.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.data) > 100_000


@pytest.mark.slow
def test_the_generated_models_are_current(tmp_path: Path) -> None:
    """gen/models.py must be what `make gen` makes of today's openapi.yaml."""
    fresh = tmp_path / "models.py"
    subprocess.run(["make", "-s", "gen", f"GEN_OUT={fresh}"], cwd=ROOT, check=True, capture_output=True)
    assert fresh.read_text() == (ROOT / "gen" / "models.py").read_text(), "openapi.yaml changed: run make gen"


def test_the_contract_check_catches_a_wrong_body() -> None:
    """The API tests lean on `check`; make sure it can fail."""
    body = {"status": "success", "result": [{"songs": [{"score": 99}], "media_seconds": 1.0}]}
    wrong = Response(json.dumps(body), mimetype="application/json")
    with pytest.raises(Exception, match="required"):
        check(wrong, "/v1/identify/{api_type}", "GET")
    with pytest.raises(AssertionError, match="not documented"):
        check(Response(status=418), "/", "GET")
