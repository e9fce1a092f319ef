"""Helpers for tests of the fingerprint-index API through Flask's test client: settings
for a private store, and the upload → task → poll steps, each checked against the spec."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from lib.settings import Settings
from tests.support.contract import check

SECRET = b"test-secret"


# what the index API's tests change of the defaults
INDEX: dict[str, Any] = {
    "allow_private_urls": True,  # the webhook receiver is on loopback
    "webhook_secret": SECRET.decode(),
    "webhook_backoff_seconds": 0.05,
    "task_lease_seconds": 2.0,
}


def index_settings(db: Path, folder: Path, **overrides: Any) -> Settings:
    return Settings(**{"db": db, "storage": str(folder / "uploads"), **INDEX, **overrides})


def upload(client: FlaskClient, path: Path) -> str:
    response = client.post("/api/v1/music", data={"file": (path.open("rb"), path.name)})
    check(response, "/api/v1/music", "post")
    assert response.status_code == 201, response.json
    music_id: str = response.json["musicId"]  # type: ignore[index]
    return music_id


def start(client: FlaskClient, kind: str, body: dict[str, Any]) -> str:
    response = client.post(f"/api/v1/fingerprint/{kind}", json=body)
    check(response, f"/api/v1/fingerprint/{kind}", "post")
    assert response.status_code == 202, response.json
    task_id: str = response.json["taskId"]  # type: ignore[index]
    assert response.headers["Location"] == f"/api/v1/tasks/{task_id}"
    return task_id


def finished(client: FlaskClient, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/tasks/{task_id}")
        check(response, "/api/v1/tasks/{task_id}", "get")
        task: dict[str, Any] = response.json  # type: ignore[assignment]
        if task["status"] in ("success", "failure") and task["webhook"]["state"] not in ("pending",):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {task}")
