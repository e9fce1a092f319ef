"""The fingerprint-index API end to end: uploads, add and check tasks run by the worker
threads, signed webhooks to a real receiver, retries, polling, catalog endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gen.models import TaskPayload
from tests.support.contract import check
from tests.support.index_client import INDEX, SECRET, finished, start, upload
from tests.support.webhook_receiver import Received, Receiver, receiver


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The index API's settings; `client` (tests/conftest.py) is this app's."""
    return make_app(**INDEX)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def signed_by(secret: bytes, delivery: Received) -> bool:
    """The verification recipe of openapi.yaml, written out independently of lib/core/webhooks.py."""
    timestamp = delivery.headers["X-Cleared-Timestamp"]
    expected = "v1=" + hmac.new(secret, f"{timestamp}.".encode() + delivery.body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(delivery.headers["X-Cleared-Signature"], expected)


def test_check_finds_the_catalog_track_and_signs_its_webhook(
    client: FlaskClient, media: dict[str, Path], hooks: Receiver
) -> None:
    music_id = upload(client, media["catalog_excerpt"])
    task_id = start(client, "check", {"musicId": music_id, "callbackUrl": f"{hooks.url}/check"})
    task = finished(client, task_id)
    assert task["status"] == "success" and task["task_name"] == "check_is_same" and task["runs"] == 1
    result = task["result"]
    assert result["is_duplicate"] is True and result["matched_music_id"] == "DEMO03"
    assert result["matched_musicname"].endswith(" - " + result["segments"][0]["title"])
    assert result["segments"][0]["track_id"] == "DEMO03" and result["score"] >= 60

    [delivery] = hooks.wait_for("/check", 1)
    assert signed_by(SECRET, delivery) and not signed_by(b"another secret", delivery)
    assert delivery.headers["X-Cleared-Delivery"] == f"{task_id}.1"
    TaskPayload.model_validate_json(delivery.body)  # the documented shape
    payload = json.loads(delivery.body)
    assert payload == {k: task[k] for k in payload}  # polling returns what the webhook got
    assert task["webhook"]["state"] == "delivered" and task["webhook"]["deliveries"][0]["status_code"] == 200


def test_a_failing_receiver_gets_three_attempts(client: FlaskClient, media: dict[str, Path], hooks: Receiver) -> None:
    hooks.fail_first["/flaky"] = 2
    task_id = start(client, "check", {"musicId": upload(client, media["new"]), "callbackUrl": f"{hooks.url}/flaky"})
    deliveries = hooks.wait_for("/flaky", 3)
    task = finished(client, task_id)
    assert [d.headers["X-Cleared-Delivery"] for d in deliveries] == [f"{task_id}.{n}" for n in (1, 2, 3)]
    assert len({d.body for d in deliveries}) == 1 and all(signed_by(SECRET, d) for d in deliveries)
    attempts = task["webhook"]["deliveries"]
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert attempts[0]["error"] == "HTTP 500" and attempts[2]["error"] is None
    assert task["webhook"]["state"] == "delivered"
    assert task["result"]["is_duplicate"] is False and task["result"]["matched_music_id"] is None


def test_the_webhook_gives_up_after_the_last_attempt(
    make_app: Callable[..., Flask], media: dict[str, Path], hooks: Receiver
) -> None:
    client = make_app(**INDEX, webhook_max_attempts=2).test_client()
    hooks.fail_first["/down"] = 10
    task_id = start(client, "check", {"musicId": upload(client, media["new"]), "callbackUrl": f"{hooks.url}/down"})
    task = finished(client, task_id)
    assert task["webhook"]["state"] == "failed" and len(task["webhook"]["deliveries"]) == 2
    time.sleep(0.3)
    assert len(hooks.at("/down")) == 2


def test_add_then_check_a_reencode_then_delete(client: FlaskClient, media: dict[str, Path], hooks: Receiver) -> None:
    music_id = upload(client, media["new"])
    metadata = {"title": "Fresh Song", "artist": "New Artist", "label": "Warp Records", "exclusive": True}
    task = finished(
        client, start(client, "add", {"musicId": music_id, "metadata": metadata, "callbackUrl": f"{hooks.url}/add"})
    )
    assert task["status"] == "success" and task["task_name"] == "add_audio_in_index"
    assert task["result"] == {"music_id": music_id, "track_id": music_id, "already_indexed": False}
    assert TaskPayload.model_validate_json(hooks.wait_for("/add", 1)[0].body).result is not None

    track = client.get(f"/api/v1/tracks/{music_id}")
    check(track, "/api/v1/tracks/{track_id}", "get")
    assert track.json["title"] == "Fresh Song" and track.json["exclusive"] is True  # type: ignore[index]
    assert track.json["duration"] == pytest.approx(20.0, abs=0.1)  # type: ignore[index]

    copy = upload(client, media["new_reencoded"])
    result = finished(client, start(client, "check", {"musicId": copy}))["result"]
    assert result["is_duplicate"] is True and result["matched_music_id"] == music_id
    assert result["matched_musicname"] == "New Artist - Fresh Song"

    # the music's own track is not a duplicate of itself
    assert finished(client, start(client, "check", {"musicId": music_id}))["result"]["is_duplicate"] is False

    deleted = client.delete(f"/api/v1/tracks/{music_id}")
    check(deleted, "/api/v1/tracks/{track_id}", "delete")
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/tracks/{music_id}").status_code == 404
    assert finished(client, start(client, "check", {"musicId": copy}))["result"]["is_duplicate"] is False


def test_concurrent_adds_of_one_file_make_one_track(client: FlaskClient, media: dict[str, Path]) -> None:
    before = client.get("/api/v1/tracks").json["total"]  # type: ignore[index]
    uploads = [upload(client, media["new"]) for _ in range(3)]
    task_ids = [start(client, "add", {"musicId": m}) for m in uploads]
    results = [finished(client, t)["result"] for t in task_ids]
    assert client.get("/api/v1/tracks").json["total"] == before + 1  # type: ignore[index]
    assert len({r["track_id"] for r in results}) == 1
    assert sorted(r["already_indexed"] for r in results) == [False, True, True]


def test_adding_a_reference_recording_makes_a_track_of_the_callers_own(client: FlaskClient, demo_folder: Path) -> None:
    """The reference catalog is the operator's (tests/test_tenancy.py): open mode's caller
    adds to its own collection, and a second add of the same audio names the first."""
    demo_file = sorted(p for p in demo_folder.iterdir() if p.suffix != ".csv")[0]
    first = finished(client, start(client, "add", {"musicId": upload(client, demo_file)}))["result"]
    assert first["already_indexed"] is False and first["track_id"] == first["music_id"]
    again = finished(client, start(client, "add", {"musicId": upload(client, demo_file)}))["result"]
    assert again["already_indexed"] is True and again["track_id"] == first["track_id"]
    assert client.get("/api/v1/tracks").json["total"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/api/v1/fingerprint/add", {"musicId": "0" * 32}, 404, "unknown_music"),
        ("post", "/api/v1/fingerprint/add", {"musicId": "../../etc/passwd"}, 422, "invalid_request"),
        ("post", "/api/v1/fingerprint/check", {}, 422, "invalid_request"),
        ("get", "/api/v1/tasks/nope", None, 404, "unknown_task"),
        ("get", "/api/v1/tracks/nope", None, 404, "unknown_track"),
        ("delete", "/api/v1/tracks/nope", None, 404, "unknown_track"),
        ("patch", "/api/v1/tracks/DEMO01", {"duration": 3}, 422, "invalid_request"),
        ("patch", "/api/v1/tracks/DEMO01", {"isrc": "x" * 40}, 422, "invalid_request"),
        ("patch", "/api/v1/tracks/DEMO01", {"cover_url": "javascript:alert(1)"}, 422, "invalid_request"),
        ("patch", "/api/v1/tracks/DEMO01", {"song_link": "not a link"}, 422, "invalid_request"),
        ("get", "/api/v1/tracks?limit=0", None, 422, "invalid_request"),
        ("get", "/api/v1/tracks?offset=-1", None, 422, "invalid_request"),
        ("get", "/api/v1/tracks?offset=99999999999999999999", None, 422, "invalid_request"),
        ("get", "/api/v1/tracks?limit=%C2%B2", None, 422, "invalid_request"),
        ("post", "/api/v1/music", {"url": "ftp://example.com/a.mp3"}, 422, "url_not_allowed"),
    ],
)
def test_bad_requests_get_the_error_format(
    client: FlaskClient, method: str, path: str, body: dict[str, Any] | None, status: int, code: str
) -> None:
    response = getattr(client, method)(path, json=body)
    assert response.status_code == status and response.json["error"]["code"] == code


def test_uploads_must_be_audio_and_callbacks_public(
    make_app: Callable[..., Flask], tmp_path: Path, media: dict[str, Path]
) -> None:
    client = make_app(**{**INDEX, "allow_private_urls": False, "task_workers": 0}).test_client()
    refused = client.post("/api/v1/music", data={"file": (media["text"].open("rb"), "notes.txt")})
    assert refused.status_code == 415 and refused.json["error"]["code"] == "unsupported_media"  # type: ignore[index]
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == []  # nothing kept, no temp file left
    music_id = upload(client, media["new"])
    private = client.post(
        "/api/v1/fingerprint/add", json={"musicId": music_id, "callbackUrl": "http://127.0.0.1:9/hook"}
    )
    assert private.status_code == 422 and private.json["error"]["code"] == "invalid_callback"  # type: ignore[index]
