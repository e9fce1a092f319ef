"""The deployed entry point: `functions-framework --target=api` serving main.py over real HTTP,
as Cloud Functions runs it, with several gunicorn workers."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.synth.songs import RATE, demo_song
from tests.support.audio import encode
from tests.support.media_server import serve
from tests.support.server_process import server as running

pytestmark = pytest.mark.slow  # a functions-framework server process


@pytest.fixture(scope="module")
def server(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "CLEARED_DB": str(catalog_path),
        "CLEARED_STORAGE": str(tmp_path_factory.mktemp("uploads")),
        "CLEARED_ALLOW_PRIVATE_URLS": "true",
        "WORKERS": "2",
    }
    with running(env) as (url, _):
        yield url


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_functions_framework_serves_the_api(server: str, tmp_path: Path) -> None:
    encode(tmp_path / "clip.mp3", demo_song(4, 24.0)[3 * RATE : 13 * RATE], RATE, "mp3")
    with serve(tmp_path) as media:
        query = urllib.parse.urlencode({"api_type": "dn", "url": f"{media}/files/clip.mp3"})
        status, body = _get(f"{server}/?{query}")
    assert status == 200
    assert [s["track_id"] for s in body["result"][0]["songs"]] == ["DEMO05"]  # type: ignore[index]


def test_errors_keep_their_format_through_the_entry_point(server: str) -> None:
    status, body = _get(f"{server}/v1/identify/xx?url=https://example.com/a.mp3")
    assert status == 404 and body["error"]["code"] == "unknown_api_type"  # type: ignore[index]


def test_gunicorns_own_errors_are_json_too(server: str) -> None:
    """Headers over gunicorn's limit never reach Flask: gunicorn answered with an HTML page."""
    request = urllib.request.Request(f"{server}/healthz", headers={"X-Padding": "x" * 10_000})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 431
    assert refused.value.headers["Content-Type"] == "application/json"
    body = json.loads(refused.value.read())
    assert body["status"] == "error" and body["error"]["code"] == "request_header_fields_too_large"
