"""Structured logs (lib/ops/logging.py, lib/web/request_log.py): one JSON object per line
with the request's ids and what it did, Cloud Logging's format through google-cloud-logging's
own handler, and nothing secret in either."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from google.cloud.logging_v2.handlers import StructuredLogHandler
from loguru import logger

from lib.ops import logging as logs
from lib.settings import Settings
from lib.store.keys import KeyStore
from lib.web.app import create_app
from lib.web.request_log import trace_of
from tests.support.stores import private_copy

TRACE = "105445aa7843bc8bf206b12000100000"
SIGNED = "http://127.0.0.1/song.mp3?X-Goog-Signature=0ddba11c0ffee"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The logs as `setup("json")` writes them, into a buffer; loguru's default after."""
    root = logging.root.handlers[:]
    buffer = io.StringIO()
    logs.setup("json", stream=buffer)
    yield buffer
    logger.remove()
    logger.add(sys.stderr)
    logging.root.handlers[:] = root


def entries(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def app(catalog_path: Path, tmp_path: Path) -> Flask:
    settings = Settings(db=private_copy(catalog_path, tmp_path), storage=str(tmp_path / "up"), task_workers=0)
    return create_app(settings.model_copy(update={"auth": "keys"}))


@pytest.fixture
def key(app: Flask) -> str:
    keys: KeyStore = app.extensions["cleared"].keys
    created, _ = keys.create("Acme Music", ["yt", "dn"], None, "100/minute", None)
    return created


def secret_of(key: str) -> str:
    """The secret part of `clr_<id>_<secret>` (the secret itself may contain `_`)."""
    return key.split("_", 2)[2]


def identify(app: Flask, key: str, path: Path, headers: dict[str, str] | None = None) -> Any:
    with path.open("rb") as file:
        return app.test_client().post(
            "/v1/identify/dn",
            data={"file": (file, path.name)},
            headers={"X-API-Key": key, **(headers or {})},
        )


def test_a_request_is_one_json_entry_with_who_what_and_how_long(
    app: Flask, key: str, stream: io.StringIO, media: dict[str, Path]
) -> None:
    response = identify(app, key, media["catalog_excerpt"], {"X-Cloud-Trace-Context": f"{TRACE}/17;o=1"})
    assert response.status_code == 200
    songs = response.json["result"][0]["songs"]
    [entry] = [e for e in entries(stream) if e.get("path") == "/v1/identify/dn"]
    assert entry["severity"] == "INFO" and entry["message"] == "POST /v1/identify/dn 200"
    assert entry["status"] == 200 and entry["method"] == "POST" and entry["latency_ms"] > 0
    assert entry["api_type"] == "dn" and entry["matches"] == len(songs) >= 1
    assert entry["owner"] == "Acme Music"
    assert entry["trace"] == TRACE and entry["span_id"] == f"{17:016x}"
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert key not in stream.getvalue() and secret_of(key) not in stream.getvalue()


def test_refusals_are_warnings_and_no_signed_url_or_key_reaches_the_logs(
    app: Flask, key: str, stream: io.StringIO
) -> None:
    client = app.test_client()
    refused = client.get("/", query_string={"api_type": "yt", "url": SIGNED}, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    fetched = client.post("/", json={"api_type": "yt", "url": SIGNED}, headers={"X-API-Key": key})
    assert fetched.status_code == 422  # a loopback address is refused before any download
    logged = entries(stream)
    assert [(e["status"], e["severity"]) for e in logged if "status" in e] == [(401, "WARNING"), (422, "WARNING")]
    text = stream.getvalue()
    assert "0ddba11c0ffee" not in text and "X-Goog-Signature" not in text and "nope" not in text
    assert secret_of(key) not in text


def test_entries_logged_while_a_request_runs_carry_its_ids(
    catalog_path: Path, tmp_path: Path, stream: io.StringIO
) -> None:
    app = create_app(
        Settings(db=private_copy(catalog_path, tmp_path), storage=str(tmp_path / "up"), task_workers=0, auth="open")
    )

    def broken() -> str:
        logging.getLogger("some.library").warning("a library speaks")
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", view_func=broken)
    response = app.test_client().get("/broken", headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    assert "a bug" not in response.get_data(as_text=True)  # the traceback stays in the logs
    library, failure, closing = entries(stream)
    assert library["logger"] == "some.library" and library["message"] == "a library speaks"
    assert failure["severity"] == "ERROR" and "RuntimeError: a bug" in failure["exception"]
    assert closing["severity"] == "ERROR" and closing["status"] == 500
    ids = {(e["request_id"], e["trace"], e["span_id"]) for e in (library, failure, closing)}
    assert ids == {(response.headers["X-Request-Id"], TRACE, "00f067aa0ba902b7")}


@pytest.mark.parametrize(
    ("cloud", "traceparent", "expected"),
    [
        (f"{TRACE}/1;o=1", None, (TRACE, "0000000000000001")),
        (TRACE, None, (TRACE, None)),
        (f"{TRACE}/99999999999999999999;o=1", None, (TRACE, None)),  # past 64 bits: no span
        (None, f"00-{TRACE}-00f067aa0ba902b7-01", (TRACE, "00f067aa0ba902b7")),
        ('"},{"severity":"CRITICAL', f"00-{TRACE}-00f067aa0ba902b7-01", (TRACE, "00f067aa0ba902b7")),
        ("not-a-trace\nforged", "garbage", (None, None)),
    ],
)
def test_trace_headers_are_read_and_malformed_ones_ignored(
    cloud: str | None, traceparent: str | None, expected: tuple[str | None, str | None]
) -> None:
    assert trace_of(cloud, traceparent) == expected


def test_a_clients_request_id_is_kept_only_when_it_is_a_plain_token(app: Flask, stream: io.StringIO) -> None:
    client = app.test_client()
    kept = client.get("/healthz", headers={"X-Request-Id": "order-42.a_b"})
    replaced = client.get("/healthz", headers={"X-Request-Id": 'x" forged'})
    assert kept.headers["X-Request-Id"] == "order-42.a_b"
    assert len(replaced.headers["X-Request-Id"]) == 32 and "forged" not in stream.getvalue()
    assert [e["request_id"] for e in entries(stream)] == ["order-42.a_b", replaced.headers["X-Request-Id"]]


@pytest.fixture
def gcloud_stream() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Records through google-cloud-logging's handler for Cloud Run (structured stdout)."""
    buffer = io.StringIO()
    logger.remove()
    sink = logger.add(logs.GcloudSink(StructuredLogHandler(stream=buffer, project_id="cleared-test")))
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.remove(sink)
    logger.add(sys.stderr)


def test_on_google_cloud_entries_link_to_the_trace_and_keep_query_strings_out(
    app: Flask, key: str, gcloud_stream: Callable[[], list[dict[str, Any]]]
) -> None:
    response = app.test_client().get(
        "/v1/identify/yt", query_string={"url": SIGNED}, headers={"X-API-Key": key, "X-Cloud-Trace-Context": TRACE}
    )
    assert response.status_code == 422
    [entry] = [e for e in gcloud_stream() if "status" in e]
    assert entry["logging.googleapis.com/trace"] == f"projects/cleared-test/traces/{TRACE}"
    assert entry["severity"] == "WARNING" and entry["owner"] == "Acme Music" and entry["api_type"] == "yt"
    assert entry["httpRequest"]["requestUrl"] == "/v1/identify/yt" and entry["httpRequest"]["status"] == 422
    assert entry["httpRequest"]["latency"].endswith("s") and "trace" not in entry
    assert all("0ddba11c0ffee" not in json.dumps(e) for e in gcloud_stream())


def test_the_platform_picks_the_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("CLOUD_RUN_JOB", raising=False)
    assert not logs.on_google_cloud()
    monkeypatch.setenv("K_SERVICE", "cleared-staging")
    assert logs.on_google_cloud()
