"""The fingerprint-index API (`/api/v1/...`): upload music, add or check it in the
background, poll tasks, manage catalog tracks. openapi.yaml is the contract.

Views validate with the generated models, queue work in the task store and wake this
process's workers (lib/core/worker.py); they never fingerprint inside a request.

Everything here is the caller's own (docs/tenancy.md): music, tasks and tracks are read
and changed only in the caller's collection (an operator key's is the reference
catalog, or any owner's it names with `owner=`), and what is another's answers 404, the
same as what does not exist.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.utils import secure_filename

from gen.models import AddRequest, CheckRequest, MusicUrlRequest, TrackMetadata
from lib.core import identify as use_case
from lib.core import tasks
from lib.errors import InvalidInput, NotFound, UnsupportedMedia
from lib.products import FINGERPRINT
from lib.web.access import caller, metered
from lib.web.context import accepted, current
from lib.web.errors import ApiError
from lib.web.params import params, validated

index_api = Blueprint("index_api", __name__, url_prefix="/api/v1")

_FILTERS = ("title", "artist", "album", "label", "isrc")


@index_api.post("/music")
def upload_music() -> tuple[Response, int]:
    service = current()
    upload = request.files.get("file")
    if upload is not None:
        filename = secure_filename(upload.filename or "") or "upload"
        receiving = use_case.received(service, save=upload.save, filename=filename)
    else:
        receiving = use_case.received(service, url=str(validated(MusicUrlRequest, params()).url.root))
    with receiving as media:
        if media.source is not None and media.source.live:
            raise UnsupportedMedia("live_stream", "a live stream has no end to register; send a file or its URL")
        music = service.keep_music(media.path, media.filename, media.source_url, caller().collection)
    body = {
        "musicId": music.music_id,
        "filename": music.filename,
        "bytes": music.bytes,
        "sha1": music.sha1,
        "createdAt": music.created_at,
    }
    return jsonify(body), 201


def _queue(task_name: str, music_id: str, request_body: dict[str, Any], callback_url: str | None) -> Response:
    who = caller()
    return accepted(
        tasks.queue(current(), task_name, music_id, request_body, callback_url, who.collection, who.bill(FINGERPRINT))
    )


@index_api.post("/fingerprint/add")
@metered
def add() -> Response:
    req = validated(AddRequest, params())
    metadata = req.metadata.model_dump(exclude_none=True) if req.metadata else {}
    callback = str(req.callbackUrl.root) if req.callbackUrl else None
    return _queue(tasks.ADD, req.musicId.root, {"metadata": metadata}, callback)


@index_api.post("/fingerprint/check")
@metered
def check() -> Response:
    req = validated(CheckRequest, params())
    return _queue(tasks.CHECK, req.musicId.root, {}, str(req.callbackUrl.root) if req.callbackUrl else None)


@index_api.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    store = current().tasks
    task = store.get(task_id, caller().collection)
    if task is None:
        raise NotFound("unknown_task", f"no task {task_id}")
    webhook = {"state": task.webhook, "deliveries": [asdict(d) for d in store.deliveries(task_id)]}
    return jsonify({**tasks.payload(task), "runs": task.runs, "webhook": webhook})


@index_api.get("/tracks")
def list_tracks() -> Response:
    offset, limit = _int_arg("offset", 0, 0, 10**9), _int_arg("limit", 50, 1, 500)
    filters = {name: request.args[name] for name in _FILTERS if request.args.get(name)}
    found, total = current().catalog.page(offset, limit, filters, _collection())
    return jsonify(tracks=[t.as_dict() for t in found], total=total, offset=offset, limit=limit)


def _collection() -> str:
    """The collection a tracks call acts on: the caller's, or the one an operator names."""
    named = request.args.get("owner")
    if named is None:
        return caller().collection
    if not caller().operator:
        raise ApiError(403, "operator_only", "only an operator key can name an owner; leave `owner` out")
    return named


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    valid = text.isascii() and text.isdigit() and len(text) <= len(str(high))  # int() of 5,000 digits raises
    if not valid or not low <= int(text) <= high:
        raise InvalidInput("invalid_request", f"{name}: an integer from {low} to {high}")
    return int(text)


def _no_track(track_id: str) -> NotFound:
    return NotFound("unknown_track", f"no track {track_id}")


@index_api.get("/tracks/<track_id>")
def get_track(track_id: str) -> Response:
    track = current().catalog.get(track_id, _collection())
    if track is None:
        raise _no_track(track_id)
    return jsonify(track.as_dict())


@index_api.patch("/tracks/<track_id>")
def update_track(track_id: str) -> Response:
    changes = validated(TrackMetadata, params()).model_dump(exclude_none=True)
    updated = current().catalog.update(track_id, changes, _collection())
    if updated is None:
        raise _no_track(track_id)
    return jsonify(updated.as_dict())


@index_api.delete("/tracks/<track_id>")
def delete_track(track_id: str) -> tuple[str, int]:
    if not current().catalog.remove(track_id, _collection()):
        raise _no_track(track_id)
    return "", 204
