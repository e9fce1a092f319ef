"""Stream monitoring (`/api/v1/streams`): watch a live stream, be told by webhook each
time a catalog song starts playing in it (lib/core/streams.py). A caller sees and deletes
only its own streams; another's answer 404."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify, url_for

from gen.models import StreamRequest
from lib.core.media import check
from lib.core.webhooks import checked_callback
from lib.errors import Conflict, InvalidInput, NotFound, UpstreamFailed
from lib.products import STREAMS
from lib.store.streams import Stream
from lib.web.access import caller
from lib.web.context import current, workers
from lib.web.params import params, validated

streams = Blueprint("streams", __name__, url_prefix="/api/v1")


@streams.post("/streams")
def watch() -> tuple[Response, int]:
    req = validated(StreamRequest, params())
    service, who = current(), caller()
    url = str(req.url.root)
    try:
        check(url, service.limits)  # refused now, not by the worker later
    except InvalidInput as refused:
        raise InvalidInput(refused.code, f"url: {refused.message}") from None
    except UpstreamFailed:
        pass  # a name that does not resolve now may later: the worker retries, and reports it
    callback = checked_callback(str(req.callbackUrl.root), service.limits)
    assert callback is not None
    bill = who.bill(STREAMS)
    stream = service.streams.create(
        who.collection, url, callback, req.name or "", bool(req.include_own), asdict(bill) if bill else None,
        who.max_streams,
    )  # fmt: skip
    if stream is None:
        raise Conflict("stream_limit", f"this key watches {who.max_streams} streams already; delete one first")
    workers().wake()
    response = jsonify(stream.public())
    response.headers["Location"] = url_for("streams.one", stream_id=stream.stream_id)
    return response, 201


@streams.get("/streams")
def listed() -> Response:
    return jsonify(streams=[s.public() for s in current().streams.owned(caller().collection)])


def _own(stream_id: str) -> Stream:
    found = current().streams.get(stream_id, caller().collection)
    if found is None:
        raise NotFound("unknown_stream", f"no stream {stream_id}")
    return found


@streams.get("/streams/<stream_id>")
def one(stream_id: str) -> Response:
    return jsonify(_own(stream_id).public())


@streams.delete("/streams/<stream_id>")
def stop(stream_id: str) -> tuple[str, int]:
    if not current().streams.delete(_own(stream_id).stream_id, caller().collection):
        raise NotFound("unknown_stream", f"no stream {stream_id}")
    return "", 204
