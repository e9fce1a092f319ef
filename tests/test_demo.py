"""The demo page's server side (lib/web/demo.py, lib/core/covers.py, lib/core/waveform.py): the same answer
as the API, a waveform of the real samples, covers from reference files' tags, and the
demo's own limits. The page itself, in a real browser: tests/test_demo_browser.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from flask import Flask
from mutagen.id3 import APIC, ID3
from mutagen.mp4 import MP4, MP4Cover

from lib.core.covers import MAX_BYTES, embedded_art
from lib.core.waveform import Envelope
from lib.settings import Settings
from lib.synth.songs import RATE, cover_png, demo_song, song
from lib.web.app import create_app
from tests.support.audio import encode
from tests.support.media_server import serve
from tests.support.stores import private_copy

HTML_REF = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
def make_app(catalog_path: Path, tmp_path: Path) -> Callable[..., Flask]:
    db = private_copy(catalog_path, tmp_path)

    def make(**overrides: Any) -> Flask:
        values: dict[str, Any] = {"db": db, "storage": str(tmp_path / "up"), "task_workers": 0, "auth": "keys"}
        return create_app(Settings(**{**values, **overrides}))

    return make


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of DEMO03 (art in its tags), 6 s of music not in the catalog, 10 s of DEMO04 (none)."""
    parts = [demo_song(2, 24.0)[4 * RATE : 14 * RATE], song(31337, 6.0), demo_song(3, 24.0)[2 * RATE : 12 * RATE]]
    path = tmp_path_factory.mktemp("demo-mix") / "mix.flac"
    soundfile.write(path, np.concatenate(parts).astype(np.float32), RATE)
    return path


def post(app: Flask, url: str, path: Path, headers: dict[str, str] | None = None) -> Any:
    with path.open("rb") as file:
        return app.test_client().post(url, data={"file": (file, path.name)}, headers=headers or {})


