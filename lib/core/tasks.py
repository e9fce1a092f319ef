"""The background tasks, and the payload that reports them.

`add_audio_in_index` fingerprints an uploaded music and adds it to the catalog under its
music id; the same audio added twice (even concurrently) stays one track: the store's
unique audio hash decides, and the later add reports the track already there.
`check_is_same` asks whether an uploaded music duplicates a catalog track, with the
`dt` product's rule (most of the media matched, stricter score; docs/products.md).
`identify_media` is the identify API's answer for media too long to wait for: every
segment heard and a summary (lib/products/long_media.py).

The payload is the same for the webhook and for polling `GET /api/v1/tasks/<id>`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from lib.analysis import searched
from lib.core.ingest import add_track
from lib.core.service import Bill, Service
from lib.core.webhooks import checked_callback
from lib.errors import Gone, InvalidInput, NotFound, UnsupportedMedia
from lib.fingerprint import audio
from lib.products.long_media import long_media_result
from lib.products.rules import heard, qualifying, song, strongest_per_track
from lib.store import Track
from lib.store.models import InvalidTrack
from lib.store.tasks import Task

ADD = "add_audio_in_index"
CHECK = "check_is_same"
IDENTIFY = "identify_media"  # long media sent to the identify API (202 instead of waiting)


def queue(
    service: Service, task_name: str, music_id: str, request: dict[str, Any], callback_url: str | None, owner: str,
    bill: Bill | None = None,
) -> Task:  # fmt: skip
    """Queue `owner`'s task on a music `owner` stored, its webhook to go to `callback_url`,
    its media seconds to be counted to `bill` when it has run."""
    if service.tasks.music(music_id, owner) is None:
        raise NotFound("unknown_music", f"no music {music_id}; upload it with POST /api/v1/music")
    callback = checked_callback(callback_url, service.limits)
    return service.tasks.enqueue(task_name, music_id, billed(request, bill), callback, owner)


def billed(request: dict[str, Any], bill: Bill | None) -> dict[str, Any]:
    """A task's request, with whom its media seconds are counted to."""
    return request if bill is None else {**request, "bill": asdict(bill)}


def run(service: Service, task: Task) -> dict[str, Any]:
    """The task's result; raises `ClearedError` when the task fails (its code and message
    are reported). The media seconds it analysed are counted to its bill."""
    with service.uploads.local_copy(task.music_id) as path:
        if path is None:
            raise Gone("music_gone", f"the file of music {task.music_id} is no longer stored")
        result, seconds = _RUNNERS[task.task_name](service, task, path)
    bill = task.request.get("bill")
    service.bill(Bill(**bill) if bill else None, seconds)
    return result


Ran = tuple[dict[str, Any], float]  # a task's result, and the seconds of media it analysed


def _add(service: Service, task: Task, path: Path) -> Ran:
    music = service.tasks.music(task.music_id)
    metadata = {
        "title": Path(music.filename).stem if music else "",
        **task.request.get("metadata", {}),
        "track_id": task.music_id,
    }
    try:
        added = add_track(service.catalog, path, metadata, service.settings.max_index_seconds, task.owner)
    except audio.DecodeError:
        raise UnsupportedMedia("unsupported_media", "not an audio or video file that can be decoded") from None
    except InvalidTrack as error:
        raise InvalidInput("invalid_metadata", str(error)) from None
    return {
        "music_id": task.music_id, "track_id": added.track_id, "already_indexed": added.already_indexed
    }, added.seconds  # fmt: skip


def _check(service: Service, task: Task, path: Path) -> Ran:
    analysis = service.analyse_file(path, searched(task.owner, include_own=True))
    others = [f for f in analysis.found if f.track.track_id != task.music_id]  # not a match with itself
    analysis = replace(analysis, found=others)
    duplicates = strongest_per_track(qualifying(analysis, "dt"))
    best = duplicates[0].track if duplicates else None
    found = strongest_per_track(qualifying(analysis, "dn"))
    segments = [song(f, analysis, is_duplicate=f in duplicates) for f in found]
    return {
        "is_duplicate": best is not None,
        "matched_music_id": best.track_id if best else None,
        "matched_musicname": _name(best) if best else None,
        "score": duplicates[0].match.score if duplicates else None,
        **heard(analysis),
        "segments": [s.model_dump(mode="json") for s in segments],
    }, analysis.seconds


def _identify(service: Service, task: Task, path: Path) -> Ran:
    analysis = service.analyse_file(path, searched(task.owner, task.request.get("include_own", False)))
    return long_media_result(analysis, task.request["api_type"]).model_dump(mode="json"), analysis.seconds


_RUNNERS = {ADD: _add, CHECK: _check, IDENTIFY: _identify}


def _name(track: Track) -> str:
    return f"{track.artist} - {track.title}" if track.artist else track.title


def payload(task: Task) -> dict[str, Any]:
    """What the webhook receives and what polling returns, in the documented field order."""
    return {
        "task_id": task.task_id,
        "task_name": task.task_name,
        "status": task.status,
        "music_id": task.music_id,
        "result": task.result,
        "error": task.error,
        "created_at": task.created_at,
        "completed_at": task.completed_at,
    }
