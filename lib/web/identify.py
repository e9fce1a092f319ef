"""The identify API: the original interface (`/?api_type=&url=`) and `/v1/identify/<api_type>`,
which also takes an upload. Views parse and validate, call the use case
(lib/core/identify.py) and render its answer: the product's result, or a 202 and a task."""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from gen.models import IdentifyRequest, IdentifyResponse, Status, UploadOptions
from lib.core import identify as use_case
from lib.core.webhooks import checked_callback
from lib.products import checked
from lib.store.tasks import Task
from lib.web import request_log
from lib.web.access import caller, metered
from lib.web.context import accepted, current
from lib.web.params import params, validated

identify = Blueprint("identify", __name__)


def _from_url(req: IdentifyRequest) -> Response:
    api_type = req.api_type.value
    request_log.note(api_type=api_type)
    service = current()
    callback = checked_callback(str(req.callbackUrl.root) if req.callbackUrl else None, service.limits)
    with use_case.received(service, url=str(req.url.root), live_seconds=req.live_seconds) as media:
        return _answer(api_type, media, callback, bool(req.include_own))


def _from_upload(api_type: str, upload: FileStorage) -> Response:
    request_log.note(api_type=api_type)
    service = current()
    options = validated(UploadOptions, params())
    callback = checked_callback(str(options.callbackUrl.root) if options.callbackUrl else None, service.limits)
    filename = secure_filename(upload.filename or "") or "upload"
    with use_case.received(service, save=upload.save, filename=filename) as media:
        return _answer(api_type, media, callback, bool(options.include_own))


def _answer(api_type: str, media: use_case.Received, callback: str | None, include_own: bool) -> Response:
    """The use case's answer for this caller (its collection, its bill), rendered."""
    who = caller()
    bill = who.bill(api_type)
    answer = use_case.identify(current(), api_type, media, callback, who.collection, include_own, bill)
    if isinstance(answer, Task):
        return accepted(answer)
    request_log.note(matches=len(answer.songs), media_seconds=round(answer.analysed_seconds, 1))
    body = IdentifyResponse(status=Status.success, result=[answer])
    return Response(body.model_dump_json(), mimetype="application/json")


@identify.route("/", methods=["GET", "POST"])
@metered
def legacy() -> Response:
    """The original interface: `api_type` and `url` as parameters."""
    return _from_url(validated(IdentifyRequest, params()))


@identify.route("/v1/identify/<api_type>", methods=["GET", "POST"])
@metered
def identify_by_path(api_type: str) -> Response:
    checked(api_type)
    upload = request.files.get("file") if request.method == "POST" else None
    if upload is not None:
        return _from_upload(api_type, upload)
    return _from_url(validated(IdentifyRequest, {**params(), "api_type": api_type}))