def test_the_page_is_served_without_a_key_and_fetches_nothing_from_elsewhere(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    page = client.get("/demo")
    assert page.status_code == 200 and "text/html" in page.content_type
    html = page.get_data(as_text=True)
    assert all(f'value="{api_type}"' in html for api_type in ("yt", "neyt", "ml", "mlsi", "dn", "dt"))
    references = HTML_REF.findall(html)
    assert references and all(ref.startswith(("/", "data:")) for ref in references)
    for asset in ("/demo/static/demo.js", "/demo/static/demo.css"):
        served = client.get(asset)
        assert served.status_code == 200
        text = served.get_data(as_text=True).replace("http://www.w3.org/2000/svg", "")  # a namespace, not a fetch
        assert "http://" not in text and "https://" not in text


def test_the_demo_answers_what_the_api_answers_plus_the_waveform_and_covers(
    make_app: Callable[..., Flask], mix: Path
) -> None:
    app = make_app()
    key, _ = app.extensions["cleared"].keys.create("demo-test", ["dn"], None, "100/minute", None)
    demo = post(app, "/demo/identify/dn", mix)
    api = post(app, "/v1/identify/dn", mix, {"X-API-Key": key})
    assert demo.status_code == api.status_code == 200
    assert demo.json["response"] == api.json
    songs = api.json["result"][0]["songs"]
    assert {s["track_id"] for s in songs} == {"DEMO03", "DEMO04"}
    waveform = demo.json["waveform"]
    assert waveform["seconds"] == pytest.approx(26.0, abs=0.05) and len(waveform["peaks"]) == 600
    assert max(waveform["peaks"]) == 1.0 and min(waveform["peaks"]) >= 0.0
    assert demo.json["covers"] == {"DEMO03": "/demo/covers/DEMO03", "DEMO04": None}  # DEMO04's file has no art
    art = app.test_client().get("/demo/covers/DEMO03")
    assert art.status_code == 200 and art.content_type == "image/png" and art.data == cover_png(2)
    assert art.headers["X-Content-Type-Options"] == "nosniff"
    assert app.test_client().get("/demo/covers/DEMO04").status_code == 404


def test_demo_calls_are_limited_per_address_and_never_metered(make_app: Callable[..., Flask], mix: Path) -> None:
    app = make_app(demo_rate="2/hour")
    codes = [post(app, "/demo/identify/dn", mix).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = post(app, "/demo/identify/dn", mix)
    assert refused.json["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    assert app.extensions["cleared"].keys.usage() == []  # no month of anyone's quota was touched


def test_bad_input_gets_the_apis_errors(make_app: Callable[..., Flask], mix: Path, media: dict[str, Path]) -> None:
    app = make_app(demo_max_upload_bytes=100_000)
    too_large = post(app, "/demo/identify/dn", mix)
    assert too_large.status_code == 413 and too_large.json["error"]["code"] == "too_large"
    not_audio = post(app, "/demo/identify/dn", media["text"])
    assert not_audio.status_code == 415 and not_audio.json["error"]["code"] == "unsupported_media"
    loopback = app.test_client().post("/demo/identify/dn", data={"url": "http://127.0.0.1:9/song.mp3"})
    assert loopback.status_code == 422 and loopback.json["error"]["code"] == "url_not_allowed"
    unknown = app.test_client().post("/demo/identify/nope", data={"url": "https://example.com/a.mp3"})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_api_type"


def test_the_demo_takes_a_page_link(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """A page URL (here a local one whose og:audio is an excerpt of DEMO01) is identified by its media."""
    encode(tmp_path / "song.mp3", demo_song(0, 24.0)[5 * RATE : 15 * RATE], RATE, "mp3")
    app = make_app(allow_private_urls=True)
    with serve(tmp_path) as base:
        answer = app.test_client().post("/demo/identify/dn", data={"url": f"{base}/watch/song.mp3"})
    assert answer.status_code == 200, answer.json
    [result] = answer.json["response"]["result"]
    assert [s["track_id"] for s in result["songs"]] == ["DEMO01"]
    assert result["source"]["media_url"] == f"{base}/files/song.mp3" and result["source"]["title"]


def test_the_demo_can_be_switched_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(demo=False).test_client()
    assert client.get("/demo").status_code == 404
    assert client.post("/demo/identify/dn").status_code == 404


def test_the_waveform_follows_the_samples_level_in_time() -> None:
    envelope = Envelope(8000)
    loud, quiet = np.full(8000 * 2, 0.8, np.float32), np.full(8000 * 2, 0.2, np.float32)
    for chunk in np.array_split(np.concatenate([loud, quiet, np.zeros(8000, np.float32)]), 13):  # odd chunk sizes
        envelope.add(chunk)
    peaks = envelope.peaks(10)
    assert envelope.seconds == 5.0 and len(peaks) == 10
    assert peaks[:4] == [1.0] * 4 and peaks[4:8] == [0.25] * 4 and peaks[8:] == [0.0, 0.0]


@pytest.fixture(scope="module")
def art_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real files of three containers, each with cover art in its own tag format."""
    folder = tmp_path_factory.mktemp("art")
    samples = song(5, 3.0)
    mp3, m4a = encode(folder / "a.mp3", samples, RATE, "mp3"), encode(folder / "a.m4a", samples, RATE, "aac")
    tags = ID3()
    tags.add(APIC(mime="image/png", type=0, desc="other", data=cover_png(1)))
    tags.add(APIC(mime="image/png", type=3, desc="front", data=cover_png(2)))  # the front cover wins
    tags.save(mp3)
    mp4 = MP4(m4a)
    mp4["covr"] = [MP4Cover(cover_png(3), imageformat=MP4Cover.FORMAT_PNG)]
    mp4.save()
    svg = encode(folder / "svg.mp3", samples, RATE, "mp3")
    tags = ID3()
    tags.add(APIC(mime="image/svg+xml", type=3, desc="front", data=b"<svg onload='alert(1)'/>"))
    tags.add(APIC(mime="image/jpeg", type=4, desc="back", data=b"\xff\xd8" + bytes(MAX_BYTES)))
    tags.save(svg)
    return {"mp3": mp3, "m4a": m4a, "svg": svg, "none": encode(folder / "none.flac", samples, RATE, "flac")}


def test_cover_art_is_read_from_each_containers_tags(art_files: dict[str, Path], demo_folder: Path) -> None:
    assert embedded_art(art_files["mp3"]) == ("image/png", cover_png(2))
    assert embedded_art(art_files["m4a"]) == ("image/png", cover_png(3))
    assert embedded_art(demo_folder / "demo01.flac") == ("image/png", cover_png(0))
    assert embedded_art(art_files["none"]) is None
    assert embedded_art(art_files["svg"]) is None  # SVG can carry script; the JPEG is over the size limit
    assert embedded_art(demo_folder / "catalog.csv") is None
