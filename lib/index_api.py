"""The fingerprint-index API (`/api/v1/...`): upload music, add or check it in the
background, poll tasks, manage catalog tracks. openapi.yaml is the contract.

Views validate with the generated models, queue work in the task store and wake this
process's workers (lib/worker.py); they never fingerprint inside a request.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.utils import secure_filename

from gen.models import AddRequest, CheckRequest, MusicUrlRequest, TrackMetadata
from lib import media, tasks
from lib.access import metered
from lib.errors import ApiError
from lib.service import current
from lib.web import params, validated
from lib.worker import Workers

index_api = Blueprint("index_api", __name__, url_prefix="/api/v1")

_FILTERS = ("title", "artist", "album", "label", "isrc")


def workers() -> Workers:
    found: Workers = current_app.extensions["cleared_workers"]
    return found


@index_api.before_app_request
def _start_workers() -> None:
    """Each server process starts its task threads when it serves its first request."""
    if current().settings.task_workers:
        workers().start()


@index_api.post("/music")
def upload_music() -> tuple[Response, int]:
    service = current()
    incoming = service.uploads.incoming()
    try:
        upload = request.files.get("file")
        if upload is not None:
            upload.save(incoming)
            filename, source_url = secure_filename(upload.filename or "") or "upload", None
        else:
            url = str(validated(MusicUrlRequest, params()).url.root)
            incoming.unlink()
            incoming = media.download(url, service.limits, folder=service.uploads.scratch)
            filename, source_url = media.filename_of(url), url
        music = service.keep_music(incoming, filename, source_url)
    finally:
        incoming.unlink(missing_ok=True)
    body = {
        "musicId": music.music_id,
        "filename": music.filename,
        "bytes": music.bytes,
        "sha1": music.sha1,
        "createdAt": music.created_at,
    }
    return jsonify(body), 201


def queue_task(task_name: str, music_id: str, request_body: dict[str, Any], callback_url: str | None) -> Response:
    """Queue a task on a stored music: 202 with its id, followed at `Location`."""
    service = current()
    if service.tasks.music(music_id) is None:
        raise ApiError(404, "unknown_music", f"no music {music_id}; upload it with POST /api/v1/music")
    if callback_url is not None:
        check_callback(callback_url)
    task = service.tasks.enqueue(task_name, music_id, request_body, callback_url)
    workers().wake()
    response = jsonify(taskId=task.task_id)
    response.status_code = 202
    response.headers["Location"] = url_for("index_api.get_task", task_id=task.task_id)
    return response


def check_callback(url: str) -> None:
    """A callback URL must pass the download address rules (422 `invalid_callback`)."""
    try:
        media.check(url, current().limits)
    except ApiError as refused:
        raise ApiError(422, "invalid_callback", f"callbackUrl: {refused.message}") from None


@index_api.post("/fingerprint/add")
@metered
def add() -> Response:
    req = validated(AddRequest, params())
    metadata = req.metadata.model_dump(exclude_none=True) if req.metadata else {}
    callback = str(req.callbackUrl.root) if req.callbackUrl else None
    return queue_task(tasks.ADD, req.musicId.root, {"metadata": metadata}, callback)


@index_api.post("/fingerprint/check")
@metered
def check() -> Response:
    req = validated(CheckRequest, params())
    return queue_task(tasks.CHECK, req.musicId.root, {}, str(req.callbackUrl.root) if req.callbackUrl else None)


@index_api.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    store = current().tasks
    task = store.get(task_id)
    if task is None:
        raise ApiError(404, "unknown_task", f"no task {task_id}")
    webhook = {"state": task.webhook, "deliveries": [asdict(d) for d in store.deliveries(task_id)]}
    return jsonify({**tasks.payload(task), "runs": task.runs, "webhook": webhook})


@index_api.get("/tracks")
def list_tracks() -> Response:
    offset, limit = _int_arg("offset", 0, 0, 10**9), _int_arg("limit", 50, 1, 500)
    filters = {name: request.args[name] for name in _FILTERS if request.args.get(name)}
    found, total = current().catalog.page(offset, limit, filters)
    return jsonify(tracks=[t.model_dump() for t in found], total=total, offset=offset, limit=limit)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    valid = text.isascii() and text.isdigit() and len(text) <= len(str(high))  # int() of 5,000 digits raises
    if not valid or not low <= int(text) <= high:
        raise ApiError(422, "invalid_request", f"{name}: an integer from {low} to {high}")
    return int(text)


def _no_track(track_id: str) -> ApiError:
    return ApiError(404, "unknown_track", f"no track {track_id}")


@index_api.get("/tracks/<track_id>")
def get_track(track_id: str) -> Response:
    track = current().catalog.get(track_id)
    if track is None:
        raise _no_track(track_id)
    return jsonify(track.model_dump())


@index_api.patch("/tracks/<track_id>")
def update_track(track_id: str) -> Response:
    changes = validated(TrackMetadata, params()).model_dump(exclude_none=True)
    updated = current().catalog.update(track_id, changes)
    if updated is None:
        raise _no_track(track_id)
    return jsonify(updated.model_dump())


@index_api.delete("/tracks/<track_id>")
def delete_track(track_id: str) -> tuple[str, int]:
    if not current().engine.remove(track_id):
        raise _no_track(track_id)
    return "", 204
