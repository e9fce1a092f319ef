"""The demo page (`/demo`): a prospective customer uploads a song or pastes a URL, picks a
product, and sees what the API answers, with the matched regions drawn where they are.

The page is static HTML, CSS and JavaScript served from `lib/web/templates` and
`lib/web/static` (no build step, no CDN). It calls `POST /demo/identify/<api_type>`, which
runs the identify API's own pipeline (the same download rules, decode, scan and product)
and answers with the API's exact response plus what only the page needs: the waveform of
the submitted audio, drawn from the samples the engine scanned, and each song's cover.
Anyone may call it without a key (`@demo`: `CLEARED_DEMO_RATE` per address, unmetered),
so it takes smaller uploads and analyses at most `CLEARED_DEMO_MAX_SECONDS` of media,
always while the client waits.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Blueprint, Response, render_template, request

from gen.models import IdentifyRequest, IdentifyResponse, Status
from lib.core import identify as use_case
from lib.core.service import Service
from lib.core.waveform import Envelope
from lib.errors import NotFound
from lib.products import checked
from lib.products.routes import ROUTES
from lib.web import request_log
from lib.web.access import demo, public
from lib.web.context import current
from lib.web.params import params, validated

demo_page = Blueprint("demo", __name__, static_folder="static", static_url_path="/demo/static")
WAVEFORM_BARS = 600


def products() -> list[dict[str, str]]:
    """Each product's name and question, from its module's docstring ("`yt` — name: question?")."""
    found = []
    for api_type, process in ROUTES.items():
        summary = (sys.modules[process.__module__].__doc__ or "").split("\n", 1)[0]
        name, _, question = summary.partition(" — ")[2].partition(": ")
        found.append({"api_type": api_type, "name": _upper_first(name), "question": _upper_first(question)})
    return found


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


@demo_page.get("/demo")
@public
def page() -> str:
    settings = current().settings
    return render_template(
        "demo.html",
        products=products(),
        max_upload_bytes=settings.demo_max_upload_bytes,
        max_seconds=settings.demo_max_seconds,
    )


@demo_page.post("/demo/identify/<api_type>")
@demo
def identify(api_type: str) -> dict[str, Any]:
    checked(api_type)
    service = current()
    request.max_content_length = service.settings.demo_max_upload_bytes  # 413 before the body is read
    request_log.note(api_type=api_type)
    upload = request.files.get("file")
    if upload is not None:
        receiving = use_case.received(service, save=upload.save)
    else:
        receiving = use_case.received(
            service, url=str(validated(IdentifyRequest, {**params(), "api_type": api_type}).url.root)
        )
    envelope = Envelope(service.recognizer.config.sample_rate)
    with receiving as media:
        result, analysis = use_case.preview(service, api_type, media, service.settings.demo_max_seconds, envelope.add)
    request_log.note(matches=len(result.songs))
    return {
        "response": IdentifyResponse(status=Status.success, result=[result]).model_dump(mode="json"),
        "waveform": {"seconds": analysis.seconds, "peaks": envelope.peaks(WAVEFORM_BARS)},
        "covers": _covers(service, {song.track_id: song.cover_url for song in result.songs}),
    }


def _covers(service: Service, cover_urls: dict[str, str]) -> dict[str, str | None]:
    """Per track: its cover_url, else the art kept from its reference file's tags, else None."""
    embedded = service.catalog.with_cover(list(cover_urls))
    return {
        track_id: url if url.startswith(("https://", "http://")) else
        f"/demo/covers/{track_id}" if track_id in embedded else None
        for track_id, url in cover_urls.items()
    }  # fmt: skip


@demo_page.get("/demo/covers/<track_id>")
@public
def cover(track_id: str) -> Response:
    found = current().catalog.cover(track_id)
    if found is None:
        raise NotFound("no_cover", f"track {track_id!r} has no embedded art")
    response = Response(found.data, mimetype=found.mime)
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
